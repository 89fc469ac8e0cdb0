"""The model input equals open_clip's own preprocessing, for each resize mode and interpolation.

The reference is what open_clip gives a user: ``open_clip.create_model_and_transforms(name,
pretrained=None, ...)`` and its eval transform applied to ``PIL.Image.open(path)``. Our input
is what the embedding pipeline feeds the model (``iter_pixel_batches``), normalised the way
the folded first layer does. Small architectures are registered like ``tiny``, each with
its own preprocess config.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.embedding.models import TINY_CONFIG, TINY_SEED, load_model, register_model_config
from clipcore.embedding.pipeline import embed_workspace, iter_pixel_batches
from clipcore.embedding.preprocess import Preprocess

# name -> preprocess config (None: open_clip's defaults, as for `tiny`).
CONFIGS: dict[str, dict | None] = {
    "tiny": None,
    "tiny-squash": {"resize_mode": "squash"},
    "tiny-bilinear": {"interpolation": "bilinear"},
    "tiny-longest": {"resize_mode": "longest", "interpolation": "bilinear", "fill_color": 128,
                     "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
}
# Draft mode (JPEG draft decoding + two-step shrinking) against open_clip, in normalised
# units, measured on demo pages (film grain is the worst case for it): per image the mean
# absolute difference was at most 0.197 (64 px) and 0.133 (224 px), one pixel at most 3.39
# (a pad edge one pixel off in `longest` mode). docs/PERFORMANCE.md has the table.
DRAFT_MEAN_TOLERANCE = 0.25
DRAFT_MAX_TOLERANCE = 3.5


@pytest.fixture(scope="module")
def images(tmp_path_factory, demo_dir) -> Path:
    """Demo JPEGs (large enough for draft decoding) plus PNGs of awkward sizes and modes."""
    out = tmp_path_factory.mktemp("pp-images")
    for i, f in enumerate(sorted(demo_dir.rglob("*.jpg"))[::4]):
        (out / f"page_{i:02d}.jpg").write_bytes(f.read_bytes())
    rng = np.random.default_rng(7)
    for w, h, mode in [(97, 65, "RGB"), (65, 131, "RGB"), (40, 30, "RGB"), (301, 64, "L"), (1000, 333, "RGB")]:
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], axis=-1)
        arr = np.clip(smooth + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        (img.convert("L") if mode == "L" else img).save(out / f"odd_{w}x{h}.png")
    Image.fromarray((rng.random((400, 900, 3)) * 255).astype(np.uint8)).save(out / "wide.jpg", quality=90)
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def models() -> dict[str, tuple]:
    """name -> (our model, open_clip's reference model, open_clip's eval transform)."""
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    out = {}
    for name, pcfg in CONFIGS.items():
        if name != "tiny":
            register_model_config(name, TINY_CONFIG, pcfg)
        ours = load_model(name, precision="fp32", device="cpu")
        pcfg = pcfg or {}
        torch.manual_seed(TINY_SEED)  # the same random weights as ours
        ref_model, _, ref_transform = open_clip.create_model_and_transforms(
            name, pretrained=None, image_resize_mode=pcfg.get("resize_mode"),
            image_interpolation=pcfg.get("interpolation"), image_mean=pcfg.get("mean"), image_std=pcfg.get("std"),
        )
        if "fill_color" in pcfg:  # create_model_and_transforms has no argument for it
            ref_transform = image_transform_v2(
                PreprocessCfg(**{**ref_model.visual.preprocess_cfg, "fill_color": pcfg["fill_color"]}), is_train=False
            )
        out[name] = (ours, ref_model.eval(), ref_transform)
    return out


def _our_inputs(model, files: list[Path], *, draft: bool) -> np.ndarray:
    batches = list(iter_pixel_batches(enumerate(files), model.preprocess, 64, workers=2, draft=draft))
    assert [b[2] for b in batches] == [[]]  # nothing failed
    return model.preprocess.normalise(batches[0][1])


def _reference_inputs(transform, files: list[Path]) -> np.ndarray:
    return np.stack([transform(Image.open(f)).numpy() for f in files])


def test_the_model_carries_its_own_preprocess_config(models):
    for name, (ours, ref_model, _) in models.items():
        expected = Preprocess.from_open_clip(ref_model.visual.preprocess_cfg)
        if name == "tiny-longest":
            expected = Preprocess(**{**expected.__dict__, "fill_color": 128})
        assert ours.preprocess == expected, name
    versions = {ours.preprocess.version for ours, _, _ in models.values()}
    assert len(versions) == len(models)  # every config is its own preprocessing version


@pytest.mark.parametrize("name", list(CONFIGS))
def test_input_equals_open_clip_exactly_without_draft(models, images, name):
    ours, _, transform = models[name]
    files = _files(images)
    got = _our_inputs(ours, files, draft=False)
    want = _reference_inputs(transform, files)
    assert got.shape == want.shape == (len(files), 3, 64, 64)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_draft_input_is_within_the_stated_tolerance(models, images, name):
    ours, _, transform = models[name]
    files = _files(images)
    diff = np.abs(_our_inputs(ours, files, draft=True) - _reference_inputs(transform, files))
    per_image = diff.reshape(len(files), -1).mean(axis=1)
    assert per_image.max() <= DRAFT_MEAN_TOLERANCE, dict(zip((f.name for f in files), per_image.round(3)))
    assert diff.max() <= DRAFT_MAX_TOLERANCE
    # Draft mode only changes JPEGs that are decoded at a reduced scale or shrunk >= 3x.
    for f, d in zip(files, per_image):
        if f.suffix == ".png" and max(Image.open(f).size) < 3 * 64:
            assert d <= 1e-6, f.name


def test_the_folded_first_layer_sees_the_normalised_input(models, images):
    import torch

    ours, ref_model, transform = models["tiny-longest"]
    files = _files(images)[:6]
    batch = next(iter_pixel_batches(enumerate(files), ours.preprocess, 64, draft=False))[1]
    with torch.inference_mode():
        ref = ref_model.encode_image(torch.from_numpy(_reference_inputs(transform, files))).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(ours.encode_pixels(batch), ref, atol=2e-5)


@pytest.mark.parametrize("name", ["tiny", "tiny-squash", "tiny-bilinear"])
def test_each_stored_vector_is_nearest_to_open_clips_embedding_of_the_same_image(models, images, tmp_path, name):
    import torch

    ours, ref_model, transform = models[name]
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, images)
    embed_workspace(ws, ours, batch_size=8)  # the default: draft mode on
    matrix = ws.load_embeddings(ours.info.key)
    paths = {r.id: r.abs_path for r in ws.images()}
    files = [paths[int(i)] for i in matrix.ids]
    with torch.inference_mode():
        ref = ref_model.encode_image(torch.from_numpy(_reference_inputs(transform, files))).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    sims = np.asarray(matrix.vectors) @ ref.T
    assert (sims.argmax(axis=1) == np.arange(len(files))).all()
    ws.close()


def test_preprocess_version_names_what_changes_pixels():
    base = Preprocess(224)
    assert base.version.startswith("pp2-")
    changed = [
        Preprocess(256), Preprocess(224, mean=(0.5, 0.5, 0.5)), Preprocess(224, std=(0.5, 0.5, 0.5)),
        Preprocess(224, interpolation="bilinear"), Preprocess(224, resize_mode="squash"),
        Preprocess(224, resize_mode="longest"),
    ]
    assert len({p.version for p in changed} | {base.version}) == len(changed) + 1
    # The fill colour shows only where the image is padded.
    assert Preprocess(224, fill_color=255).version == base.version
    assert Preprocess(224, resize_mode="longest", fill_color=255).version != Preprocess(224, resize_mode="longest").version


def test_unsupported_configs_are_named():
    from clipcore.errors import InputError

    with pytest.raises(InputError, match="square"):
        Preprocess.from_open_clip({"size": (224, 256)})
    with pytest.raises(InputError, match="resize_mode.*'crop'"):
        Preprocess.from_open_clip({"size": 224, "resize_mode": "crop"})
    with pytest.raises(InputError, match="interpolation.*'lanczos'"):
        Preprocess.from_open_clip({"size": 224, "interpolation": "lanczos"})
    assert Preprocess.from_open_clip({"size": [64, 64], "mean": 0.5}).mean == (0.5, 0.5, 0.5)


def test_the_gpu_decoder_is_only_used_where_it_reproduces_the_transform(models):
    from clipcore.embedding.pipeline import make_decoder
    from clipcore.errors import InputError

    squash, tiny = models["tiny-squash"][0], models["tiny"][0]
    assert make_decoder(squash, "auto").name == "pillow"
    with pytest.raises(InputError, match="squash"):
        make_decoder(squash, "gpu")
    with pytest.raises(InputError, match="without draft"):
        make_decoder(tiny, "gpu", draft=False)
