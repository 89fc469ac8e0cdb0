"""Embedding a workspace: plan -> decode -> encode -> write, incremental and resumable.

    plan    ids lacking this model's embedding, with where their bytes are (``plan``)
    decode  files -> model-ready uint8 batches, in threads (``decoders``)
    encode  the model, on the main thread, one batch at a time (``models.ClipModel``)
    write   append + commit to the local embedding set (``writers``), or shards (``shards``)

Each committed batch survives a crash; a restarted run plans only what is missing. The
same stages run on a Ray cluster in ``ray_engine``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.embedding.decoders import PillowDecoder, StageTimes
from clipcore.embedding.models import ClipModel
from clipcore.embedding.plan import PlanItem, plan_embedding
from clipcore.embedding.preprocess import Preprocess
from clipcore.embedding.writers import open_set_writer
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
DEFAULT_BATCH_SIZE = 64
DECODERS = ("auto", "pillow", "gpu")


@dataclass
class EmbedReport:
    """What one embedding run did; ``stages`` holds seconds per stage (see ``StageTimes``)."""

    model: str
    pretrained: str | None
    embedded: int
    failed: list[dict]
    seconds: float
    stages: dict = field(default_factory=dict)
    engine: str = "local"
    decoder: str = "pillow"

    @property
    def images_per_s(self) -> float:
        """Throughput of this run, files to stored vectors."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "model": self.model,
            "pretrained": self.pretrained,
            "engine": self.engine,
            "decoder": self.decoder,
            "embedded": self.embedded,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            "stages": self.stages,
        }


def make_decoder(model: ClipModel, kind: str = "auto", *, workers: int | None = None, draft: bool = True):
    """The decode stage for ``model``: ``pillow``, ``gpu`` (batched nvJPEG), or ``auto`` (gpu on CUDA).

    ``auto`` takes Pillow where the GPU decoder cannot reproduce the model's preprocessing
    (a resize mode other than shortest-side, or ``draft=False``: exactly open_clip's pixels).

    Raises:
        InputError: unknown kind, or ``gpu`` asked for where it cannot run.
    """
    if kind not in DECODERS:
        raise InputError(f"unknown decoder {kind!r}; use one of {', '.join(DECODERS)}.")
    from clipcore.embedding.tensor_decoder import tensor_decoder_supports

    gpu_ok = draft and tensor_decoder_supports(model.preprocess)
    if kind == "gpu" and not gpu_ok:
        raise InputError(
            f"--decoder gpu resizes shortest-side only and not bit-exact; this model's preprocessing is "
            f"{model.preprocess.describe()}{'' if draft else ' without draft'}. Use --decoder pillow or auto."
        )
    if kind == "gpu" or (kind == "auto" and model.info.device == "cuda" and gpu_ok):
        from clipcore.embedding.tensor_decoder import TensorDecoder

        return TensorDecoder.for_model(model, workers=workers, require_cuda=(kind == "gpu"))
    return PillowDecoder.for_model(model, workers=workers, draft=draft)


def embed_workspace(
    ws: Workspace,
    model: ClipModel,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    decoder: str = "auto",
    rebuild: bool = False,
    draft: bool = True,
) -> EmbedReport:
    """Embed every live image that lacks an embedding for this model.

    Args:
        batch_size: images per model call and per committed batch.
        limit: embed at most this many (for trials).
        progress: called as ``progress(done, total)`` after each batch.
        decoder: ``pillow`` | ``gpu`` | ``auto`` (see ``make_decoder``).
        rebuild: drop this model's stored vectors first and recompute them all.
        draft: fast decoding within a measured tolerance of open_clip's pixels
            (``clipcore.embedding.preprocess``); False for exactly open_clip's preprocessing.
    Raises:
        WorkspaceError: another process is embedding the same model into this workspace;
            the stored vectors file does not match the catalog (rerun with ``rebuild``).
    """
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1; got {batch_size}.")
    started = time.perf_counter()
    key = model.info.key
    source = make_decoder(model, decoder, workers=workers, draft=draft)
    times: StageTimes = source.times
    done = 0
    failed: list[dict] = []
    with open_set_writer(ws, key, model.info.embed_dim, rebuild=rebuild) as writer:
        # plan (inside the writer's lock, so that after a rebuild it holds every live image)
        plan = plan_embedding(ws, key, limit=limit)
        if progress:
            progress(0, len(plan))
        for batch in source.batches(plan, batch_size):  # decode, in threads
            t0 = time.perf_counter()
            vectors = model.encode_pixels(batch.pixels) if batch.ids else None  # encode
            t1 = time.perf_counter()
            writer.write(batch, vectors)  # write: fsync, then commit
            times.model += t1 - t0
            times.write += time.perf_counter() - t1
            failed.extend(batch.failed)
            done += len(batch.ids) + len(batch.failed)
            if progress:
                progress(done, len(plan))
    seconds = time.perf_counter() - started
    rel_paths = {item.image_id: item.rel_path for item in plan}
    for f in failed:
        f["path"] = rel_paths.get(f["id"])
    if failed:
        logger.warning("%d images could not be read for embedding (moved or changed since ingest)", len(failed))
    logger.info("embedded %d images with %s in %.1fs", done - len(failed), key, seconds)
    return EmbedReport(
        model=model.info.name,
        pretrained=model.info.checkpoint or model.info.pretrained,
        embedded=done - len(failed),
        failed=failed,
        seconds=seconds,
        stages=times.to_dict(),
        decoder=source.name,
    )


def iter_pixel_batches(
    items: Iterable[tuple[int, Path]],
    size: int | Preprocess,
    batch_size: int,
    workers: int | None = None,
    *,
    draft: bool = True,
) -> Iterator[tuple[list[int], np.ndarray, list[dict]]]:
    """Decode ``(id, path)`` items in threads into model-ready batches.

    Args:
        size: a model's transform (``ClipModel.preprocess``), or a side in pixels for
            open_clip's default transform (shortest side, bicubic, centre crop), for callers
            that need a size other than a CLIP model's (the baseline trainer).
        draft: JPEG draft decoding and two-step shrinking (fast); False gives exactly
            open_clip's pixels.
    Yields:
        (ids, pixels (n, S, S, 3) uint8, failures [{"id", "reason"}]) per batch.
    """
    import functools

    pp = size if isinstance(size, Preprocess) else Preprocess(int(size))
    decoder = PillowDecoder(functools.partial(Preprocess.apply, pp, draft=draft), pp.size, workers=workers, draft=draft)
    plan = (PlanItem(int(i), str(p), "") for i, p in items)
    for batch in decoder.batches(plan, batch_size):
        yield batch.ids, batch.pixels, batch.failed
