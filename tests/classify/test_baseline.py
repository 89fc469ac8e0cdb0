"""EfficientNet baseline: weights resolution (offline, cache, checkpoint), the training
recipe's parts, and one end-to-end run of the tiny random-init variant."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clipcore.classify import baseline
from clipcore.classify.baseline import (
    ARCHS,
    RANDOM_INIT_WARNING,
    build_network,
    class_weights,
    find_cached_baseline_weights,
    parse_ks,
    resolve_weights,
    run_baseline,
    validation_slice,
)
from clipcore.errors import InputError, ModelUnavailableError
from clipcore.classify.splits import draw_training_sets, freeze_split


def test_arch_registry_matches_timm_pretrained_configs():
    import timm

    for arch, spec in ARCHS.items():
        if arch == baseline.TINY_ARCH:
            assert spec.timm_name in timm.list_models("test_*")
            continue
        cfg = timm.models.get_pretrained_cfg(spec.timm_name)
        assert cfg.hf_hub_id == spec.hf_hub_id
        assert cfg.url == spec.url
        assert cfg.input_size[-1] == spec.input_size


@pytest.mark.parametrize("arch", ["efficientnet_b4", "efficientnet_b0"])
def test_offline_failure_is_fast_and_names_both_ways_out(arch, monkeypatch):
    monkeypatch.setenv("CLIPCORE_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        resolve_weights(arch)
    assert time.perf_counter() - started < 5.0
    msg = str(err.value)
    assert arch in msg
    assert "connected machine" in msg and "huggingface" in msg  # way out 1: copy the cache
    assert "--checkpoint FILE" in msg  # way out 2: a local weights file


def test_unreachable_hub_fails_without_downloading(monkeypatch):
    monkeypatch.delenv("CLIPCORE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    probed = []
    monkeypatch.setattr(baseline, "host_reachable", lambda host: probed.append(host) or False)
    with pytest.raises(ModelUnavailableError, match="huggingface.co is unreachable"):
        resolve_weights("efficientnet_b4")
    assert probed == ["huggingface.co"]


def test_missing_checkpoint_and_tiny_checkpoint_are_refused(tmp_path):
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        resolve_weights("efficientnet_b0", checkpoint=tmp_path / "nope.pth")
    with pytest.raises(InputError, match="random-init"):
        resolve_weights("tiny", checkpoint=tmp_path / "nope.pth")
    with pytest.raises(InputError, match="unknown baseline architecture"):
        resolve_weights("resnet50")


def test_cached_weights_are_found_in_hf_and_torch_hub_caches(tmp_path, monkeypatch):
    hf = tmp_path / "hf"
    repo = hf / "models--timm--efficientnet_b0.ra_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model.safetensors").write_bytes(b"x")
    found = find_cached_baseline_weights("efficientnet_b0", cache_dir=str(hf))
    assert found is not None and found.name == "model.safetensors"
    assert find_cached_baseline_weights("efficientnet_b4", cache_dir=str(hf)) is None

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ckpts = tmp_path / "torch" / "hub" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "efficientnet_b4_ra2_320-7eb33cd5.pth").write_bytes(b"x")
    found = find_cached_baseline_weights("efficientnet_b4", cache_dir=str(hf))
    assert found == ckpts / "efficientnet_b4_ra2_320-7eb33cd5.pth"


def test_checkpoint_weights_are_loaded_and_head_replaced(tmp_path):
    import timm
    import torch

    source = timm.create_model("efficientnet_b0", pretrained=False)
    path = tmp_path / "b0.pth"
    torch.save(source.state_dict(), path)
    weights = resolve_weights("efficientnet_b0", checkpoint=path)
    assert weights.pretrained and weights.source == "checkpoint"
    net = build_network(weights, 3)
    assert torch.equal(net.conv_stem.weight, source.conv_stem.weight)
    assert net.get_classifier().out_features == 3

    wrong = tmp_path / "wrong.pth"
    torch.save(timm.create_model("test_efficientnet", pretrained=False).state_dict(), wrong)
    with pytest.raises(ModelUnavailableError, match="could not load"):
        build_network(resolve_weights("efficientnet_b0", checkpoint=wrong), 3)


def test_class_weights_balance_the_loss():
    w = class_weights(["a", "a", "a", "b"], ["a", "b", "c"])
    assert w[1] == pytest.approx(3 * w[0])
    assert w[2] == 0.0
    # Weighted counts are equal across present classes.
    assert 3 * w[0] == pytest.approx(1 * w[1])
    assert class_weights(["a", "b"], ["a", "b"]).tolist() == [1.0, 1.0]


def test_validation_slice_is_stratified_disjoint_and_needs_enough_images():
    labels = {i: "a" if i < 10 else "b" for i in range(15)}
    fit, val = validation_slice(list(labels), labels, fraction=0.2, seed=1)
    assert set(fit).isdisjoint(val) and set(fit) | set(val) == set(labels)
    assert sorted(labels[i] for i in val) == ["a", "a", "b"]
    assert validation_slice(list(labels), labels, seed=1) == (fit, val)
    small = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b", 6: "b"}
    assert validation_slice(list(small), small) == (list(small), [])


def test_parse_ks():
    assert parse_ks("1, 2,4,all,2") == [1, 2, 4, "all"]
    for bad in ("0", "x", "1.5", ""):
        with pytest.raises(InputError):
            parse_ks(bad)


def test_early_stopping_restores_and_stops(workspace, monkeypatch):
    split = freeze_split(workspace)
    ids = draw_training_sets(split, 4, 1, 0)[0]
    weights = resolve_weights("tiny")
    pixels = baseline.load_pixels(workspace, ids, 72)
    trainer = baseline._Trainer(weights, split.classes, pixels, device="cpu", batch_size=32, lr=1e-3, amp=False)
    losses = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    monkeypatch.setattr(trainer, "_loss", lambda ids, fn: next(losses))
    fit_ids, val_ids = validation_slice(ids, split.labels)
    epochs_seen = []
    ran, stopped = trainer.fit(fit_ids, val_ids, split.labels, epochs=20, seed=0, on_epoch=lambda: epochs_seen.append(1))
    assert stopped and ran == baseline.PATIENCE + 1 == len(epochs_seen)


def test_tiny_run_uses_the_split_and_the_shared_draws(workspace):
    ticks: list[tuple[int, int]] = []
    result = run_baseline(workspace, arch="tiny", ks="1,4,all,99", draws=2, epochs=1, progress=lambda d, t: ticks.append((d, t)))
    split = freeze_split(workspace)  # idempotent: the split the run froze
    res = result.results
    assert res["test_ids"] == split.test_ids
    assert res["split"]["test_ids"] == split.test_ids
    assert [(r["k"], r["draw"]) for r in res["rows"]] == [(1, 0), (1, 1), (4, 0), (4, 1), ("all", 0)]
    assert all(r["method"] == "tiny" and 0.0 <= r["error_rate"] <= 1.0 for r in res["rows"])
    for fit in res["fits"]:
        expected = draw_training_sets(split, fit["k"], 2, 0)[fit["draw"]]
        assert fit["n_train"] + fit["n_validation"] == len(expected)
    by_k = {str(f["k"]): f for f in res["fits"]}
    assert by_k["1"]["n_validation"] == 0 and by_k["4"]["n_validation"] > 0
    assert any("99" in n and "dropped" in n for n in res["notes"])
    assert any("fixed 1 epochs" in n and "k=1" in n for n in res["notes"])
    assert res["warnings"] == [RANDOM_INIT_WARNING] and res["pretrained"] is False
    assert RANDOM_INIT_WARNING in res["label"]
    cm = res["confusion_matrices"]["tiny"]
    assert cm["k"] == "all" and np.asarray(cm["matrix"]).sum() == len(split.test_ids)
    assert cm["labels"] == split.classes
    assert {s["k"]: s["n_draws"] for s in res["summary"]} == {1: 2, 4: 2, "all": 1}
    assert ticks[-1][0] == ticks[-1][1] == 5  # five fits (k=1 x2, k=4 x2, all x1)
    assert len(ticks) == 6  # one tick per fit, after the start
    assert [d for d, _ in ticks] == sorted(d for d, _ in ticks)
    assert result.settings["pretrained"] is False and result.settings["ks"] == [1, 4, "all"]


def test_checkpoint_run_is_labelled_pretrained_and_uses_the_real_network(workspace, tmp_path):
    import timm
    import torch

    path = tmp_path / "b0.pth"
    torch.save(timm.create_model("efficientnet_b0", pretrained=False).state_dict(), path)
    result = run_baseline(workspace, arch="efficientnet_b0", ks="1", draws=1, epochs=1, checkpoint=path, device="cpu")
    assert result.settings["weights_source"] == "checkpoint" and result.settings["weights_path"] == str(path.resolve())
    assert result.settings["input_size"] == 224 and result.settings["timm_model"] == "efficientnet_b0"
    assert result.results["pretrained"] is True and result.results["warnings"] == []
    assert len(result.results["rows"]) == 1 and result.results["rows"][0]["method"] == "efficientnet_b0"
