"""Model loading: the tiny model, precision choice, offline failure."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clipcore.errors import InputError, ModelUnavailableError
from clipcore.catalog.images import open_rgb
from clipcore.embedding.models import embedding_set_key, load_model, resolve_precision
from clipcore.embedding.preprocess import Preprocess


def _pixels(demo_dir, size, n=6):
    files = sorted(demo_dir.rglob("*.jpg"))[:n]
    return np.stack([Preprocess(size).apply(open_rgb(f).image) for f in files])


def test_tiny_embeddings_are_unit_norm_float32_and_deterministic(tiny_model, demo_dir):
    px = _pixels(demo_dir, tiny_model.image_size)
    a = tiny_model.encode_pixels(px)
    assert a.dtype == np.float32 and a.shape == (len(px), tiny_model.info.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    again = load_model("tiny", precision="fp32", device="cpu").encode_pixels(px)
    np.testing.assert_allclose(a, again, atol=1e-6)  # seeded random init: same weights every load
    t = tiny_model.encode_texts(["a book cover", "a blank page"])
    assert t.shape == (2, tiny_model.info.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(t[0], t[1])
    assert tiny_model.info.untrained and tiny_model.info.key.startswith("tiny/none@pp2-")
    assert tiny_model.info.key == embedding_set_key("tiny")


def test_bf16_agrees_with_fp32(demo_dir):
    fp32 = load_model("tiny", precision="fp32", device="cpu")
    bf16 = load_model("tiny", precision="bf16", device="cpu")
    px = _pixels(demo_dir, fp32.image_size, n=8)
    cos = np.sum(fp32.encode_pixels(px) * bf16.encode_pixels(px), axis=1)
    assert cos.min() >= 0.999
    tcos = np.sum(fp32.encode_texts(["old paper", "a woodblock print"]) * bf16.encode_texts(["old paper", "a woodblock print"]), axis=1)
    assert tcos.min() >= 0.999


def test_precision_auto_rules(monkeypatch):
    import clipcore.embedding.models as m

    assert resolve_precision("auto", "cuda") == "fp16"
    monkeypatch.setattr(m, "cpu_has_bf16_units", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(m, "cpu_has_bf16_units", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(InputError):
        resolve_precision("fp16", "cpu")


@pytest.mark.parametrize("offline_flag", [True, False])
def test_missing_weights_fail_fast_with_both_ways_out(monkeypatch, tmp_path, offline_flag):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setenv("HOME", str(tmp_path))
    if not offline_flag:
        # Exercise the network probe too (no route to the hub here, nor in CI).
        monkeypatch.delenv("CLIPCORE_OFFLINE", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        load_model("ViT-B-32", "laion2b_s34b_b79k")
    assert time.perf_counter() - started < 5.0
    msg = str(err.value)
    assert "ViT-B-32/laion2b_s34b_b79k" in msg
    assert "python -m clipcore download-model" in msg and "checkpoint" in msg


def test_bad_names_are_named_in_the_error(tmp_path):
    with pytest.raises(InputError, match="unknown model 'ViT-Z-99'"):
        load_model("ViT-Z-99")
    with pytest.raises(InputError, match="unknown pretrained tag 'nope'.*laion2b_s34b_b79k"):
        load_model("ViT-B-32", "nope")
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_model("ViT-B-32", checkpoint=tmp_path / "missing.bin")


def test_local_checkpoint_is_loaded(tmp_path, demo_dir):
    import json

    import open_clip
    import torch

    from clipcore.embedding.models import TINY_CONFIG

    # The tiny architecture under another name: `tiny` itself always means random init.
    (tmp_path / "tiny-ckpt.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(tmp_path / "tiny-ckpt.json")
    src = load_model("tiny", precision="fp32", device="cpu")
    torch.manual_seed(1)
    ckpt = tmp_path / "weights.pt"
    torch.save(open_clip.create_model("tiny-ckpt").state_dict(), ckpt)

    model = load_model("tiny-ckpt", checkpoint=ckpt, precision="fp32", device="cpu")
    assert not model.info.untrained and model.info.checkpoint == str(ckpt)
    px = _pixels(demo_dir, model.image_size, n=3)
    assert not np.allclose(model.encode_pixels(px), src.encode_pixels(px), atol=1e-3)


def test_folded_normalisation_matches_explicit(tiny_model, demo_dir):
    from clipcore.embedding.models import _normalise

    px = _pixels(demo_dir, tiny_model.image_size, n=4)
    assert tiny_model._folded
    import torch

    unfolded = load_model("tiny", precision="fp32", device="cpu")
    with torch.no_grad():  # rebuild the original first layer from a fresh, identical model
        import open_clip

        torch.manual_seed(20240401)
        fresh = open_clip.create_model("tiny").eval()
    x = torch.from_numpy(px).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(tiny_model.mean).view(1, 3, 1, 1)) / torch.tensor(tiny_model.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        explicit = _normalise(fresh.encode_image(x).numpy())
    np.testing.assert_allclose(unfolded.encode_pixels(px), explicit, atol=2e-5)


def test_text_validation(tiny_model):
    with pytest.raises(InputError, match="empty"):
        tiny_model.encode_texts(["  "])
    with pytest.raises(InputError, match="2001 characters"):
        tiny_model.encode_texts(["x" * 2001])
