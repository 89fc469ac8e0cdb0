"""A synthetic collection at scale: catalogue rows plus clustered unit vectors, no decoding.

For measuring search, labelling and evaluation at 100k to 1M images on one machine.
Vectors are drawn around ``clusters`` random unit centres (clustered like real CLIP
embeddings, not uniform noise, which would flatter nothing); each image's ground-truth
class is its cluster's class. Many images share a few real thumbnails (content hashes),
so the app can draw grids. Nothing here is a model output: the vectors are synthetic.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

CHUNK = 50_000
DEFAULT_CLUSTERS = 1000
# Per-image offset from its cluster centre, as a norm: cos(image, centre) ~ 0.8.
NOISE = 0.75

ProgressFn = Callable[[int, int], None]


def cluster_centres(clusters: int, dim: int, seed: int = 0) -> np.ndarray:
    """(clusters, dim) float32 random unit vectors."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((clusters, dim)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def clustered_vectors(
    n: int, dim: int, *, clusters: int = DEFAULT_CLUSTERS, seed: int = 0, chunk: int = CHUNK, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (vectors (m, dim) float32 unit rows, cluster (m,) int64) in chunks, ``n`` rows in all.

    Deterministic for (seed, start): chunk c of a run uses its own generator.
    """
    if n < 0 or dim < 2 or clusters < 1:
        raise InputError(f"need n >= 0, dim >= 2, clusters >= 1; got n={n}, dim={dim}, clusters={clusters}.")
    centres = cluster_centres(clusters, dim, seed)
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        rng = np.random.default_rng([seed, start + lo])
        which = rng.integers(0, clusters, m)
        v = centres[which] + rng.standard_normal((m, dim)).astype(np.float32) * (NOISE / np.sqrt(dim))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield v.astype(np.float32), which.astype(np.int64)


def _thumbnails(ws: Workspace, count: int) -> list[str]:
    """Write ``count`` small distinct JPEG thumbnails; return their content hashes."""
    from PIL import Image

    hashes = []
    rng = np.random.default_rng(7)
    for i in range(count):
        base = rng.integers(40, 215, 3)
        px = np.clip(base + rng.normal(0, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(px).save(buf, "JPEG", quality=80)
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        ws.write_thumbnail(digest, data)
        hashes.append(digest)
    return hashes


def make_scale_workspace(
    root: str | Path,
    n: int,
    *,
    key: str,
    dim: int,
    clusters: int = DEFAULT_CLUSTERS,
    classes: int = 10,
    thumbnails: int = 64,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> Workspace:
    """Add ``n`` synthetic images (catalogue rows, ground truth, ``key`` embeddings) to a workspace.

    Images are ``synthetic/<id>.jpg`` under a source folder that holds no files (use the
    thumbnails); class of image = ``class-<cluster % classes>``. Appends when called again.
    Returns:
        The workspace.
    """
    if n < 1:
        raise InputError(f"n must be at least 1; got {n}.")
    ws = Workspace(root)
    source_dir = Path(ws.root) / "synthetic-source"
    source_dir.mkdir(exist_ok=True)
    source_id = ws.source_id(source_dir)
    hashes = _thumbnails(ws, thumbnails)
    first = int(ws.connect().execute("SELECT COALESCE(MAX(id), 0) FROM images").fetchone()[0]) + 1
    done = 0
    with ws.embedding_writer(key, dim) as writer:
        for vectors, cluster in clustered_vectors(n, dim, clusters=clusters, seed=seed, start=first):
            ids = np.arange(first + done, first + done + len(vectors), dtype=np.int64)
            ws.insert_unread_images(source_id, [(int(i), f"synthetic/{int(i)}.jpg", hashes[int(i) % len(hashes)]) for i in ids])
            ws.set_ground_truth({int(i): f"class-{int(c) % classes}" for i, c in zip(ids, cluster)}, origin="synthetic")
            writer.append(ids.tolist(), vectors)
            done += len(vectors)
            if progress:
                progress(done, n)
    logger.info("added %d synthetic images (%s, dim %d) to %s", n, key, dim, ws.root)
    return ws
