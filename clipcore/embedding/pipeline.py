"""Embedding a workspace: incremental, batched, decode overlapped with inference, resumable.

reader (ids lacking this model's embedding) -> decoder threads (open, draft-decode,
resize, crop) -> model (main thread, one batch at a time) -> writer (append + commit).
Each committed batch survives a crash; a restarted run embeds only what is missing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from clipcore.errors import InputError, UnsafePathError
from clipcore.catalog.images import ImageRejected, open_rgb, prepare_for_model
from clipcore.embedding.models import ClipModel
from clipcore.parallel import imap_ordered
from clipcore.catalog.store import ImageRecord, Workspace

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
DEFAULT_BATCH_SIZE = 64


@dataclass
class EmbedReport:
    """What one embedding run did."""

    model: str
    pretrained: str | None
    embedded: int
    failed: list[dict]
    seconds: float

    @property
    def images_per_s(self) -> float:
        """Throughput of this run, files to stored vectors."""
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "model": self.model,
            "pretrained": self.pretrained,
            "embedded": self.embedded,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
        }


def _decoder(size: int) -> Callable[[tuple[int, Path | ImageRecord]], tuple[int, np.ndarray | None, str | None]]:
    def decode(item: tuple[int, Path | ImageRecord]) -> tuple[int, np.ndarray | None, str | None]:
        image_id, path = item
        try:
            # A catalogued original is re-checked against its source root right before
            # it is read: a file swapped for a link after ingest is refused.
            if isinstance(path, ImageRecord):
                path = path.real_path()
            img = open_rgb(path, draft_to=size).image
            return image_id, prepare_for_model(img, size), None
        except ImageRejected as exc:
            return image_id, None, exc.reason
        except UnsafePathError as exc:
            return image_id, None, str(exc)
        except OSError as exc:
            return image_id, None, f"cannot read: {exc.strerror or exc}"

    return decode


def iter_pixel_batches(
    items: Iterable[tuple[int, Path | ImageRecord]], size: int, batch_size: int, workers: int | None = None
) -> Iterator[tuple[list[int], np.ndarray, list[dict]]]:
    """Decode files in threads and group them into model-ready batches. An item's
    ``ImageRecord`` is read through :meth:`ImageRecord.real_path` (symlink-escape check).

    Yields:
        (ids, pixels (n, size, size, 3) uint8, failures [{"id", "reason"}]) per batch.
    """
    ids: list[int] = []
    pixels: list[np.ndarray] = []
    failed: list[dict] = []
    for image_id, arr, reason in imap_ordered(_decoder(size), items, workers=workers, prefetch=batch_size * 2):
        if arr is None:
            failed.append({"id": image_id, "reason": reason})
        else:
            ids.append(image_id)
            pixels.append(arr)
        if len(ids) >= batch_size:
            yield ids, np.stack(pixels), failed
            ids, pixels, failed = [], [], []
    if ids or failed:
        yield ids, (np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)), failed


def embed_workspace(
    ws: Workspace,
    model: ClipModel,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> EmbedReport:
    """Embed every catalogued image that lacks an embedding for this model.

    Args:
        batch_size: images per model call and per committed batch.
        limit: embed at most this many (for trials).
        progress: called as ``progress(done, total)`` after each batch.
    Raises:
        WorkspaceError: another process is embedding the same model into this workspace.
    """
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1; got {batch_size}.")
    key = model.info.key
    todo = ws.missing_embeddings(key)
    if limit is not None:
        todo = todo[:limit]
    records = {r.id: r for r in ws.images(todo)} if todo else {}
    started = time.perf_counter()
    done = 0
    failed: list[dict] = []
    if progress:
        progress(0, len(todo))
    with ws.embedding_writer(key, model.info.embed_dim) as writer:
        items = ((i, records[i]) for i in todo)
        for ids, pixels, bad in iter_pixel_batches(items, model.image_size, batch_size, workers):
            if ids:
                writer.append(ids, model.encode_pixels(pixels))
            for b in bad:
                b["path"] = records[b["id"]].path
            failed.extend(bad)
            done += len(ids) + len(bad)
            if progress:
                progress(done, len(todo))
    seconds = time.perf_counter() - started
    embedded = done - len(failed)
    if failed:
        logger.warning("%d images could not be read for embedding (moved or changed since ingest)", len(failed))
    logger.info("embedded %d images with %s in %.1fs", embedded, key, seconds)
    return EmbedReport(
        model=model.info.name,
        pretrained=model.info.checkpoint or model.info.pretrained,
        embedded=embedded,
        failed=failed,
        seconds=seconds,
    )
