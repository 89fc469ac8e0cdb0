"""The GPU decode stage: batched JPEG decoding and resizing with torch, Pillow per file as fallback.

    read     file bytes in threads (``decoders.read_bytes``), a batch ahead of the model
    sort     a JPEG header scan per file: baseline/progressive RGB or grey JPEGs of sane
             size with upright EXIF go to the tensor path; anything else (PNG, CMYK,
             oversized, rotated by EXIF, or refused by the GPU decoder) goes to Pillow
    decode   ``torchvision.io.decode_jpeg(list, device=...)``: one call per batch (nvJPEG on CUDA)
    resize   images of the same size are resized together (one interpolate call per size),
             shortest side to S with the model's interpolation and antialiasing, centre crop
    out      (n, S, S, 3) uint8 on the model's device, straight into ``encode_pixels``
             (normalisation is folded into the model's first convolution)

The same code runs on CPU tensors, which is how CI tests it; on CUDA the host-side
fallback pixels go through pinned memory with non-blocking copies, and the batch is
prepared on a side stream while the model runs the previous one.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from clipcore.catalog.images import MAX_PIXELS, ImageRejected
from clipcore.embedding.decoders import PillowDecoder, PixelBatch, StageTimes, read_bytes
from clipcore.embedding.plan import PlanItem
from clipcore.embedding.preprocess import Preprocess, shortest_side_geometry
from clipcore.errors import InputError
from clipcore.parallel import imap_ordered

# Larger pages decode faster through Pillow's DCT downscaling (draft) than at full size on the GPU.
TENSOR_MAX_PIXELS = 40_000_000
INTERPOLATIONS = {"bicubic": "bicubic", "bilinear": "bilinear"}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class JpegHeader:
    """What the tensor path needs to know about a JPEG before decoding it."""

    width: int
    height: int
    components: int
    orientation: int


def jpeg_header(data: bytes) -> JpegHeader | None:
    """Size, colour components and EXIF orientation of a JPEG, or None when ``data`` is not a readable JPEG."""
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    pos, orientation = 2, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(body[6:])
        elif marker in _SOF:
            if len(body) < 6:
                return None
            height, width = struct.unpack(">HH", body[1:5])
            return JpegHeader(width, height, body[5], orientation)
        elif marker == 0xDA:
            return None
        pos += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(end + "I", tiff[4:8])
        (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
        for k in range(count):
            entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
            tag, _, _ = struct.unpack(end + "HHI", entry[:8])
            if tag == 0x0112:
                return struct.unpack(end + "H", entry[8:10])[0]
    except struct.error:
        return 1
    return 1


def tensor_path_ok(data: bytes) -> bool:
    """True for JPEGs the tensor path decodes like Pillow would: complete, RGB/grey, upright, not oversized.

    A truncated JPEG goes to Pillow, which refuses it (libjpeg would pad it with grey).
    """
    header = jpeg_header(data)
    return (
        header is not None
        and data.rfind(b"\xff\xd9", max(0, len(data) - 4096)) != -1
        and header.components in (1, 3)
        and header.orientation == 1
        and 0 < header.width * header.height <= TENSOR_MAX_PIXELS
    )


def tensor_decoder_supports(preprocess: Preprocess) -> bool:
    """Whether ``resize_batch`` reproduces this transform (shortest side, bicubic or bilinear)."""
    return preprocess.resize_mode == "shortest" and preprocess.interpolation in INTERPOLATIONS


def resize_batch(images: list[Any], size: int, interpolation: str = "bicubic") -> Any:
    """Shortest side to ``size``, centre crop, for (3, H, W) uint8 tensors of mixed sizes.

    Images of the same (H, W) are resized in one call. Output sizes and crop offsets are
    open_clip's (``preprocess.shortest_side_geometry``); the resampling is torch's
    antialiased interpolation, not Pillow's, so pixels differ slightly (like draft mode).

    Returns:
        (n, size, size, 3) uint8 tensor on the images' device, in input order.
    """
    import torch
    import torch.nn.functional as F

    mode = INTERPOLATIONS.get(interpolation)
    if mode is None:
        raise InputError(f"the tensor decoder resizes with {sorted(INTERPOLATIONS)}; the model asks for {interpolation!r}.")
    if not images:
        return torch.zeros((0, size, size, 3), dtype=torch.uint8)
    out = torch.empty((len(images), size, size, 3), dtype=torch.uint8, device=images[0].device)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, img in enumerate(images):
        groups.setdefault((int(img.shape[1]), int(img.shape[2])), []).append(k)
    for (h, w), members in groups.items():
        nw, nh, left, top = shortest_side_geometry(w, h, size)
        x = torch.stack([images[k] for k in members]).float()
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode=mode, antialias=True, align_corners=False)
        x = x[:, :, top : top + size, left : left + size].round_().clamp_(0, 255).to(torch.uint8)
        out[members] = x.permute(0, 2, 3, 1)
    return out


class TensorDecoder:
    """Decode batches of plan items with torch (nvJPEG on CUDA); Pillow for what it cannot take.

    Args:
        fallback: the Pillow decoder with the model's preprocessing (used per file).
        size: the model's input side.
        interpolation: the model's resize interpolation (bicubic or bilinear).
        device: where decoding, resizing and the output batch live (``cuda`` or ``cpu``).
        workers: threads reading files and running fallbacks.
    """

    name = "gpu"

    def __init__(self, fallback: PillowDecoder, size: int, interpolation: str, device: str, *, workers: int | None = None) -> None:
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"the GPU decoder supports {sorted(INTERPOLATIONS)} resizing; the model asks for {interpolation!r}.")
        self.fallback = fallback
        self.size = int(size)
        self.interpolation = interpolation
        self.device = device
        self.workers = workers
        self.times = StageTimes()
        self.fallbacks = 0  # files handed to Pillow

    @classmethod
    def for_model(cls, model: Any, *, workers: int | None = None, require_cuda: bool = False) -> "TensorDecoder":
        """The tensor decoder for ``model``, on the model's device.

        Raises:
            InputError: ``require_cuda`` and the model is not on CUDA.
        """
        if require_cuda and model.info.device != "cuda":
            raise InputError(
                f"--decoder gpu needs the model on a CUDA GPU; it is on {model.info.device}. Use --decoder pillow or auto."
            )
        if not tensor_decoder_supports(model.preprocess):
            raise InputError(
                f"the GPU decoder resizes shortest-side with bicubic or bilinear; this model's preprocessing is "
                f"{model.preprocess.describe()}. Use --decoder pillow or auto."
            )
        return cls(PillowDecoder.for_model(model, workers=workers), model.image_size,
                   model.preprocess.interpolation, model.info.device, workers=workers)

    def _read(self, item: PlanItem) -> tuple[PlanItem, bytes | None, str | None, float]:
        t0 = time.perf_counter()
        try:
            return item, read_bytes(item.location), None, time.perf_counter() - t0
        except OSError as exc:
            return item, None, f"cannot read: {exc.strerror or exc}", time.perf_counter() - t0

    def _to_device(self, arr: np.ndarray) -> Any:
        import torch

        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        if self.device == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def decode_chunk(self, chunk: list[tuple[PlanItem, bytes | None, str | None]]) -> PixelBatch:
        """Decode one batch's files: tensor path for plain JPEGs, Pillow for the rest."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        t0 = time.perf_counter()
        slots: list[Any] = [None] * len(chunk)
        failed: list[dict] = []
        jpeg_idx = [k for k, (_, data, _) in enumerate(chunk) if data is not None and tensor_path_ok(data)]
        decoded: list[Any] = []
        if jpeg_idx:
            encoded = [torch.frombuffer(bytearray(chunk[k][1]), dtype=torch.uint8) for k in jpeg_idx]
            try:
                decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=self.device)
            except RuntimeError:
                decoded = []
                for e in encoded:  # one bad file must not send the whole batch to Pillow
                    try:
                        decoded.append(decode_jpeg(e, mode=ImageReadMode.RGB, device=self.device))
                    except RuntimeError:
                        decoded.append(None)
        good = [(k, img) for k, img in zip(jpeg_idx, decoded) if img is not None]
        resized = resize_batch([img for _, img in good], self.size, self.interpolation) if good else None
        for j, (k, _) in enumerate(good):
            slots[k] = resized[j]
        for k, (item, data, reason) in enumerate(chunk):
            if slots[k] is not None:
                continue
            if data is None:
                failed.append({"id": item.image_id, "reason": reason})
                continue
            self.fallbacks += 1
            try:
                slots[k] = self._to_device(self.fallback.decode_bytes(data))
            except ImageRejected as exc:
                failed.append({"id": item.image_id, "reason": exc.reason})
        ids = [item.image_id for (item, _, _), s in zip(chunk, slots) if s is not None]
        kept = [s for s in slots if s is not None]
        pixels = torch.stack(kept) if kept else torch.zeros((0, self.size, self.size, 3), dtype=torch.uint8)
        self.times.decode += time.perf_counter() - t0
        return PixelBatch(ids, pixels, failed, [None] * len(ids))

    def batches(self, plan: Iterable[PlanItem], batch_size: int) -> Iterator[PixelBatch]:
        """Read in threads, decode ``batch_size`` files at a time, one batch ahead of the caller."""
        reads = imap_ordered(self._read, plan, workers=self.workers, prefetch=batch_size * 2)

        def chunks() -> Iterator[list[tuple[PlanItem, bytes | None, str | None]]]:
            chunk = []
            for item, data, reason, read_s in reads:
                self.times.read += read_s
                chunk.append((item, data, reason))
                if len(chunk) >= batch_size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

        # One decoder thread a batch ahead: decode of batch k+1 overlaps the model on batch k.
        for batch in imap_ordered(self._decode_on_side_stream, chunks(), workers=1, prefetch=2):
            t0 = time.perf_counter()
            self._sync(batch)
            self.times.wait += time.perf_counter() - t0
            yield batch

    def _decode_on_side_stream(self, chunk: list[tuple[PlanItem, bytes | None, str | None]]) -> PixelBatch:
        if self.device != "cuda":
            return self.decode_chunk(chunk)
        import torch

        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            batch = self.decode_chunk(chunk)
        batch.pixels.record_stream(torch.cuda.current_stream())
        batch.event = stream.record_event()  # type: ignore[attr-defined]
        return batch

    def _sync(self, batch: PixelBatch) -> None:
        event = getattr(batch, "event", None)
        if event is not None:
            import torch

            torch.cuda.current_stream().wait_event(event)
