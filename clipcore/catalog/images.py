"""Decoding image files into RGB, safely, and shaping them for thumbnails and the model.

Every reader of image bytes (ingestion, embedding, an uploaded query image) goes
through ``open_rgb`` so that orientation, colour modes and hostile files are handled
the same way everywhere.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from clipcore.errors import InputError

SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "GIF"})
# Larger than any real scan we expect (a 600 dpi A2 page is ~ 140 MP), smaller than a bomb.
MAX_PIXELS = 180_000_000
THUMB_SIZE = 256

# A truncated file must fail, not be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


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


def open_rgb(source: bytes | str | Path, *, draft_to: int | None = None, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode bytes or a file into an upright 8-bit RGB image.

    Args:
        source: file content or path.
        draft_to: for JPEG, let the decoder downscale by a power of two while keeping both
            sides >= this many pixels (much faster for large files).
        max_pixels: larger images are refused as decompression bombs.
    Returns:
        DecodedImage; width/height are the file's full size after EXIF orientation.
    Raises:
        ImageRejected: empty, truncated, not an image, unsupported format, or too large.
    """
    if isinstance(source, bytes):
        if not source:
            raise ImageRejected("empty file (0 bytes)")
        fh: io.BytesIO | Path = io.BytesIO(source)
    else:
        fh = Path(source)
        if fh.stat().st_size == 0:
            raise ImageRejected("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
            fmt = img.format or "?"
            if fmt not in SUPPORTED_FORMATS:
                raise ImageRejected(f"unsupported image format {fmt}")
            w, h = img.size
            if w * h > max_pixels:
                raise ImageRejected(f"decompression bomb guard: {w}x{h} pixels exceeds {max_pixels:,}")
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
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


def prepare_for_model(img: Image.Image, size: int) -> np.ndarray:
    """Resize the short side to ``size`` (bicubic) and centre-crop: open_clip's 'shortest' mode.

    Returns:
        (size, size, 3) uint8.
    """
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    resized = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


PREVIEW_SIZE = 1024


def preview_jpeg(path: str | Path, max_side: int = PREVIEW_SIZE) -> bytes:
    """A bounded-size JPEG copy of an image file (longest side at most ``max_side``), for
    the detail view: the original's bytes are never sent to a browser as they are.

    Raises:
        ImageRejected: not a usable image (or a bomb).
    """
    img = open_rgb(Path(path), draft_to=max_side).image
    return make_thumbnail(img, max_side)


MAX_UPLOAD_BYTES = 20_000_000
MAX_UPLOAD_PIXELS = 50_000_000  # a visitor's upload: far below MAX_PIXELS for scans


def load_query_image(
    data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS
) -> Image.Image:
    """Validate an uploaded image the way ingestion does and return it as RGB.

    Raises:
        InputError: more than ``max_bytes`` or ``max_pixels``, or not a usable image.
    """
    if len(data) > max_bytes:
        raise InputError(f"the uploaded file has {len(data):,} bytes; at most {max_bytes:,} are accepted.")
    try:
        return open_rgb(data, draft_to=512, max_pixels=max_pixels).image
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
