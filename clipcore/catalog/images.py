"""Decoding image files into RGB, safely, and shaping them for thumbnails.

Every reader of image bytes (ingestion, embedding, an uploaded query image) goes
through ``open_rgb`` so that orientation, colour modes and hostile files are handled
the same way everywhere. The model's input transform lives with the model
(``clipcore.embedding.preprocess``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from clipcore.config import DEFAULT_MAX_IMAGE_PIXELS, Limits, load_limits
from clipcore.errors import InputError

SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "GIF"})
# The default of ``[limits] max_image_pixels`` (clipcore.toml): larger than any real scan we
# expect (a 600 dpi A2 page is ~ 140 MP), smaller than a bomb.
MAX_PIXELS = DEFAULT_MAX_IMAGE_PIXELS
THUMB_SIZE = 256

# A truncated file must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# The bomb guard is ours: one pixel-count check from the header, before decoding, against the
# configured limit, on every decode path. Pillow's own guard works through warnings (a
# process-wide filter would be needed to turn them into errors, which races between threads)
# and a fixed 2 x 89 MP threshold that would contradict the configured limit.
Image.MAX_IMAGE_PIXELS = None


class ImageRejected(Exception):
    """A file that cannot be used as an image; ``reason`` is short and user-facing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image plus what the catalogue records about the file."""

    image: Image.Image
    width: int
    height: int
    format: str


def open_rgb(source: bytes | str | Path, *, draft_to: int | None = None, max_pixels: int | None = None) -> DecodedImage:
    """Decode bytes or a file into an upright 8-bit RGB image.

    Args:
        source: file content or path.
        draft_to: for JPEG, let the decoder downscale by a power of two while keeping both
            sides >= this many pixels (much faster for large files).
        max_pixels: larger images are refused as decompression bombs, from the header,
            before decoding (default: ``[limits] max_image_pixels`` of clipcore.toml).
    Returns:
        DecodedImage; width/height are the file's full size after EXIF orientation.
    Raises:
        ImageRejected: empty, truncated, not an image, unsupported format, or too large.
    """
    limit = load_limits().max_image_pixels if max_pixels is None else max_pixels
    if isinstance(source, bytes):
        if not source:
            raise ImageRejected("empty file (0 bytes)")
        fh: io.BytesIO | Path = io.BytesIO(source)
    else:
        fh = Path(source)
        if fh.stat().st_size == 0:
            raise ImageRejected("empty file (0 bytes)")
    try:
        img = Image.open(fh)
        fmt = img.format or "?"
        if fmt not in SUPPORTED_FORMATS:
            raise ImageRejected(f"unsupported image format {fmt}")
        w, h = img.size
        if w * h > limit:
            raise ImageRejected(
                f"decompression bomb guard: {w}x{h} = {w * h:,} pixels exceeds the limit of {limit:,} "
                "([limits] max_image_pixels in clipcore.toml)"
            )
        if fmt in ("JPEG", "MPO") and draft_to:
            img.draft("RGB", (draft_to, draft_to))
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
        orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
        img = ImageOps.exif_transpose(img)
        rgb = to_rgb(img)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"decompression bomb guard: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageRejected("not an image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"truncated or corrupt image: {exc}") from exc
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return DecodedImage(rgb, w, h, "JPEG" if fmt == "MPO" else fmt)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # High bit depth: stretch to the image's own range so dark 12-bit scans stay visible.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK (Pillow's JPEG decoder already undoes Adobe's inverted CMYK), L, 1, YCbCr, LAB...
    return img.convert("RGB")


def make_thumbnail(img: Image.Image, size: int = THUMB_SIZE) -> bytes:
    """JPEG bytes of the image scaled to fit in size x size (never enlarged)."""
    thumb = img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def check_upload(data: bytes, limits: Limits | None = None) -> tuple[int, int]:
    """Check an uploaded query image from its header only, before anything is decoded.

    Args:
        data: the uploaded bytes.
        limits: default ``load_limits()`` (``[limits] max_upload_pixels`` / ``max_upload_bytes``).
    Returns:
        (width, height) as stored in the file.
    Raises:
        InputError: empty, too many bytes, not a supported image, or more pixels than the
            upload limit (far below the ingest limit: a query is decoded per request).
    """
    limits = limits or load_limits()
    if not data:
        raise InputError("the uploaded file is empty; choose an image file.")
    if len(data) > limits.max_upload_bytes:
        raise InputError(f"the uploaded file has {len(data):,} bytes; at most {limits.max_upload_bytes:,} are accepted.")
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header; decodes nothing
            fmt, (w, h) = img.format or "?", img.size
    except UnidentifiedImageError:
        raise InputError("the uploaded file cannot be used as an image: not an image file.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"the uploaded file cannot be used as an image: {exc}.") from exc
    if fmt not in SUPPORTED_FORMATS:
        raise InputError(f"the uploaded file is a {fmt} image; use JPEG, PNG, WebP, TIFF, BMP or GIF.")
    if w * h > limits.max_upload_pixels:
        raise InputError(
            f"the uploaded image is {w}x{h} = {w * h:,} pixels; a query image may have at most "
            f"{limits.max_upload_pixels:,}. Scale it down and upload it again."
        )
    return w, h


PREVIEW_SIZE = 1024
# Decoded at this size or more (a PNG or TIFF of 16 MP and up), ingest also stores the
# View dialog's preview: the whole image is in memory there anyway.
PREVIEW_AT_INGEST_PIXELS = 16_000_000


def preview_jpeg(path: str | Path, max_side: int = PREVIEW_SIZE) -> bytes:
    """A bounded-size JPEG copy of an image file (longest side at most ``max_side``), for
    the detail view: the original's bytes are never sent to a browser as they are.

    Raises:
        ImageRejected: not a usable image (or a bomb).
    """
    img = open_rgb(Path(path), draft_to=max_side).image
    return make_thumbnail(img, max_side)


def load_query_image(data: bytes, *, max_bytes: int | None = None) -> Image.Image:
    """Validate an uploaded image (header first, see ``check_upload``) and return it as RGB.

    Raises:
        InputError: more than ``max_bytes`` or ``max_pixels``, or not a usable image.
    """
    limits = load_limits()
    if max_bytes is not None:
        limits = Limits(limits.max_image_pixels, limits.max_upload_pixels, max_bytes)
    check_upload(data, limits)
    try:
        return open_rgb(data, draft_to=512, max_pixels=limits.max_upload_pixels).image
    except ImageRejected as exc:
        raise InputError(f"the uploaded file cannot be used as an image: {exc.reason}.") from exc


def thumbnail_data_url(path: str | Path, size: int = 48) -> str:
    """A tiny JPEG of an image file as a ``data:image/jpeg;base64,...`` URL (for table cells).

    Raises:
        InputError: the file is not a usable image.
    """
    import base64

    try:
        img = open_rgb(Path(path), draft_to=size).image
    except (ImageRejected, OSError) as exc:
        raise InputError(f"cannot make a thumbnail of {str(path)!r}: {exc}") from exc
    return "data:image/jpeg;base64," + base64.b64encode(make_thumbnail(img, size)).decode("ascii")
