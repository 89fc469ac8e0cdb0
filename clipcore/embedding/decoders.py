"""The decode stage: plan items -> model-ready uint8 pixel batches.

``PillowDecoder`` reads and decodes files in threads (Pillow releases the GIL) and
shapes each image with the model's own preprocessing (``model_prepare``), so the
decoder never hard-codes a size, a resize mode or an interpolation. A failed file
becomes a failure row with a short reason, never an exception.

The GPU decoder (batched nvJPEG through torchvision) lives in ``tensor_decoder``; it
falls back to ``PillowDecoder.decode_bytes`` per file.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from clipcore.catalog.images import ImageRejected, open_rgb
from clipcore.embedding.plan import PlanItem
from clipcore.embedding.preprocess import Preprocess
from clipcore.errors import InputError
from clipcore.parallel import imap_ordered

PrepareFn = Callable[[Any], np.ndarray]


@dataclass
class StageTimes:
    """Seconds spent per stage of one run.

    ``read`` and ``decode`` are summed over decoder threads (busy time, may exceed the
    wall time); ``model`` and ``write`` are wall time on the main thread; ``wait`` is
    the main thread waiting for decoded batches (the decoders are the bottleneck when
    it is large).
    """

    read: float = 0.0
    decode: float = 0.0
    model: float = 0.0
    write: float = 0.0
    wait: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Rounded seconds per stage."""
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass
class PixelBatch:
    """One decoded batch.

    ``pixels`` is (n, S, S, 3) uint8 for the n ``ids`` that decoded (numpy, or a torch
    tensor from the GPU decoder); ``hashes`` holds, per id, the content hash of the bytes
    that were decoded (None unless the decoder was asked to hash); ``failed`` lists
    ``{"id", "reason"}`` for files that could not be used.
    """

    ids: list[int]
    pixels: Any
    failed: list[dict] = field(default_factory=list)
    hashes: list[str | None] = field(default_factory=list)


def content_digest(data: bytes) -> str:
    """The catalogue's content hash of a file's bytes (the same as ``catalog.ingest``'s)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_bytes(location: str) -> bytes:
    """All bytes of a local path, or of an fsspec URL (``s3://``, ``gs://``, ...) when fsspec is installed.

    Raises:
        OSError: the file cannot be read.
        InputError: a URL was given and fsspec is not installed.
    """
    if "://" in location and not location.startswith("file://"):
        try:
            import fsspec
        except ImportError:
            raise InputError(f"{location!r} is a URL; reading it needs fsspec (pip install fsspec).") from None
        with fsspec.open(location, "rb") as fh:
            return fh.read()
    return Path(location.removeprefix("file://")).read_bytes()


def model_prepare(model: Any, *, draft: bool = True) -> PrepareFn:
    """The model's own preprocessing as a picklable ``PIL image -> (S, S, 3) uint8`` function."""
    return functools.partial(Preprocess.apply, model.preprocess, draft=draft)


class PillowDecoder:
    """Decode plan items with Pillow in a thread pool and group them into batches.

    Args:
        prepare: PIL image -> (S, S, 3) uint8; ``model_prepare(model)``.
        size: S, the model's input side (also the JPEG draft target).
        workers: decoder threads (default one per core, at least two).
        hash_content: record the content hash of the bytes actually decoded (engines that
            write shards need it; the local engine does not).
        draft: decode JPEGs at a reduced scale (Pillow draft); pair it with the same
            ``draft`` in ``prepare``. False gives exactly open_clip's pixels.
    """

    name = "pillow"

    def __init__(
        self, prepare: PrepareFn, size: int, *, workers: int | None = None, hash_content: bool = False, draft: bool = True
    ) -> None:
        self.prepare = prepare
        self.draft = draft
        self.size = int(size)
        self.workers = workers
        self.hash_content = hash_content
        self.times = StageTimes()

    @classmethod
    def for_model(cls, model: Any, *, draft: bool = True, **kwargs: Any) -> "PillowDecoder":
        """A decoder that shapes images the way ``model`` expects."""
        return cls(model_prepare(model, draft=draft), model.image_size, draft=draft, **kwargs)

    def decode_bytes(self, data: bytes) -> np.ndarray:
        """(S, S, 3) uint8 of one file's bytes.

        Raises:
            ImageRejected: not a usable image (reason inside).
        """
        return self.prepare(open_rgb(data, draft_to=self.size if self.draft else None).image)

    def decode_item(self, item: PlanItem) -> tuple[int, np.ndarray | None, str | None, str | None, float, float]:
        """(id, pixels or None, failure reason or None, content hash or None, read s, decode s)."""
        t0 = time.perf_counter()
        try:
            data = read_bytes(item.location)
        except OSError as exc:
            return item.image_id, None, f"cannot read: {exc.strerror or exc}", None, time.perf_counter() - t0, 0.0
        t1 = time.perf_counter()
        digest = content_digest(data) if self.hash_content else None
        try:
            arr, reason = self.decode_bytes(data), None
        except ImageRejected as exc:
            arr, reason = None, exc.reason
        return item.image_id, arr, reason, digest, t1 - t0, time.perf_counter() - t1

    def batches(self, plan: Iterable[PlanItem], batch_size: int) -> Iterator[PixelBatch]:
        """Decode ``plan`` in threads, in order, into batches of ``batch_size`` decoded images.

        Failures travel with the batch in which they were met (a final batch may hold
        failures only).
        """
        size = self.size
        ids: list[int] = []
        pixels: list[np.ndarray] = []
        hashes: list[str | None] = []
        failed: list[dict] = []
        results = imap_ordered(self.decode_item, plan, workers=self.workers, prefetch=batch_size * 2)
        while True:
            t0 = time.perf_counter()
            got = next(results, None)
            self.times.wait += time.perf_counter() - t0
            if got is None:
                break
            image_id, arr, reason, digest, read_s, decode_s = got
            self.times.read += read_s
            self.times.decode += decode_s
            if arr is None:
                failed.append({"id": image_id, "reason": reason})
            else:
                ids.append(image_id)
                pixels.append(arr)
                hashes.append(digest)
            if len(ids) >= batch_size:
                yield PixelBatch(ids, np.stack(pixels), failed, hashes)
                ids, pixels, hashes, failed = [], [], [], []
        if ids or failed:
            stacked = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
            yield PixelBatch(ids, stacked, failed, hashes)
