"""The GPU decoder's logic on CPU tensors: header sorting, batched mixed-size resizing,
Pillow fallback per file, and parity with the Pillow path (cosine >= 0.99)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clipcore.catalog.images import open_rgb
from clipcore.embedding.preprocess import Preprocess
from clipcore.embedding.decoders import PillowDecoder
from clipcore.embedding.pipeline import make_decoder
from clipcore.embedding.plan import PlanItem
from clipcore.embedding.tensor_decoder import TensorDecoder, jpeg_header, resize_batch, tensor_path_ok
from clipcore.errors import InputError

torch = pytest.importorskip("torch")


def _jpeg(img: Image.Image, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, **kw)
    return out.getvalue()


def _photo(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    noise = rng.normal(0, 12, (h // 8 + 1, w // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def test_jpeg_header_sorts_files_for_the_tensor_path():
    rgb = _jpeg(_photo(120, 80, 0))
    assert jpeg_header(rgb) == jpeg_header(rgb) and jpeg_header(rgb).width == 120 and jpeg_header(rgb).height == 80
    assert tensor_path_ok(rgb) and tensor_path_ok(_jpeg(_photo(50, 40, 1).convert("L")))
    cmyk = _jpeg(_photo(60, 40, 2).convert("CMYK"))
    assert jpeg_header(cmyk).components == 4 and not tensor_path_ok(cmyk)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = _jpeg(_photo(60, 40, 3), exif=exif.tobytes())
    assert jpeg_header(rotated).orientation == 6 and not tensor_path_ok(rotated)
    png = io.BytesIO()
    _photo(30, 30, 4).save(png, "PNG")
    assert jpeg_header(png.getvalue()) is None and not tensor_path_ok(png.getvalue())
    assert not tensor_path_ok(rgb[: len(rgb) // 2])  # truncated: Pillow refuses it, so must we


def test_resize_batch_groups_mixed_sizes_and_keeps_order():
    colours = [(10, 20, 30), (200, 100, 50), (0, 255, 0), (90, 90, 90)]
    sizes = [(40, 30), (64, 64), (40, 30), (30, 100)]  # (w, h); two share a size
    imgs = [torch.tensor(c, dtype=torch.uint8).view(3, 1, 1).expand(3, h, w).contiguous() for c, (w, h) in zip(colours, sizes)]
    out = resize_batch(imgs, 32)
    assert out.shape == (4, 32, 32, 3) and out.dtype == torch.uint8
    for k, c in enumerate(colours):
        assert (out[k] == torch.tensor(c, dtype=torch.uint8)).all()
    # A real picture: close to Pillow's resize and crop, pixel for pixel.
    photo = _photo(90, 60, 5)
    ours = resize_batch([torch.from_numpy(np.array(photo)).permute(2, 0, 1)], 32)[0].numpy().astype(int)
    assert np.abs(ours - Preprocess(32).apply(photo).astype(int)).mean() < 4.0
    with pytest.raises(InputError, match="lanczos"):
        resize_batch(imgs, 32, "lanczos")


@pytest.fixture
def mixed_files(tmp_path):
    """JPEGs of several sizes, plus files the tensor path must hand to Pillow or refuse."""
    paths = []
    for k, (w, h) in enumerate([(250, 180), (800, 600), (250, 180), (600, 800), (131, 97), (250, 180)]):
        p = tmp_path / f"p{k}.jpg"
        p.write_bytes(_jpeg(_photo(w, h, 10 + k)))
        paths.append(p)
    (tmp_path / "cmyk.jpg").write_bytes(_jpeg(_photo(200, 150, 30).convert("CMYK")))
    _photo(200, 150, 31).save(tmp_path / "page.png")
    good = _jpeg(_photo(200, 150, 32))
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])
    paths += [tmp_path / "cmyk.jpg", tmp_path / "page.png", tmp_path / "cut.jpg", tmp_path / "gone.jpg"]
    return [PlanItem(i + 1, str(p), "") for i, p in enumerate(paths)]


def test_tensor_decoder_falls_back_per_file_and_matches_pillow(mixed_files, tiny_model):
    pillow = PillowDecoder.for_model(tiny_model)
    tensor = TensorDecoder(PillowDecoder.for_model(tiny_model), tiny_model.image_size, "bicubic", "cpu", workers=2)
    a = list(tensor.batches(mixed_files, 4))
    b = list(pillow.batches(mixed_files, 4))
    ids_a = [i for x in a for i in x.ids]
    assert ids_a == [i for x in b for i in x.ids] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert tensor.fallbacks == 3  # CMYK, PNG, and the truncated JPEG (which Pillow then refuses)
    reasons_a = {f["id"]: f["reason"] for x in a for f in x.failed}
    assert reasons_a == {f["id"]: f["reason"] for x in b for f in x.failed}
    assert set(reasons_a) == {9, 10} and reasons_a[10].startswith("cannot read")
    assert all(isinstance(x.pixels, torch.Tensor) for x in a)
    va = np.concatenate([tiny_model.encode_pixels(x.pixels) for x in a if x.ids])
    vb = np.concatenate([tiny_model.encode_pixels(x.pixels) for x in b if x.ids])
    cos = np.sum(va * vb, axis=1)
    assert cos.min() >= 0.99, cos


def test_gpu_decoder_needs_cuda_when_forced(tiny_model):
    assert make_decoder(tiny_model, "auto").name == "pillow"  # the tiny fixture runs on CPU
    with pytest.raises(InputError, match="CUDA"):
        make_decoder(tiny_model, "gpu")
