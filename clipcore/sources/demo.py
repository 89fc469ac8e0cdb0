"""Synthetic demo collection: scans of Japanese woodblock-printed books in four classes.

The tool needs a collection to show before the user brings their own, and shipping real
scans is heavy, so this module paints look-alikes of a national library's digitised
Edo-period books: illustrated pages, pages of vertical text, blank pages and covers.
Everything is drawn with numpy noise and Pillow primitives (no fonts), from a seeded
generator per image, so the same arguments always give byte-identical JPEGs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from clipcore.errors import InputError

logger = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("illustration", "text", "blank page", "cover")

_JPEG_QUALITY = 85
_WIDTH_RANGE = (560, 720)
_HEIGHT_RANGE = (760, 960)
# Generated images are ordinary shared files, not secrets: undo mkstemp's 0600.
_FILE_MODE = 0o644

_Colour = tuple[float, float, float]

# Woodblock ink is a carbon black that scans slightly warm.
_INK_COLOURS: tuple[_Colour, ...] = ((28, 24, 22), (38, 30, 26), (22, 22, 26), (46, 36, 30))
# Hand-applied washes in illustrated books are muted vegetable and mineral pigments.
_WASH_COLOURS: dict[str, _Colour] = {
    "indigo": (96, 122, 160),
    "green": (122, 150, 104),
    "ochre": (214, 170, 100),
    "rust": (184, 98, 70),
    "pink": (222, 160, 150),
    "grey": (140, 138, 132),
}
_COVER_COLOURS: tuple[_Colour, ...] = (
    (44, 56, 92),  # indigo
    (34, 44, 70),  # dark indigo
    (92, 64, 44),  # brown
    (58, 74, 54),  # dark green
    (150, 112, 52),  # ochre
    (84, 98, 116),  # grey-blue
    (110, 52, 44),  # persimmon brown
)
_STAMP_RED: _Colour = (200, 52, 44)


def generate_demo(out_dir: str | Path, per_class: int = 50, seed: int = 0) -> dict[str, int]:
    """Write ``per_class`` JPEG images for each class into ``out_dir/<class>/``; return {class: count}.

    Deterministic: the same arguments produce byte-identical files (with the same Pillow
    and numpy). Each image depends only on (seed, class, index), so a larger ``per_class``
    extends a smaller collection. Existing files with the same names are overwritten, each
    atomically; other files are left alone. ``seed`` must be >= 0.
    Raises ``InputError`` (a ``ValueError``) when ``per_class`` < 1 or ``seed`` < 0.
    """
    if per_class < 1:
        raise InputError(f"per_class must be at least 1, got {per_class}; ask for 1 or more images per class.")
    if seed < 0:
        raise InputError(f"seed must be 0 or more, got {seed}; pass a non-negative integer.")
    root = Path(out_dir)
    counts: dict[str, int] = {}
    for class_index, class_name in enumerate(DEMO_CLASSES):
        folder = root / class_name
        folder.mkdir(parents=True, exist_ok=True)
        stem = class_name.replace(" ", "_")
        for index in range(per_class):
            # One generator per image, so an image does not depend on per_class or on its neighbours.
            rng = np.random.default_rng([seed, class_index, index])
            image = render_page(class_name, rng)
            _write_jpeg(image, folder / f"{stem}_{index:03d}.jpg")
        counts[class_name] = per_class
    logger.info("wrote demo collection of %d images to %s", per_class * len(DEMO_CLASSES), root)
    return counts


def render_page(class_name: str, rng: np.random.Generator) -> Image.Image:
    """Paint one RGB page of ``class_name`` (one of ``DEMO_CLASSES``) from ``rng``."""
    painters: dict[str, Callable[[_Page, np.random.Generator], None]] = {
        "illustration": _paint_illustration,
        "text": _paint_text,
        "blank page": _paint_blank,
        "cover": _paint_cover,
    }
    if class_name not in painters:
        raise InputError(f"unknown demo class {class_name!r}; expected one of {', '.join(DEMO_CLASSES)}.")
    width = int(rng.integers(_WIDTH_RANGE[0], _WIDTH_RANGE[1] + 1))
    height = int(rng.integers(_HEIGHT_RANGE[0], _HEIGHT_RANGE[1] + 1))
    page = _Page(rng, width, height, cover=class_name == "cover")
    painters[class_name](page, rng)
    return page.to_image()


def _write_jpeg(image: Image.Image, path: Path) -> None:
    """Save ``image`` as a JPEG at ``path`` atomically (temporary file in the same folder, then replace)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="JPEG", quality=_JPEG_QUALITY)
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


# --------------------------------------------------------------------------- canvas


class _Page:
    """A float RGB canvas (0..255) onto which Pillow-drawn masks are blended.

    ``rgb`` is planar, shape (3, height, width): numpy runs several times faster on
    contiguous planes than on a trailing axis of three.
    """

    def __init__(self, rng: np.random.Generator, width: int, height: int, *, cover: bool) -> None:
        self.rng = rng
        self.w = width
        self.h = height
        # Uniform noise of unit variance: as good as Gaussian for grain and much cheaper to draw.
        self.grain = (rng.random((height, width), dtype=np.float32) - 0.5) * 3.46
        # Blotches of about unit variance at two scales; the base layers and the ink share them.
        self.blotch = _smooth_noise(
            rng,
            width,
            height,
            (int(rng.integers(3, 7)), int(rng.integers(4, 9))),
            (int(rng.integers(10, 18)), int(rng.integers(14, 24))),
        )
        self._ink_texture: np.ndarray | None = None
        self.rgb = _make_cover_base(self, rng) if cover else _make_paper(self, rng)

    def new_mask(self, scale: int = 1) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        """A blank 8-bit mask, optionally ``scale`` times smaller for soft, cheap shapes."""
        mask = Image.new("L", (max(1, self.w // scale), max(1, self.h // scale)), 0)
        return mask, ImageDraw.Draw(mask)

    def ink_texture(self) -> np.ndarray:
        """Per-pixel ink strength: printed ink is uneven where the block or paper was."""
        if self._ink_texture is None:
            self._ink_texture = np.clip(0.9 - 0.06 * self.blotch + 0.06 * self.grain, 0.55, 1.0)
        return self._ink_texture

    def blend(
        self,
        mask: Image.Image,
        colour: _Colour,
        opacity: float,
        *,
        blur: float = 0.0,
        mode: str = "multiply",
        textured: bool = False,
    ) -> None:
        """Lay ``colour`` through ``mask``: "multiply" like pigment on paper, "over" to cover what is below."""
        if mask.size != (self.w, self.h):
            if blur > 0:
                mask = _soften(mask, blur)
            mask = mask.resize((self.w, self.h), Image.Resampling.BILINEAR)
            blur = 0.0
        box = mask.getbbox()
        if box is None:
            return
        # Work only inside the mask's bounding box (plus room for the blur): most layers are small.
        pad = int(math.ceil(blur)) + 1
        x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
        x1, y1 = min(self.w, box[2] + pad), min(self.h, box[3] + pad)
        mask = mask.crop((x0, y0, x1, y1))
        if blur > 0:
            mask = _soften(mask, blur)
        alpha = np.asarray(mask, dtype=np.float32) * (opacity / 255.0)
        if textured:
            alpha *= self.ink_texture()[y0:y1, x0:x1]
        for plane, value in zip(self.rgb[:, y0:y1, x0:x1], colour):
            if mode == "multiply":
                plane *= 1.0 - alpha * (1.0 - value / 255.0)
            else:
                plane += (value - plane) * alpha

    def tint(self, layer: Image.Image) -> None:
        """Multiply the page by an RGB ``layer`` (white leaves the page as it is)."""
        for plane, band in zip(self.rgb, layer.split()):
            plane *= np.asarray(band, dtype=np.float32) * (1.0 / 255.0)

    def shade_gutter(self, strength: float) -> None:
        """Darken a soft band and a crease down the middle, where the sheet is folded."""
        x = np.arange(self.w, dtype=np.float32)
        centre = self.w / 2 + self.rng.uniform(-0.01, 0.01) * self.w
        band = np.exp(-(((x - centre) / (0.03 * self.w)) ** 2)) * strength
        crease = np.exp(-(((x - centre) / 1.5) ** 2)) * strength * 1.5
        self.rgb *= (1.0 - band - crease)[None, None, :]

    def to_image(self) -> Image.Image:
        """The canvas as an 8-bit RGB image."""
        planes = np.clip(self.rgb, 0, 255).astype(np.uint8)
        return Image.merge("RGB", [Image.fromarray(plane, "L") for plane in planes])


def _soften(mask: Image.Image, radius: float) -> Image.Image:
    """Blur a mask; a single box pass is enough for the sub-pixel softening of ink edges."""
    if radius <= 1.0:
        return mask.filter(ImageFilter.BoxBlur(radius))
    return mask.filter(ImageFilter.GaussianBlur(radius))


def _smooth_noise(
    rng: np.random.Generator, width: int, height: int, coarse: tuple[int, int], fine: tuple[int, int]
) -> np.ndarray:
    """Low-frequency noise of about unit variance: two random grids (columns, rows), upsampled smoothly.

    Both octaves are summed at an intermediate size, so the full-size resize happens once.
    """
    mid = (max(2, width // 8), max(2, height // 8))
    octaves = []
    for cells, amplitude in ((coarse, 1.0), (fine, 0.5)):
        grid = rng.standard_normal((cells[1], cells[0])).astype(np.float32) * amplitude
        octaves.append(np.asarray(Image.fromarray(grid, "F").resize(mid, Image.Resampling.BICUBIC)))
    field = Image.fromarray((octaves[0] + octaves[1]) / np.float32(1.12), "F").resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return np.array(field, dtype=np.float32)


def _make_paper(page: _Page, rng: np.random.Generator) -> np.ndarray:
    """Aged paper: tinted base, blotches that yellow unevenly, fine grain, fibres, vignetting."""
    w, h = page.w, page.h
    # Sheets differ mostly in how yellowed and how bright they are, hardly in hue.
    yellowing = rng.uniform(0.0, 1.0)
    base = np.array([238, 228, 204], dtype=np.float32) + rng.uniform(-12, 4)
    base += yellowing * np.array([-2, -8, -30], dtype=np.float32) + rng.normal(0, 2, 3).astype(np.float32)
    blotch = page.blotch
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    vignette = 1.0 - rng.uniform(0.03, 0.09) * (xx**4 + yy**4)
    fibres = np.asarray(_draw_fibres(page, rng), dtype=np.float32) * (rng.uniform(0.04, 0.09) / 255.0)
    # In-place arithmetic: fresh page-sized temporaries cost more than the sums themselves.
    light = page.grain * np.float32(0.02)
    light += 1.0
    light += blotch * np.float32(0.018)
    light -= fibres
    light *= vignette
    # Ageing browns the paper where it blotches: blue fades most, red least.
    brown = np.maximum(blotch, 0)
    browning = rng.uniform(3, 8)
    rgb = np.empty((3, h, w), dtype=np.float32)
    for plane, value, fade in zip(rgb, base, (0.3, 0.7, 1.4)):
        np.multiply(light, value, out=plane)
        plane -= brown * np.float32(browning * fade)
    return rgb


def _draw_fibres(page: _Page, rng: np.random.Generator) -> Image.Image:
    """Washi shows short curly fibres; a faint few make the paper read as paper."""
    mask, draw = page.new_mask()
    for _ in range(int(rng.integers(20, 60))):
        x, y = rng.uniform(0, page.w), rng.uniform(0, page.h)
        angle = rng.uniform(0, math.pi)
        length = rng.uniform(6, 22)
        bend = rng.uniform(-4, 4)
        points = _bezier(
            (x, y),
            (x + math.cos(angle) * length / 2 - bend, y + math.sin(angle) * length / 2 + bend),
            (x + math.cos(angle) * length, y + math.sin(angle) * length),
            5,
        )
        draw.line(points, fill=255, width=1)
    return mask


def _make_cover_base(page: _Page, rng: np.random.Generator) -> np.ndarray:
    """Dyed cover paper or cloth: dark solid colour, uneven dye, grain, rubbed lighter edges."""
    w, h = page.w, page.h
    base = np.asarray(_COVER_COLOURS[int(rng.integers(len(_COVER_COLOURS)))], dtype=np.float32)
    base = base * rng.uniform(0.85, 1.15) + rng.normal(0, 4, 3).astype(np.float32)
    blotch = page.blotch
    yy = np.abs(np.linspace(-1, 1, h, dtype=np.float32))[:, None]
    xx = np.abs(np.linspace(-1, 1, w, dtype=np.float32))[None, :]
    # Handling rubs the dye off along the edges and most at the corners (powers taken in 1-D: cheap).
    edges = np.maximum(xx**18, yy**18) * rng.uniform(0.15, 0.45)
    corners = (xx**6) * (yy**6) * rng.uniform(0.2, 0.6)
    wear = (edges + corners) * (1 + 0.3 * blotch)
    np.clip(wear, 0, 0.8, out=wear)
    light = page.grain * np.float32(0.05)
    light += 1.0
    light += blotch * np.float32(0.06)
    rgb = np.empty((3, h, w), dtype=np.float32)
    for plane, value, faded in zip(rgb, base, (190, 176, 150)):
        np.multiply(light, value, out=plane)
        plane += (faded - plane) * wear
    return rgb


# --------------------------------------------------------------------------- brush work


def _bezier(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int
) -> list[tuple[float, float]]:
    """Points along a quadratic Bezier curve from p0 to p2 pulled towards p1."""
    out = []
    for i in range(n + 1):
        t = i / n
        a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
        out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
    return out


def _draw_brush(
    draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], widths: list[float], fill: int = 255
) -> None:
    """A stroke whose width changes along ``points``, as a brush pressed and lifted."""
    for (x0, y0), (x1, y1), w0, w1 in zip(points, points[1:], widths, widths[1:]):
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy) or 1e-6
        nx, ny = -dy / length / 2, dx / length / 2
        draw.polygon(
            [
                (x0 + nx * w0, y0 + ny * w0),
                (x1 + nx * w1, y1 + ny * w1),
                (x1 - nx * w1, y1 - ny * w1),
                (x0 - nx * w0, y0 - ny * w0),
            ],
            fill=fill,
        )
    # Round joints and a round press at the start, otherwise bends show notches.
    for (x, y), w in zip(points[:-1], widths[:-1]):
        if w >= 2.5:
            r = w / 2
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _spline(controls: list[tuple[float, float]], steps: int) -> list[tuple[float, float]]:
    """A smooth curve near ``controls``: quadratic Beziers joined at the midpoints between them."""
    if len(controls) < 3:
        return list(controls)
    mids = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(controls, controls[1:])]
    points = [controls[0]]
    starts = [controls[0]] + mids[1:-1]
    ends = mids[1:-1] + [controls[-1]]
    for start, control, end in zip(starts, controls[1:-1], ends):
        points.extend(_bezier(start, control, end, steps)[1:])
    return points


class _Dice:
    """Uniform numbers drawn from ``rng`` in batches: a page has thousands of strokes, and
    one scalar call to a numpy Generator costs far more than the stroke maths around it."""

    def __init__(self, rng: np.random.Generator, batch: int = 256) -> None:
        self.rng = rng
        self.batch = batch
        self.values: list[float] = []
        self.i = 0

    def __call__(self, lo: float = 0.0, hi: float = 1.0) -> float:
        if self.i >= len(self.values):
            self.values = self.rng.random(self.batch).tolist()
            self.i = 0
        value = self.values[self.i]
        self.i += 1
        return lo + (hi - lo) * value

    def int(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi)."""
        return min(hi - 1, int(self(lo, hi)))


def _ramp(start: float, end: float, n: int) -> list[float]:
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def _draw_glyph(
    draw: ImageDraw.ImageDraw, dice: _Dice, cx: float, cy: float, size: float, weight: float, cursive: bool
) -> None:
    """A character-like cluster of brush strokes centred on (cx, cy), about ``size`` across."""
    half = size / 2

    def at(u: float, v: float) -> tuple[float, float]:
        return (cx + u * half, cy + v * half)

    if cursive:
        # Running script (kana): one or two looping strokes down the whole box, thick where
        # the brush presses; the first stroke swings wide so the glyph fills its column.
        for stroke in range(dice.int(1, 3)):
            n = dice.int(4, 7)
            vs = (
                [-0.9 + 1.8 * i / (n - 1) for i in range(n)]
                if stroke == 0
                else sorted(dice(-0.9, 0.9) for _ in range(n))
            )
            for i in range(1, n - 1):
                vs[i] += dice(-0.45, 0.25)  # doubling back makes the loops
            us = [dice(-0.9, 0.9) * (1.0 if i % 2 else 0.6) for i in range(n)]
            points = _spline([at(u, v) for u, v in zip(us, vs)], 3)
            press = [dice(0.6, 1.4) for _ in points]
            widths = [weight * (a + b) / 2 for a, b in zip(press, press[1:] + press[-1:])]
            _draw_brush(draw, points, widths)
        if dice() < 0.4:
            u, v = dice(-0.6, 0.6), dice(-0.8, 0.8)
            _draw_brush(draw, [at(u, v), at(u + 0.2, v + 0.25)], [weight * 1.3, weight * 0.6])
        return

    # Block script (kanji): horizontals and verticals spanning the box, plus sweeps and dots,
    # sometimes as two components side by side or stacked.
    split = dice()
    parts = [(-1.0, 1.0, -1.0, 1.0)]
    if split < 0.35:
        cut = dice(-0.4, 0.1)
        parts = [(-1.0, cut, -1.0, 1.0), (cut + 0.2, 1.0, -1.0, 1.0)]
    elif split < 0.5:
        cut = dice(-0.4, 0.2)
        parts = [(-1.0, 1.0, -1.0, cut), (-1.0, 1.0, cut + 0.2, 1.0)]
    for u_lo, u_hi, v_lo, v_hi in parts:
        pw, ph = u_hi - u_lo, v_hi - v_lo
        for v in sorted(dice(v_lo + 0.1 * ph, v_hi - 0.1 * ph) for _ in range(dice.int(1, 4))):
            ua, ub = u_lo + dice(0, 0.25) * pw, u_hi - dice(0, 0.25) * pw
            _draw_brush(draw, [at(ua, v), at(ub, v - 0.06 * (ub - ua))], [weight * 0.9, weight * 1.15])
        for _ in range(dice.int(0, 3)):
            u = dice(u_lo + 0.15 * pw, u_hi - 0.15 * pw)
            va, vb = v_lo + dice(0, 0.2) * ph, v_hi - dice(0, 0.25) * ph
            tail = dice()
            if tail < 0.3:  # hooked end
                pts = [at(u, va), at(u, vb), at(u - 0.2 * pw, vb - 0.1 * ph)]
                _draw_brush(draw, pts, [weight * 1.1, weight, weight * 0.4])
            else:  # needle or pressed end
                _draw_brush(
                    draw,
                    [at(u, va), at(u, (va + vb) / 2), at(u, vb)],
                    [weight * 1.1, weight, weight * (0.3 if tail < 0.6 else 1.0)],
                )
        for _ in range(dice.int(0, 3)):
            kind = dice()
            if kind < 0.35:  # left-falling sweep
                u, v = dice(u_lo + 0.4 * pw, u_hi), dice(v_lo, v_lo + 0.4 * ph)
                pts = _bezier(
                    at(u, v), at(u - 0.1 * pw, v + 0.4 * ph), at(u - dice(0.4, 0.8) * pw, v + dice(0.4, 0.6) * ph), 3
                )
                _draw_brush(draw, pts, _ramp(weight * 1.1, weight * 0.25, len(pts)))
            elif kind < 0.6:  # right-falling sweep, heavier at the end
                u, v = dice(u_lo, u_hi - 0.4 * pw), dice(v_lo, v_lo + 0.4 * ph)
                pts = _bezier(
                    at(u, v), at(u + 0.3 * pw, v + 0.3 * ph), at(u + dice(0.4, 0.7) * pw, v + dice(0.4, 0.6) * ph), 3
                )
                _draw_brush(draw, pts, _ramp(weight * 0.5, weight * 1.5, len(pts)))
            elif kind < 0.85:  # dot
                u, v = dice(u_lo + 0.1 * pw, u_hi - 0.1 * pw), dice(v_lo + 0.05 * ph, v_hi - 0.1 * ph)
                _draw_brush(draw, [at(u, v), at(u + 0.1 * pw, v + 0.12 * ph)], [weight * 0.9, weight * 1.5])
            else:  # enclosure
                ua, ub, va, vb = u_lo + 0.1 * pw, u_hi - 0.1 * pw, v_lo + 0.1 * ph, v_hi - 0.1 * ph
                _draw_brush(draw, [at(ua, va), at(ua, vb)], [weight, weight * 0.8])
                _draw_brush(draw, [at(ua, va), at(ub, va), at(ub, vb)], [weight, weight, weight])
                _draw_brush(draw, [at(ua, vb), at(ub, vb)], [weight * 0.8, weight * 0.8])


def _draw_column(
    draw: ImageDraw.ImageDraw,
    dice: _Dice,
    x: float,
    y_top: float,
    y_bottom: float,
    size: float,
    weight: float,
    cursive_share: float,
    fill_to: float = 1.0,
) -> None:
    """Glyphs stacked top to bottom in one vertical column centred on ``x``."""
    y = y_top + size / 2
    end = y_top + (y_bottom - y_top) * fill_to
    previous_cursive = False
    while y + size / 2 <= end:
        scale = dice(0.75, 1.05)
        cursive = dice() < cursive_share
        if cursive:
            scale *= 0.85  # kana are smaller than kanji
            if previous_cursive and dice() < 0.4:
                # Running hand links one kana into the next with a thin tail.
                top = y - size * scale * 0.45
                _draw_brush(
                    draw, [(x + dice(-0.2, 0.2) * size, top - size * 0.25), (x, top)], [weight * 0.5, weight * 0.4]
                )
        _draw_glyph(draw, dice, x + dice(-0.04, 0.04) * size, y, size * scale, weight, cursive)
        previous_cursive = cursive
        if not cursive and dice() < 0.12:
            # Reading glosses (furigana) beside a character, in small running script.
            for k in range(dice.int(1, 3)):
                _draw_glyph(
                    draw, dice, x + size * 0.56, y - size * 0.2 + k * size * 0.3, size * 0.26, weight * 0.45, True
                )
        y += size * dice(0.95, 1.2)


def _draw_frame(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box: tuple[float, float, float, float]) -> None:
    """A woodblock page frame: a heavy rule, sometimes doubled with a thin inner one."""
    x0, y0, x1, y1 = box
    outer = int(rng.integers(2, 6))
    draw.rectangle([x0, y0, x1, y1], outline=255, width=outer)
    if rng.random() < 0.5:
        gap = outer + int(rng.integers(3, 6))
        draw.rectangle([x0 + gap, y0 + gap, x1 - gap, y1 - gap], outline=255, width=1)


def _draw_fishtail(draw: ImageDraw.ImageDraw, cx: float, y: float, width: float) -> None:
    """The black 'fish tail' mark in the centre column of a printed sheet."""
    half = width * 0.42
    draw.polygon(
        [
            (cx - half, y),
            (cx + half, y),
            (cx + half, y + width * 0.5),
            (cx, y + width * 0.25),
            (cx - half, y + width * 0.5),
        ],
        fill=255,
    )


def _ink_colour(rng: np.random.Generator) -> _Colour:
    return _INK_COLOURS[int(rng.integers(len(_INK_COLOURS)))]


# --------------------------------------------------------------------------- page types


def _paint_text(page: _Page, rng: np.random.Generator) -> None:
    """Vertical columns of brush characters in a printed frame, with the narrow centre column."""
    w, h = page.w, page.h
    if rng.random() < 0.35:
        _add_show_through(page, rng, rng.uniform(0.05, 0.1))
    gutter = rng.random() < 0.2
    dice = _Dice(rng)
    mask, draw = page.new_mask()
    left, right = rng.uniform(0.07, 0.13) * w, rng.uniform(0.07, 0.13) * w
    top, bottom = rng.uniform(0.07, 0.12) * h, rng.uniform(0.08, 0.14) * h
    x0, y0, x1, y1 = left, top, w - right, h - bottom
    _draw_frame(draw, rng, (x0, y0, x1, y1))
    narrow = rng.uniform(0.05, 0.075) * w
    # An unfolded sheet has the narrow column on the fold; a single leaf shows it at one edge.
    if gutter:
        nx0 = w / 2 - narrow / 2
    else:
        nx0 = x1 - narrow if rng.random() < 0.5 else x0
    draw.line([(nx0, y0), (nx0, y1)], fill=255, width=1)
    draw.line([(nx0 + narrow, y0), (nx0 + narrow, y1)], fill=255, width=1)
    ncx = nx0 + narrow / 2
    _draw_fishtail(draw, ncx, y0 + (y1 - y0) * rng.uniform(0.18, 0.28), narrow)
    glyph_weight = max(1.5, narrow * 0.09)
    for k in range(int(rng.integers(2, 5))):
        _draw_glyph(draw, dice, ncx, y0 + (y1 - y0) * 0.38 + k * narrow * 0.7, narrow * 0.55, glyph_weight, False)
    _draw_glyph(draw, dice, ncx, y1 - narrow * 0.9, narrow * 0.5, glyph_weight, False)

    # Text columns on both sides of the narrow column (one side may be empty at the page edge).
    spans = [(x0, nx0), (nx0 + narrow, x1)]
    ncols = int(rng.integers(6, 13))
    usable = sum(max(0.0, b - a) for a, b in spans)
    col_w = usable / ncols
    ruled = rng.random() < 0.7
    cursive_share = rng.choice([0.05, 0.3, 0.7])
    size = col_w * rng.uniform(0.7, 0.88)
    weight = size * rng.uniform(0.08, 0.12)
    pad = col_w * 0.5
    partial = rng.random() < 0.3
    columns: list[float] = []
    for a, b in spans:
        n = int((b - a) // col_w)
        if n <= 0:
            continue
        step = (b - a) / n
        for i in range(n):
            if ruled and i > 0:
                draw.line([(a + i * step, y0), (a + i * step, y1)], fill=255, width=1)
            columns.append(a + (i + 0.5) * step)
    # Read right to left, as the book does, so a partial page is empty on the left.
    columns.sort(reverse=True)
    # A chapter's last page stops part-way, but keeps enough text to read as a text page.
    stop_after = int(rng.integers(max(2, len(columns) // 2), len(columns) + 1)) if partial else len(columns)
    for i, cx in enumerate(columns[:stop_after]):
        fill_to = 1.0
        if rng.random() < 0.15 or (partial and i == stop_after - 1):
            fill_to = rng.uniform(0.3, 0.9)  # a paragraph ends mid-column
        indent = size * 1.1 if rng.random() < 0.15 else 0.0
        _draw_column(draw, dice, cx, y0 + pad + indent, y1 - pad * 0.5, size, weight, cursive_share, fill_to)
    if rng.random() < 0.1:
        _add_stamp(page, rng)
    page.blend(mask, _ink_colour(rng), rng.uniform(0.82, 0.97), blur=0.6, textured=True)
    if gutter:
        page.shade_gutter(rng.uniform(0.03, 0.07))


def _paint_blank(page: _Page, rng: np.random.Generator) -> None:
    """Paper only: stains, foxing, ghosts of the text behind, maybe a stamp or a shelf number."""
    _add_stains(page, rng)
    if rng.random() < 0.75:
        _add_show_through(page, rng, rng.uniform(0.04, 0.11))
    if rng.random() < 0.4:
        _add_stamp(page, rng)
    if rng.random() < 0.3:
        _add_catalogue_number(page, rng)
    if rng.random() < 0.2:
        page.shade_gutter(rng.uniform(0.03, 0.07))


def _paint_cover(page: _Page, rng: np.random.Generator) -> None:
    """A dyed cover with a woven or patterned texture, a pale title slip and the stitched binding."""
    _add_cover_pattern(page, rng)
    w, h = page.w, page.h
    if rng.random() < 0.88:
        sw = rng.uniform(0.14, 0.2) * w
        sh = rng.uniform(0.38, 0.55) * h
        sx = rng.uniform(0.05, 0.1) * w
        sy = rng.uniform(0.04, 0.07) * h
        slip, draw = page.new_mask()
        draw.rectangle([sx, sy, sx + sw, sy + sh], fill=255)
        if rng.random() < 0.25:  # torn slips lose their lower part
            cut = sy + sh * rng.uniform(0.4, 0.8)
            draw.polygon(
                [
                    (sx - 2, cut),
                    (sx + sw + 2, cut + rng.uniform(-20, 20)),
                    (sx + sw + 2, sy + sh + 2),
                    (sx - 2, sy + sh + 2),
                ],
                fill=0,
            )
        slip_colour = (232 + rng.uniform(-10, 8), 224 + rng.uniform(-12, 6), 200 + rng.uniform(-20, 6))
        page.blend(slip, slip_colour, rng.uniform(0.9, 0.97), blur=0.5, mode="over")
        ink, idraw = page.new_mask()
        if rng.random() < 0.6:
            idraw.rectangle([sx + 5, sy + 5, sx + sw - 5, sy + sh - 5], outline=255, width=int(rng.integers(1, 3)))
        ink_box = np.asarray(slip.crop((int(sx), int(sy), int(sx + sw), int(sy + sh))))
        size = sw * rng.uniform(0.45, 0.6)
        filled = sy + sh * (float(np.mean(ink_box > 0)) if ink_box.size else 1.0)
        _draw_column(
            idraw, _Dice(rng), sx + sw * 0.5, sy + sh * 0.06, min(sy + sh * 0.85, filled - 8), size, size * 0.11, 0.2
        )
        if rng.random() < 0.4:  # volume number in smaller script
            _draw_glyph(idraw, _Dice(rng), sx + sw * 0.78, sy + sh * 0.88, size * 0.45, size * 0.06, False)
        idraw.rectangle([0, 0, w, sy], fill=0)
        idraw.rectangle([0, filled, w, h], fill=0)
        page.blend(ink, _ink_colour(rng), rng.uniform(0.8, 0.95), blur=0.6, textured=True)
    if rng.random() < 0.8:
        _add_binding(page, rng)


# --------------------------------------------------------------------------- illustration


class _Scene:
    """Ink mask and colour layer painted back to front; nearer shapes erase what they hide.

    All washes share one RGB layer (white = no colour) drawn with colours pre-mixed with
    white by their opacity, so the page is multiplied by it once.
    """

    def __init__(self, page: _Page, rng: np.random.Generator) -> None:
        self.page = page
        self.rng = rng
        self.ink, self.draw = page.new_mask()
        self.colour_layer = Image.new("RGB", (page.w, page.h), (255, 255, 255))
        self.paint = ImageDraw.Draw(self.colour_layer)
        self._washes: dict[str, tuple[int, int, int]] = {}

    def wash(self, name: str) -> tuple[int, int, int]:
        """The layer colour for wash ``name``, its strength drawn once per page."""
        if name not in self._washes:
            opacity = self.rng.uniform(0.3, 0.55)
            r, g, b = (int(round(255 - opacity * (255 - c))) for c in _WASH_COLOURS[name])
            self._washes[name] = (r, g, b)
        return self._washes[name]

    def erase_polygon(self, points: list[tuple[float, float]]) -> None:
        self.draw.polygon(points, fill=0)
        self.paint.polygon(points, fill=(255, 255, 255))

    def erase_ellipse(self, box: tuple[float, float, float, float]) -> None:
        self.draw.ellipse(box, fill=0)
        self.paint.ellipse(box, fill=(255, 255, 255))

    def erase_rect(self, box: tuple[float, float, float, float], radius: float = 0) -> None:
        self.draw.rounded_rectangle(box, radius=radius, fill=0)
        self.paint.rounded_rectangle(box, radius=radius, fill=(255, 255, 255))

    def finish(self, rng: np.random.Generator) -> None:
        """Lay the washes, then the ink over them, as the colour blocks were printed first."""
        if self._washes:
            self.page.tint(self.colour_layer)
        self.page.blend(self.ink, _ink_colour(rng), rng.uniform(0.85, 0.97), blur=0.6, textured=True)


def _paint_illustration(page: _Page, rng: np.random.Generator) -> None:
    """An ink-line landscape with muted washes: mountains, water or fields, trees, a building, people."""
    w, h = page.w, page.h
    if rng.random() < 0.3:
        _add_show_through(page, rng, rng.uniform(0.03, 0.06))
    scene = _Scene(page, rng)
    horizon = rng.uniform(0.33, 0.55) * h
    coloured = rng.random() < 0.75
    palette = list(_WASH_COLOURS) if coloured else ["grey"]

    if coloured and rng.random() < 0.3:
        _draw_sun(scene, rng, horizon, palette)
    for layer in range(int(rng.integers(1, 4))):
        _draw_mountains(scene, rng, horizon - layer * rng.uniform(0.0, 0.06) * h, palette, far=layer == 0)
    if rng.random() < 0.7:
        _draw_mist(scene, rng, horizon)
    has_water = rng.random() < 0.55
    ground_top = horizon + rng.uniform(0.05, 0.2) * h
    if has_water:
        _draw_water(scene, rng, horizon, palette)
        for _ in range(int(rng.integers(0, 3))):
            _draw_boat(
                scene, rng, rng.uniform(0.15, 0.85) * w, rng.uniform(horizon + 25, ground_top + 0.1 * h), palette
            )
        land = _draw_shore(scene, rng, ground_top, palette)
    else:
        land = _draw_fields(scene, rng, horizon, palette)

    def spot(depth: float) -> tuple[float, float]:
        """A place on the land, up to ``depth`` of the way from its edge to the page bottom."""
        x, y = land[int(rng.integers(len(land)))]
        return x, y + rng.uniform(0.03, depth) * (h - y)

    features = ["house", "bridge" if has_water else "house", "figure", "figure"]
    for feature in rng.permutation(features)[: int(rng.integers(1, 4))]:
        if feature == "house":
            _draw_house(scene, rng, *spot(0.4), palette)
        elif feature == "bridge":
            _draw_bridge(scene, rng, horizon, ground_top, palette)
        else:
            _draw_figure(scene, rng, *spot(0.7), palette)
    for _ in range(int(rng.integers(1, 5))):
        _draw_tree(scene, rng, *spot(0.9), palette)
    if rng.random() < 0.35:
        _draw_cartouche(scene, rng)
    if rng.random() < 0.4:
        margin_x, margin_y = rng.uniform(0.05, 0.1) * w, rng.uniform(0.05, 0.1) * h
        box = (margin_x, margin_y, w - margin_x, h - margin_y)
        for outside in ((0, 0, w, box[1]), (0, box[3], w, h), (0, 0, box[0], h), (box[2], 0, w, h)):
            scene.erase_rect(outside)
        _draw_frame(scene.draw, rng, box)
    scene.finish(rng)
    if rng.random() < 0.25:
        page.shade_gutter(rng.uniform(0.03, 0.07))


def _pick(rng: np.random.Generator, palette: list[str], preferred: str) -> str:
    return preferred if preferred in palette else palette[int(rng.integers(len(palette)))]


def _draw_sun(scene: _Scene, rng: np.random.Generator, horizon: float, palette: list[str]) -> None:
    w = scene.page.w
    r = rng.uniform(0.04, 0.08) * w
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.12, 0.6) * horizon
    scene.paint.ellipse([cx - r, cy - r, cx + r, cy + r], fill=scene.wash(_pick(rng, palette, "rust")))


def _draw_mountains(scene: _Scene, rng: np.random.Generator, base: float, palette: list[str], far: bool) -> None:
    w, h = scene.page.w, scene.page.h
    xs = np.linspace(-10, w + 10, int(rng.integers(30, 50)))
    ridge = np.zeros_like(xs)
    for _ in range(int(rng.integers(1, 4))):
        peak_x = rng.uniform(-0.1, 1.1) * w
        height = rng.uniform(0.1, 0.3) * h * (0.7 if far else 1.0)
        spread = rng.uniform(0.15, 0.45) * w
        ridge = np.maximum(ridge, height * np.clip(1 - np.abs(xs - peak_x) / spread, 0, 1) ** rng.uniform(0.8, 1.6))
    ridge += rng.normal(0, 3, xs.shape)
    ys = base - ridge
    outline = [(float(x), float(y)) for x, y in zip(xs, ys)]
    body = outline + [(w + 10, base + 0.05 * h), (-10, base + 0.05 * h)]
    scene.erase_polygon(body)
    scene.paint.polygon(body, fill=scene.wash(_pick(rng, palette, "indigo" if far else "green")))
    weight = rng.uniform(1.5, 3.0)
    scene.draw.line(outline, fill=255, width=int(round(weight)), joint="curve")
    # Texture strokes down the slopes, the way woodblock artists model rock.
    for _ in range(int(rng.integers(8, 25))):
        i = int(rng.integers(1, len(xs) - 1))
        if ridge[i] < 15:
            continue
        x, y = xs[i], ys[i] + rng.uniform(4, 0.6 * ridge[i])
        length = rng.uniform(8, 25)
        lean = -length * 0.5 if ys[i - 1] < ys[i + 1] else length * 0.5
        _draw_brush(
            scene.draw,
            [(x, y), (x + lean * 0.5, y + length * 0.6), (x + lean, y + length)],
            [weight, weight * 0.8, 0.5],
        )


def _draw_mist(scene: _Scene, rng: np.random.Generator, horizon: float) -> None:
    """Bands of mist (kasumi) that hide parts of the scene, outlined in ink."""
    w = scene.page.w
    for _ in range(int(rng.integers(1, 4))):
        y = rng.uniform(0.3, 1.1) * horizon
        band_h = rng.uniform(26, 60)
        x0 = rng.uniform(-0.3, 0.4) * w
        x1 = x0 + rng.uniform(0.4, 0.9) * w
        box = (x0, y, x1, y + band_h)
        scene.erase_rect(box, radius=band_h / 2)
        scene.draw.rounded_rectangle(box, radius=band_h / 2, outline=255, width=int(rng.integers(1, 3)))


def _draw_water(scene: _Scene, rng: np.random.Generator, horizon: float, palette: list[str]) -> None:
    w, h = scene.page.w, scene.page.h
    box = (-5, horizon, w + 5, h + 5)
    scene.erase_rect(box)
    scene.paint.rectangle(box, fill=scene.wash(_pick(rng, palette, "indigo")))
    period = rng.uniform(18, 34)
    y = horizon + 6
    gap = rng.uniform(8, 14)
    row = 0
    while y < h:
        amp = min(10.0, 2 + (y - horizon) / h * 14)
        offset = (row % 2) * period / 2 + rng.uniform(0, period)
        x = -period + offset
        while x < w:
            if rng.random() < 0.85:
                scene.draw.arc(
                    [x, y - amp, x + period, y + amp], 200, 340, fill=255, width=1 if y - horizon < 0.15 * h else 2
                )
            x += period * rng.uniform(0.9, 1.3)
        y += gap * (1 + (y - horizon) / h * 1.5)
        row += 1


def _draw_shore(scene: _Scene, rng: np.random.Generator, top: float, palette: list[str]) -> list[tuple[float, float]]:
    """A bank of land in the foreground, on one side, over the water."""
    w, h = scene.page.w, scene.page.h
    from_left = rng.random() < 0.5
    reach = rng.uniform(0.35, 0.75) * w
    xs = np.linspace(0, reach, 12)
    ys = top + (xs / reach) ** 2 * rng.uniform(0.1, 0.3) * h + rng.normal(0, 4, xs.shape) + rng.uniform(0, 0.15) * h
    if not from_left:
        xs = w - xs
    edge = [(float(x), float(y)) for x, y in zip(xs, ys)]
    corner_x = -5 if from_left else w + 5
    body = [(corner_x, float(ys[0]))] + edge + [(float(xs[-1]), h + 5), (corner_x, h + 5)]
    scene.erase_polygon(body)
    scene.paint.polygon(body, fill=scene.wash(_pick(rng, palette, "ochre")))
    scene.draw.line(edge + [(float(xs[-1]), h + 5)], fill=255, width=2, joint="curve")
    _draw_grass(scene, rng, edge)
    return edge[:-1]


def _draw_fields(
    scene: _Scene, rng: np.random.Generator, horizon: float, palette: list[str]
) -> list[tuple[float, float]]:
    """Rolling ground lines with tufts of grass, for scenes without water; returns the farthest edge."""
    w, h = scene.page.w, scene.page.h
    y = horizon
    colour = _pick(rng, palette, "ochre")
    land: list[tuple[float, float]] = []
    while y < h:
        xs = np.linspace(-10, w + 10, 14)
        ys = y + rng.uniform(-0.04, 0.04) * h * np.sin(xs / w * math.pi * rng.uniform(1, 3) + rng.uniform(0, 6))
        edge = [(float(a), float(b)) for a, b in zip(xs, ys)]
        body = edge + [(w + 10, h + 5), (-10, h + 5)]
        scene.erase_polygon(body)
        scene.paint.polygon(body, fill=scene.wash(colour))
        scene.draw.line(edge, fill=255, width=int(rng.integers(1, 3)), joint="curve")
        _draw_grass(scene, rng, edge)
        for _ in range(int(rng.integers(10, 30))):
            # Short level dashes model the ground the way cutters did.
            fx, fy = rng.uniform(0, w), y + rng.uniform(0.03, 0.15) * h
            length = rng.uniform(6, 18)
            scene.draw.line([(fx, fy), (fx + length, fy)], fill=255, width=1)
        land = land or [p for p in edge if 0 <= p[0] <= w]
        y += rng.uniform(0.1, 0.22) * h
        colour = _pick(rng, palette, "green" if colour == "ochre" else "ochre")
    return land


def _draw_grass(scene: _Scene, rng: np.random.Generator, edge: list[tuple[float, float]]) -> None:
    for _ in range(int(rng.integers(4, 14))):
        i = int(rng.integers(len(edge) - 1))
        t = rng.random()
        x = edge[i][0] * (1 - t) + edge[i + 1][0] * t
        y = edge[i][1] * (1 - t) + edge[i + 1][1] * t
        for lean in (-4, 0, 4):
            scene.draw.line([(x, y), (x + lean, y - rng.uniform(5, 11))], fill=255, width=1)


def _draw_tree(scene: _Scene, rng: np.random.Generator, x: float, base: float, palette: list[str]) -> None:
    """A leafy tree (clumps of foliage) or a pine (flat pads of needles) on a bent trunk."""
    h = scene.page.h
    height = rng.uniform(0.7, 1.2) * (0.1 + 0.3 * base / h) * h  # nearer (lower) trees are taller
    bend = rng.uniform(-0.2, 0.2) * height
    top = (x + bend, base - height)
    trunk = _bezier((x, base), (x - bend * 0.5, base - height * 0.5), top, 6)
    width = rng.uniform(7, 15)
    pine = rng.random() < 0.45
    clumps: list[tuple[float, float]] = []  # where each mass of foliage sits
    for _ in range(int(rng.integers(2, 5))):
        px, py = trunk[int(rng.integers(3, len(trunk)))]
        reach = rng.uniform(0.12, 0.3) * height * rng.choice([-1.0, 1.0])
        end = (px + reach, py - rng.uniform(0.03, 0.15) * height)
        bow = (px + reach * 0.5, py - rng.uniform(0.0, 0.12) * height)
        _draw_brush(scene.draw, _bezier((px, py), bow, end, 3), list(np.linspace(width * 0.5, width * 0.2, 4)))
        clumps.append(end)
    clumps.append(top)
    _draw_brush(scene.draw, trunk, list(np.linspace(width, width * 0.4, len(trunk))))
    for _ in range(int(rng.integers(2, 6))):  # bark marks
        px, py = trunk[int(rng.integers(0, len(trunk) - 1))]
        scene.draw.arc([px - width, py - 3, px + width * 0.3, py + 3], 300, 60, fill=0, width=1)
    wash = scene.wash(_pick(rng, palette, "green"))  # the canopy colour
    for cx, cy in clumps:
        if pine:
            rx, ry = rng.uniform(0.1, 0.17) * height, rng.uniform(0.035, 0.06) * height
            pad = (cx - rx, cy - ry, cx + rx, cy + ry)
            scene.erase_ellipse(pad)
            scene.paint.ellipse(pad, fill=wash)
            # A scalloped top edge and needles fanning down from it.
            n = int(rng.integers(4, 8))
            for i in range(n):
                sx = cx - rx + (i + 0.5) * 2 * rx / n
                sy = cy - ry * math.sqrt(max(0.0, 1 - ((sx - cx) / rx) ** 2))
                scene.draw.arc([sx - rx / n - 2, sy - 4, sx + rx / n + 2, sy + 8], 180, 360, fill=255, width=2)
                for lean in (-0.6, -0.2, 0.2, 0.6):
                    scene.draw.line([(sx, sy + 1), (sx + lean * ry, sy + ry * 1.3)], fill=255, width=1)
            scene.draw.line([(cx - rx, cy + ry * 0.6), (cx + rx, cy + ry * 0.6)], fill=255, width=1)
        else:
            size = rng.uniform(0.1, 0.17) * height
            blobs = []
            for _ in range(int(rng.integers(3, 6))):
                ox, oy = rng.normal(0, size * 0.6), rng.normal(0, size * 0.4)
                r = rng.uniform(0.55, 0.9) * size
                blobs.append((cx + ox - r, cy + oy - r * 0.8, cx + ox + r, cy + oy + r * 0.8))
            for blob in blobs:
                scene.erase_ellipse(blob)
                scene.paint.ellipse(blob, fill=wash)
                scene.draw.ellipse(blob, outline=255, width=int(rng.integers(1, 3)))
            # Foliage dabs: the dotting printmakers used for leaves.
            bx0, by0 = min(b[0] for b in blobs), min(b[1] for b in blobs)
            bx1, by1 = max(b[2] for b in blobs), max(b[3] for b in blobs)
            for _ in range(int(rng.integers(12, 30))):
                fx, fy = rng.uniform(bx0 + 4, bx1 - 4), rng.uniform(by0 + 4, by1 - 4)
                if any(b[0] + 3 < fx < b[2] - 3 and b[1] + 3 < fy < b[3] - 3 for b in blobs):
                    _draw_brush(scene.draw, [(fx, fy), (fx + 3, fy + 2)], [2.5, 1.5])


def _draw_house(scene: _Scene, rng: np.random.Generator, x: float, base: float, palette: list[str]) -> None:
    w, h = scene.page.w, scene.page.h
    bw = rng.uniform(0.6, 1.0) * (0.1 + 0.25 * base / h) * w  # nearer houses are bigger
    bh = bw * rng.uniform(0.4, 0.7)
    roof_h = bh * rng.uniform(0.5, 0.9)
    overhang = bw * rng.uniform(0.08, 0.2)
    x -= bw / 2  # callers give the centre
    walls = (x, base - bh, x + bw, base)
    roof = [
        (x - overhang, base - bh),
        (x + bw + overhang, base - bh),
        (x + bw * 0.8, base - bh - roof_h),
        (x + bw * 0.2, base - bh - roof_h),
    ]
    scene.erase_rect(walls)
    scene.erase_polygon(roof)
    scene.paint.polygon(roof, fill=scene.wash(_pick(rng, palette, "grey")))
    if rng.random() < 0.5:
        scene.paint.rectangle(walls, fill=scene.wash(_pick(rng, palette, "ochre")))
    scene.draw.rectangle(walls, outline=255, width=2)
    scene.draw.polygon(roof, outline=255, width=2)
    for k in range(1, int(rng.integers(4, 9))):
        # Roof tiles and wall posts as parallel lines.
        t = k / 9
        scene.draw.line(
            [(x - overhang + t * (bw + 2 * overhang), base - bh), (x + bw * 0.2 + t * bw * 0.6, base - bh - roof_h)],
            fill=255,
            width=1,
        )
        scene.draw.line([(x + t * bw, base - bh), (x + t * bw, base)], fill=255, width=1)
    door = x + bw * rng.uniform(0.3, 0.6)
    scene.draw.rectangle([door, base - bh * 0.7, door + bw * 0.15, base], outline=255, width=2)


def _draw_bridge(scene: _Scene, rng: np.random.Generator, horizon: float, ground: float, palette: list[str]) -> None:
    w = scene.page.w
    x0 = rng.uniform(-0.1, 0.3) * w
    x1 = x0 + rng.uniform(0.5, 0.9) * w
    y = rng.uniform(horizon + 30, max(horizon + 31, ground + 40))
    rise = rng.uniform(25, 70)
    deck = (x0, y - rise, x1, y + rise)
    scene.draw.arc(deck, 180, 360, fill=255, width=3)
    scene.draw.arc((x0, y - rise + 10, x1, y + rise + 10), 180, 360, fill=255, width=2)
    scene.draw.arc((x0, y - rise - 18, x1, y + rise - 18), 190, 350, fill=255, width=2)
    colour = _pick(rng, palette, "rust")
    cx, rx = (x0 + x1) / 2, (x1 - x0) / 2
    for k in range(1, 10):
        px = x0 + (x1 - x0) * k / 10
        py = y - rise * math.sqrt(max(0.0, 1 - ((px - cx) / rx) ** 2))
        scene.draw.line([(px, py), (px, py - 16)], fill=255, width=2)
        scene.draw.line([(px, py + 10), (px, py + 10 + rng.uniform(20, 40))], fill=255, width=3)
        scene.paint.rectangle([px - 3, py - 16, px + 3, py + 10], fill=scene.wash(colour))


def _draw_boat(scene: _Scene, rng: np.random.Generator, x: float, y: float, palette: list[str]) -> None:
    length = rng.uniform(60, 130)
    hull = [(x - length / 2, y - 8), (x + length / 2, y - 12), (x + length * 0.4, y + 6), (x - length * 0.4, y + 6)]
    scene.erase_polygon(hull)
    scene.paint.polygon(hull, fill=scene.wash(_pick(rng, palette, "ochre")))
    scene.draw.polygon(hull, outline=255, width=2)
    if rng.random() < 0.6:
        _draw_figure(scene, rng, x, y - 6, palette, scale=0.6)
    else:
        mast = y - rng.uniform(50, 90)
        scene.draw.line([(x, y - 8), (x, mast)], fill=255, width=2)
        sail = [(x - 2, mast), (x - length * 0.35, mast + 8), (x - length * 0.3, y - 20), (x - 2, y - 18)]
        scene.erase_polygon(sail)
        scene.draw.polygon(sail, outline=255, width=2)


def _draw_figure(
    scene: _Scene, rng: np.random.Generator, x: float, base: float, palette: list[str], scale: float = 1.0
) -> None:
    """A small robed person: a head, a flared robe, perhaps a wide hat."""
    size = rng.uniform(0.6, 1.0) * (0.03 + 0.09 * base / scene.page.h) * scene.page.h * scale
    head_r = size * 0.1
    robe = [
        (x - size * 0.12, base - size * 0.78),
        (x + size * 0.12, base - size * 0.78),
        (x + size * 0.28, base),
        (x - size * 0.28, base),
    ]
    scene.erase_polygon(robe)
    scene.paint.polygon(robe, fill=scene.wash(_pick(rng, palette, rng.choice(["indigo", "rust", "pink"]))))
    scene.draw.polygon(robe, outline=255, width=2)
    scene.draw.line([(x, base - size * 0.7), (x + rng.uniform(-0.1, 0.1) * size, base)], fill=255, width=1)
    hy = base - size * 0.78 - head_r
    scene.draw.ellipse([x - head_r, hy - head_r, x + head_r, hy + head_r], fill=0, outline=255, width=2)
    if rng.random() < 0.5:
        scene.draw.polygon(
            [(x - size * 0.25, hy - head_r * 0.2), (x + size * 0.25, hy - head_r * 0.2), (x, hy - head_r * 2.2)],
            fill=255,
        )
    else:
        scene.draw.ellipse([x - head_r, hy - head_r * 1.5, x + head_r, hy], fill=255)  # hair


def _draw_cartouche(scene: _Scene, rng: np.random.Generator) -> None:
    """A small framed block of vertical text in an upper corner, as captions or poems are set."""
    w, h = scene.page.w, scene.page.h
    ncols = int(rng.integers(2, 5))
    size = rng.uniform(13, 20)
    bw, bh = ncols * size * 1.5 + size, rng.uniform(0.18, 0.32) * h
    x0 = rng.uniform(0.08, 0.12) * w if rng.random() < 0.5 else w - rng.uniform(0.08, 0.12) * w - bw
    y0 = rng.uniform(0.07, 0.12) * h
    box = (x0, y0, x0 + bw, y0 + bh)
    scene.erase_rect(box)
    scene.draw.rectangle(box, outline=255, width=int(rng.integers(1, 3)))
    for k in range(ncols):
        cx = x0 + bw - size - k * size * 1.5
        _draw_column(
            scene.draw,
            _Dice(rng),
            cx,
            y0 + size * 0.4,
            y0 + bh - size * 0.3,
            size,
            size * 0.1,
            0.6,
            rng.uniform(0.5, 1.0),
        )


# --------------------------------------------------------------------------- blemishes and marks


def _add_show_through(page: _Page, rng: np.random.Generator, opacity: float) -> None:
    """Text printed on the other side of the leaf, mirrored and blurred by the paper."""
    scale = 2
    mask, draw = page.new_mask(scale)
    w, h = mask.size
    ncols = int(rng.integers(5, 10))
    col_w = w * 0.8 / ncols
    size = col_w * 0.7
    for i in range(ncols):
        if rng.random() < 0.2:
            continue
        _draw_column(
            draw,
            _Dice(rng),
            w * 0.1 + (i + 0.5) * col_w,
            h * 0.1,
            h * 0.88,
            size,
            size * 0.1,
            0.4,
            rng.uniform(0.3, 1.0),
        )
    if rng.random() < 0.6:
        draw.rectangle([w * 0.08, h * 0.08, w * 0.92, h * 0.9], outline=255, width=2)
    page.blend(mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (90, 80, 70), opacity, blur=1.2)


def _add_stains(page: _Page, rng: np.random.Generator) -> None:
    """Water stains with darker tide lines, plus foxing: small rust-brown spots."""
    scale = 4
    mask, draw = page.new_mask(scale)
    rings, rdraw = page.new_mask(scale)
    w, h = mask.size
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.3) * w, rng.uniform(0.04, 0.25) * h
        pts = []
        for k in range(16):
            a = 2 * math.pi * k / 16
            f = rng.uniform(0.75, 1.2)
            pts.append((cx + math.cos(a) * rx * f, cy + math.sin(a) * ry * f))
        draw.polygon(pts, fill=int(rng.integers(90, 200)))
        rdraw.line(pts + pts[:1], fill=255, width=1)
    page.blend(mask, (170, 130, 80), rng.uniform(0.12, 0.25), blur=3)
    page.blend(rings, (140, 100, 60), rng.uniform(0.1, 0.2), blur=0.8)
    spots, sdraw = page.new_mask()
    for _ in range(int(rng.integers(5, 60))):
        x, y = rng.uniform(0, page.w), rng.uniform(0, page.h)
        r = rng.uniform(0.8, 3.5)
        sdraw.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.integers(120, 255)))
    page.blend(spots, (150, 90, 50), rng.uniform(0.3, 0.6), blur=1.0)


def _add_stamp(page: _Page, rng: np.random.Generator) -> None:
    """A red ownership seal: square or round, with a border and carved strokes inside."""
    mask, draw = page.new_mask()
    size = rng.uniform(0.07, 0.13) * page.w
    x = rng.uniform(0.55, 0.85) * page.w if rng.random() < 0.7 else rng.uniform(0.08, 0.3) * page.w
    y = rng.uniform(0.06, 0.25) * page.h if rng.random() < 0.6 else rng.uniform(0.7, 0.85) * page.h
    box = (x, y, x + size, y + size)
    border = max(2, int(size * 0.06))
    if rng.random() < 0.65:
        draw.rectangle(box, outline=255, width=border)
    else:
        draw.ellipse(box, outline=255, width=border)
    cells = 2
    cell = size * 0.8 / cells
    for i in range(cells):
        for j in range(cells):
            _draw_glyph(
                draw,
                _Dice(rng),
                x + size * 0.1 + (i + 0.5) * cell,
                y + size * 0.1 + (j + 0.5) * cell,
                cell * 0.8,
                max(1.5, cell * 0.1),
                False,
            )
    # Seal paste leaves blotchy coverage.
    page.blend(mask, _STAMP_RED, rng.uniform(0.55, 0.85), blur=0.6, textured=True)


_SEGMENTS = {  # seven-segment digits: a b c d e f g
    "0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc",
    "5": "afgcd", "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcfgd", "-": "g",
}  # fmt: skip


def _add_catalogue_number(page: _Page, rng: np.random.Generator) -> None:
    """A shelf number pencilled or stamped near the bottom, as digits drawn from segments."""
    mask, draw = page.new_mask()
    digit_h = rng.uniform(10, 16)
    digit_w = digit_h * 0.55
    text = f"{int(rng.integers(100, 999))}-{int(rng.integers(1, 99))}"
    x = rng.uniform(0.1, 0.6) * page.w
    y = rng.uniform(0.85, 0.93) * page.h
    for ch in text:
        segs = _SEGMENTS[ch]
        a, b, c, d = (x, y), (x + digit_w, y), (x + digit_w, y + digit_h), (x, y + digit_h)
        mid_l, mid_r = (x, y + digit_h / 2), (x + digit_w, y + digit_h / 2)
        lines = {
            "a": (a, b),
            "b": (b, mid_r),
            "c": (mid_r, c),
            "d": (d, c),
            "e": (mid_l, d),
            "f": (a, mid_l),
            "g": (mid_l, mid_r),
        }
        for s in segs:
            draw.line(lines[s], fill=255, width=2)
        x += digit_w * 1.6
    pencil = rng.random() < 0.6
    page.blend(mask, (90, 90, 95) if pencil else (40, 40, 60), 0.55 if pencil else 0.85, blur=0.5)


def _add_cover_pattern(page: _Page, rng: np.random.Generator) -> None:
    """Woven cloth, a lozenge grid or tortoise-shell hexagons, pressed lighter or darker into the cover."""
    w, h = page.w, page.h
    kind = rng.choice(["woven", "lozenge", "tortoise", "woven"])
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    if kind == "woven":
        period = rng.uniform(2.5, 4.5)
        warp = np.sin(2 * np.pi * xx / period)
        weft = np.sin(2 * np.pi * yy / (period * rng.uniform(0.8, 1.2)))
        relief = 0.5 * warp * weft + 0.35 * np.sign(warp * weft) * 0.5
        page.rgb *= (1.0 + rng.uniform(0.05, 0.1) * relief)[None]
        return
    if kind == "lozenge":
        cell = rng.uniform(22, 40)
        u = np.abs(((xx + yy) / cell) % 1.0 - 0.5)
        v = np.abs(((xx - yy) / cell) % 1.0 - 0.5)
        lines = (np.minimum(0.5 - u, 0.5 - v) < 0.045).astype(np.float32)
        dots = ((u + v) < 0.12).astype(np.float32)
        relief = lines + 0.7 * dots
    else:
        mask, draw = page.new_mask()
        r = rng.uniform(16, 28)
        dx, dy = r * math.sqrt(3), r * 1.5
        for row in range(int(h / dy) + 2):
            for col in range(int(w / dx) + 2):
                cx = col * dx + (row % 2) * dx / 2
                cy = row * dy
                hexagon = [
                    (
                        cx + r * 0.85 * math.cos(math.pi / 6 + k * math.pi / 3),
                        cy + r * 0.85 * math.sin(math.pi / 6 + k * math.pi / 3),
                    )
                    for k in range(6)
                ]
                draw.polygon(hexagon, outline=255, width=2)
        relief = np.asarray(_soften(mask, 0.6), dtype=np.float32) / 255.0
    sign = 1.0 if rng.random() < 0.6 else -1.0  # pattern woven lighter, or pressed darker
    page.rgb *= (1.0 + sign * rng.uniform(0.12, 0.22) * relief)[None]
    # Fine cloth weave under the pattern.
    period = rng.uniform(2.5, 4.0)
    page.rgb *= (1.0 + 0.04 * np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period))[None]


def _add_binding(page: _Page, rng: np.random.Generator) -> None:
    """Four-hole stitched binding on the right edge: holes, thread between them and round the spine."""
    w, h = page.w, page.h
    x = w - rng.uniform(0.04, 0.07) * w
    n = 4 if rng.random() < 0.8 else 5
    ys = np.linspace(rng.uniform(0.08, 0.12) * h, h - rng.uniform(0.08, 0.12) * h, n)
    holes, hdraw = page.new_mask()
    thread, tdraw = page.new_mask()
    tw = int(rng.integers(4, 8))
    # The thread runs down the whole spine (it wraps over the top and bottom edges too)
    # and round the back edge at every hole.
    tdraw.line([(x, -5), (x, h + 5)], fill=255, width=tw)
    for y in ys:
        tdraw.line([(x, y), (w + 5, y)], fill=255, width=tw)
    for y in ys:
        r = tw * 0.9
        hdraw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    thread_colour = (226, 214, 190) if rng.random() < 0.7 else (120, 60, 50)
    page.blend(thread, thread_colour, rng.uniform(0.8, 0.95), blur=0.7, mode="over")
    page.blend(holes, (20, 18, 16), 0.6, blur=0.8)
