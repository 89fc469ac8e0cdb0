"""A second model as a user adds one: `embed --checkpoint` gives its own embedding set, and
`evaluate --models` scores every model on the same hold-out, one row per model and method."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import run_cli


def ok_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def save_tiny_checkpoint(path, seed: int) -> None:
    """A tiny state dict with another random init: a real, different (untrained) second model."""
    import open_clip
    import torch

    from clipcore.embedding.models import register_tiny_model

    register_tiny_model()
    torch.manual_seed(seed)
    torch.save(open_clip.create_model("tiny").state_dict(), path)


def test_second_model_embeds_into_its_own_set_and_evaluates_side_by_side(tmp_path):
    demo, ws, ckpt = tmp_path / "demo", tmp_path / "ws", tmp_path / "tiny-seed7.pt"
    ok_json(run_cli("demo", "--out", str(demo), "--per-class", "4", "--json"))
    ok_json(run_cli("ingest", str(demo), "--workspace", str(ws), "--labels-from-folders", "--json"))
    first = ok_json(run_cli("embed", "--workspace", str(ws), "--model", "tiny", "--json"))
    save_tiny_checkpoint(ckpt, seed=7)
    second = ok_json(run_cli("embed", "--workspace", str(ws), "--model", "tiny", "--checkpoint", str(ckpt), "--json"))
    assert second["embedded"] == 16 and second["key"] != first["key"] and "/sha256-" in second["key"]
    assert second["warning"] == "untrained model - results are not meaningful"  # a saved random init stays untrained

    info = ok_json(run_cli("info", "--workspace", str(ws), "--json"))
    assert info["embedded"] == {first["key"]: 16, second["key"]: 16}

    out = ok_json(run_cli(
        "evaluate", "--workspace", str(ws), "--model", "tiny", "--k", "1,2", "--draws", "2",
        "--methods", "zero_shot,logreg", "--models", "all", "--json",
    ))
    rows = {(r["method"], str(r["k"])) for r in out["error_rates"]}
    assert rows == {
        ("zero_shot · tiny (untrained)", "0"), ("logreg · tiny (untrained)", "1"), ("logreg · tiny (untrained)", "2"),
        ("zero_shot · tiny (tiny-seed7.pt) (untrained)", "0"),
        ("logreg · tiny (tiny-seed7.pt) (untrained)", "1"), ("logreg · tiny (tiny-seed7.pt) (untrained)", "2"),
    }
    assert [m["key"] for m in out["settings"]["models"]] == [first["key"], second["key"]]
    assert all(m["untrained"] for m in out["settings"]["models"])

    bad = run_cli("evaluate", "--workspace", str(ws), "--model", "tiny", "--models", "nope/none@x", "--json")
    assert bad.returncode != 0 and "nope/none@x" in bad.stderr and "known:" in bad.stderr
