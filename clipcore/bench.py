"""Throughput benchmark: image files on disk to stored embeddings, and the model alone.

Weights are random (timing does not depend on them), so it runs offline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from clipcore.embedding.decoders import PillowDecoder
from clipcore.embedding.pipeline import embed_workspace
from clipcore.embedding.plan import PlanItem
from clipcore.errors import InputError
from clipcore.catalog.ingest import ingest_folder, scan_folder
from clipcore.embedding.models import load_model
from clipcore.catalog.store import Workspace


def run_benchmark(
    images: str | Path,
    *,
    model: str = "ViT-B-32",
    device: str = "auto",
    precision: str = "auto",
    limit: int = 500,
    batch_size: int = 64,
    decoder: str = "auto",
) -> dict:
    """Measure embedding throughput on up to ``limit`` images of a folder.

    Returns:
        {images_per_s_end_to_end, images_per_s_model_only, ingest_images_per_s, images,
        device, precision, model, weights, batch_size, decoder, stages}; ``stages`` holds
        the end-to-end run's seconds per stage: read and decode summed over decoder
        threads, model and write on the main thread, wait = the model waiting for decoders.
    Raises:
        InputError: the folder holds no images.
    """
    root = Path(images)
    if not root.is_dir():
        raise InputError(f"--images {str(root)!r} is not a folder.")
    files = [f for f in scan_folder(root) if not isinstance(f, dict)][:limit]
    if not files:
        raise InputError(f"no files under {str(root)!r} to benchmark.")
    clip = load_model(model, None, device=device, precision=precision)
    with tempfile.TemporaryDirectory(prefix="clipcore-bench-") as tmp:
        subset = Path(tmp) / "images"
        subset.mkdir()
        for i, f in enumerate(files):
            target = subset / f"{i:06d}{f.path.suffix}"
            try:
                os.link(f.path, target)
            except OSError:
                shutil.copyfile(f.path, target)
        ws = Workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        ingested = ingest_folder(ws, subset)
        ingest_s = time.perf_counter() - t0
        # Warm the model (first calls allocate and pick kernels).
        warm = np.zeros((min(batch_size, 8), clip.image_size, clip.image_size, 3), np.uint8)
        clip.encode_pixels(warm)
        report = embed_workspace(ws, clip, batch_size=batch_size, decoder=decoder)
        plan = [PlanItem(r.id, str(r.abs_path), r.content_hash) for r in ws.images()]
        batches = [b.pixels for b in PillowDecoder.for_model(clip).batches(plan, batch_size)]
        t0 = time.perf_counter()
        n = 0
        for px in batches:
            clip.encode_pixels(px)
            n += len(px)
        model_s = time.perf_counter() - t0
        ws.close()
    return {
        "images_per_s_end_to_end": round(report.images_per_s, 2),
        "images_per_s_model_only": round(n / model_s, 2) if model_s > 0 else 0.0,
        "ingest_images_per_s": round(ingested.added / ingest_s, 2) if ingest_s > 0 else 0.0,
        "images": report.embedded,
        "device": clip.info.device,
        "precision": clip.info.precision,
        "model": model,
        "weights": "random",
        "batch_size": batch_size,
        "decoder": report.decoder,
        "stages": report.stages,
    }
