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


def _tiny_checkpoint(path, seed: int):
    import open_clip
    import torch

    from clipcore.embedding.models import TINY_CONFIG, register_model_config

    register_model_config("tiny-ckpt", TINY_CONFIG)
    torch.manual_seed(seed)
    torch.save(open_clip.create_model("tiny-ckpt").state_dict(), path)
    return path


def test_checkpoint_key_names_the_content_not_the_path(tmp_path, monkeypatch):
    import hashlib
    import os
    import shutil

    import clipcore.embedding.models as m

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a = _tiny_checkpoint(tmp_path / "a.pt", seed=1)
    b = tmp_path / "elsewhere" / "b.pt"
    b.parent.mkdir()
    shutil.copyfile(a, b)
    key = m.embedding_set_key("tiny-ckpt", checkpoint=a)
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert key == f"tiny-ckpt/sha256-{digest[:16]}@{m.model_preprocess('tiny-ckpt').version}"
    assert m.embedding_set_key("tiny-ckpt", checkpoint=b) == key  # same weights, another path
    assert load_model("tiny-ckpt", checkpoint=b, precision="fp32", device="cpu").info.key == key

    # Cached by (path, size, mtime): a second look does not read the file again...
    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed again")

    monkeypatch.setattr(m.hashlib, "sha256", no_hashing)
    assert m.embedding_set_key("tiny-ckpt", checkpoint=a) == key
    # ...but weights replaced at the same path are hashed again.
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _tiny_checkpoint(a, seed=2)
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 10**9))
    assert m.embedding_set_key("tiny-ckpt", checkpoint=a) != key
    assert m.embedding_set_key("tiny-ckpt", checkpoint=b) == key


def _as_before_set_keys(ws) -> None:
    """Make a workspace look like one written before set keys carried weights and preprocessing."""
    from clipcore.catalog.store import MIGRATIONS

    name = next(n for n, _ in MIGRATIONS if n.startswith("0010_"))
    with ws.transaction() as conn:
        conn.execute("DROP TABLE embedding_set_legacy_keys")
        conn.execute("DELETE FROM schema_migrations WHERE name = ?", (name,))


def test_sets_under_the_old_key_are_renamed_on_open_and_keep_serving(workspace, tiny_model):
    import json

    from clipcore.catalog.store import _safe_dirname
    from clipcore.embedding.models import legacy_embedding_key
    from tests.helpers import run_cli

    old_key = legacy_embedding_key("tiny", None)
    assert old_key == "tiny/none"
    old_dir = _safe_dirname(old_key)
    before = workspace.load_embeddings(tiny_model.info.key)
    vectors = np.array(before.vectors)
    # The set as the old key function stored it: key and folder name from "tiny/none".
    (workspace.embeddings_dir / _safe_dirname(tiny_model.info.key)).rename(workspace.embeddings_dir / old_dir)
    with workspace.transaction() as conn:
        conn.execute("UPDATE embedding_sets SET key = ?, dirname = ?", (old_key, old_dir))
    _as_before_set_keys(workspace)
    workspace.close()

    info = run_cli("info", "--workspace", str(workspace.root), "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["embedded"] == {tiny_model.info.key: 32}
    again = run_cli("embed", "--workspace", str(workspace.root), "--model", "tiny", "--json", "--quiet")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["embedded"] == 0  # nothing recomputed
    after = workspace.load_embeddings(tiny_model.info.key)
    np.testing.assert_array_equal(after.ids, before.ids)
    np.testing.assert_array_equal(np.asarray(after.vectors), vectors)  # the same file, not a copy
    assert [p.name for p in workspace.embeddings_dir.iterdir()] == [old_dir]
    assert workspace.legacy_embedding_sets() == {}


def test_rekeying_keeps_every_legacy_set(workspace, tmp_path, monkeypatch):
    from clipcore.embedding.models import (
        TINY_CONFIG, embedding_set_key, legacy_embedding_key, register_model_config, rekey_legacy_sets,
    )

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    register_model_config("tiny-squash", TINY_CONFIG, {"resize_mode": "squash"})
    ckpt = _tiny_checkpoint(tmp_path / "w.pt", seed=3)
    legacy = {
        "ckpt": legacy_embedding_key("tiny-ckpt", str(ckpt)),
        "squash": legacy_embedding_key("tiny-squash", None),
        "gone": legacy_embedding_key("tiny-ckpt", str(tmp_path / "deleted.pt")),
        "unknown": legacy_embedding_key("no-such-model", None),
    }
    ids = workspace.image_ids()[:3]
    for key in legacy.values():
        with workspace.embedding_writer(key, 64) as writer:
            writer.append(ids, np.eye(3, 64, dtype=np.float32))
    _as_before_set_keys(workspace)
    ws = type(workspace)(workspace.root)  # reopen: migration 0010 lists the sets made before it
    # The fixture's tiny set already has a current key: listed too, and left as it is.
    assert set(ws.legacy_embedding_sets().values()) == set(legacy.values()) | {embedding_set_key("tiny")}
    renamed = dict(rekey_legacy_sets(ws))
    # A checkpoint by content; a squash model's old vectors were made with the old
    # shortest-side crop, so they stay under a legacy-preprocessing key nobody reads.
    assert renamed[legacy["ckpt"]] == embedding_set_key("tiny-ckpt", checkpoint=ckpt)
    assert renamed[legacy["squash"]] == "tiny-squash/none@pp1"
    assert embedding_set_key("tiny-squash") != "tiny-squash/none@pp1"
    # What cannot be resolved now keeps its old key and is retried next time.
    assert set(ws.legacy_embedding_sets().values()) == {legacy["gone"], legacy["unknown"]}
    keys = ws.embedding_keys()
    assert {legacy["gone"], legacy["unknown"], "tiny-squash/none@pp1", renamed[legacy["ckpt"]]} <= set(keys)
    assert all(keys[k] == 3 for k in keys if k != embedding_set_key("tiny"))
    assert rekey_legacy_sets(ws) == []
    ws.close()


def test_reduced_precision_is_open_clips_own(demo_dir):
    import open_clip
    import torch

    from clipcore.embedding.models import OPEN_CLIP_PRECISION, TINY_SEED, _normalise

    ours = load_model("tiny", precision="bf16", device="cpu")
    torch.manual_seed(TINY_SEED)
    ref = open_clip.create_model("tiny", pretrained=None, precision=OPEN_CLIP_PRECISION["bf16"]).eval()
    assert {p.dtype for p in ours._model.parameters()} == {p.dtype for p in ref.parameters()} == {torch.bfloat16}
    px = _pixels(demo_dir, ours.image_size, n=6)
    x = torch.from_numpy(ours.preprocess.normalise(px)).to(open_clip.get_input_dtype(OPEN_CLIP_PRECISION["bf16"]))
    with torch.inference_mode():
        want = _normalise(ref.encode_image(x).float().numpy())
    assert np.sum(ours.encode_pixels(px) * want, axis=1).min() >= 0.999  # bf16 rounding of the folded layer
