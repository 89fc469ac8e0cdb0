"""The model-input transform of an open_clip model, taken from its own preprocess config.

open_clip attaches a preprocess config to every model (``model.visual.preprocess_cfg``:
size, mean, std, interpolation, resize mode, fill colour) and builds its eval transform
from it (``open_clip.transform.image_transform``). ``Preprocess`` reproduces that
transform on a decoded RGB Pillow image and returns uint8 pixels; the normalisation
``(x / 255 - mean) / std`` is folded into the model's first layer
(``clipcore.embedding.models``), and ``normalise`` computes it explicitly for checks.

With ``draft=False`` the pixels are exactly open_clip's (same output sizes, the same
rounding, the same Pillow resampling). ``draft=True``, the default for embedding, lets a
JPEG decode at a reduced scale (Pillow's draft mode, done by the decoder) and lets Pillow
shrink very large images in two steps (``reducing_gap``); both are much faster on big
scans and change pixels slightly (docs/PERFORMANCE.md has the measured difference).

Deliberate differences from ``open_clip`` on any input, draft or not, come from the one
decoder (``clipcore.catalog.images.open_rgb``): EXIF orientation is applied, transparency
is composited on white, and palette images are converted to RGB before resizing (Pillow
resizes palette images with nearest-neighbour otherwise).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageOps

from clipcore.errors import InputError

# Bump when the code below changes which pixels come out for the same config: it is part
# of every embedding-set key, so vectors made by older code are never mixed with new ones.
# 1 was the hard-coded shortest-side bicubic crop (clipcore <= the package regrouping).
PREPROCESS_VERSION = 2

RESIZE_MODES = ("shortest", "longest", "squash")
# open_clip maps "random" (a training option) to bicubic for inference.
INTERPOLATIONS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "random": Image.Resampling.BICUBIC,
}
# open_clip's defaults (open_clip.constants.OPENAI_DATASET_MEAN / _STD).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# In draft mode, shrink in two steps when the image is this many times the target.
DRAFT_REDUCING_GAP = 3.0


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3:
        raise InputError(f"preprocess {name} must be one number or three (R, G, B); got {value!r}.")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocess:
    """One model's input transform (open_clip's eval transform for a square input).

    ``size`` is the side of the square model input in pixels; ``mean``/``std`` are per
    channel on the 0..1 scale.
    """

    size: int
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0

    @classmethod
    def from_open_clip(cls, cfg: Mapping[str, Any]) -> "Preprocess":
        """Build from an open_clip preprocess config (``model.visual.preprocess_cfg``).

        Raises:
            InputError: a non-square size, an unknown resize mode or interpolation, or a
                mean/std that is not one or three numbers.
        """
        size = cfg.get("size", 224)
        if isinstance(size, (tuple, list)):
            if len(size) != 2 or size[0] != size[1]:
                raise InputError(f"only square model inputs are supported; this model's preprocess size is {size!r}.")
            size = size[0]
        interpolation = cfg.get("interpolation") or "bicubic"
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"preprocess interpolation must be one of {sorted(INTERPOLATIONS)}; got {interpolation!r}.")
        resize_mode = cfg.get("resize_mode") or "shortest"
        if resize_mode not in RESIZE_MODES:
            raise InputError(f"preprocess resize_mode must be one of {list(RESIZE_MODES)}; got {resize_mode!r}.")
        if cfg.get("mode", "RGB") != "RGB":
            raise InputError(f"only RGB model inputs are supported; this model's preprocess mode is {cfg.get('mode')!r}.")
        return cls(
            size=int(size),
            mean=_triple(cfg.get("mean") or OPENAI_MEAN, "mean"),
            std=_triple(cfg.get("std") or OPENAI_STD, "std"),
            interpolation="bicubic" if interpolation == "random" else interpolation,
            resize_mode=resize_mode,
            fill_color=int(cfg.get("fill_color") or 0),
        )

    @property
    def version(self) -> str:
        """``pp<code version>-<digest of the config>``: part of the embedding-set key.

        The fill colour counts only where it can show (``longest`` pads).
        """
        fields = {
            "size": self.size,
            "mean": [round(v, 8) for v in self.mean],
            "std": [round(v, 8) for v in self.std],
            "interpolation": self.interpolation,
            "resize_mode": self.resize_mode,
        }
        if self.resize_mode == "longest":
            fields["fill_color"] = self.fill_color
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return f"pp{PREPROCESS_VERSION}-{digest}"

    def describe(self) -> str:
        """One line for logs and docs, e.g. ``224 px, shortest side, bicubic``."""
        mode = {"shortest": "shortest side + centre crop", "longest": "longest side + pad", "squash": "squash"}
        return f"{self.size} px, {mode[self.resize_mode]}, {self.interpolation}"

    def apply(self, img: Image.Image, *, draft: bool = True) -> np.ndarray:
        """Resize and crop (or pad) an RGB image the way open_clip's eval transform does.

        Args:
            img: an RGB image (from ``clipcore.catalog.images.open_rgb``).
            draft: allow two-step shrinking of very large images (faster, not bit-exact).
        Returns:
            (size, size, 3) uint8.
        """
        resample = INTERPOLATIONS[self.interpolation]
        gap = DRAFT_REDUCING_GAP if draft else None
        s = self.size
        w, h = img.size
        if self.resize_mode == "squash":
            img = _resize(img, (s, s), resample, gap)
        elif self.resize_mode == "shortest":
            new_w, new_h, left, top = shortest_side_geometry(w, h, s)
            img = _resize(img, (new_w, new_h), resample, gap)
            img = img.crop((left, top, left + s, top + s))
        else:
            # open_clip's ResizeKeepRatio(longest=1): the long side becomes s (rounded).
            ratio = max(h / s, w / s)
            img = _resize(img, (round(w / ratio), round(h / ratio)), resample, gap)
            img = _centre_pad(img, s, self.fill_color)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """The float input open_clip's transform gives the model, from ``apply``'s pixels.

        Args:
            pixels: (n, size, size, 3) or (size, size, 3) uint8.
        Returns:
            (n, 3, size, size) or (3, size, size) float32, ``(x / 255 - mean) / std``.
        """
        x = np.asarray(pixels)
        x = np.moveaxis(x, -1, -3).astype(np.float32) / np.float32(255)
        shape = (3, 1, 1)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(shape)
        std = np.asarray(self.std, dtype=np.float32).reshape(shape)
        return (x - mean) / std


def shortest_side_geometry(w: int, h: int, s: int) -> tuple[int, int, int, int]:
    """(new width, new height, crop left, crop top) of open_clip's ``shortest`` mode.

    torchvision's ``Resize(s)``: the short side becomes ``s``, the long side
    ``int(s * long / short)`` (truncated); ``CenterCrop(s)``: offsets rounded half to even.
    """
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(s * long / short)
    new_w, new_h = (s, new_long) if w <= h else (new_long, s)
    return new_w, new_h, int(round((new_w - s) / 2.0)), int(round((new_h - s) / 2.0))


def _resize(img: Image.Image, size: tuple[int, int], resample: int, gap: float | None) -> Image.Image:
    if img.size == size:  # torchvision returns the image untouched in this case too
        return img
    return img.resize(size, resample, reducing_gap=gap)


def _centre_pad(img: Image.Image, s: int, fill: int) -> Image.Image:
    # open_clip.transform.center_crop_or_pad: the extra pixel of an odd gap goes right/bottom.
    w, h = img.size
    if w < s or h < s:
        left, top = max(s - w, 0) // 2, max(s - h, 0) // 2
        right, bottom = (max(s - w, 0) + 1) // 2, (max(s - h, 0) + 1) // 2
        fill_value: Any = (fill,) * len(img.getbands())
        img = ImageOps.expand(img, border=(left, top, right, bottom), fill=fill_value)
        w, h = img.size
    if (w, h) == (s, s):
        return img
    top = int(round((h - s) / 2.0))
    left = int(round((w - s) / 2.0))
    return img.crop((left, top, left + s, top + s))
