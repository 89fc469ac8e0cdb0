"""The command line as a user runs it: a subprocess, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli
from clipcore.embedding.models import embedding_set_key

TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key

ROOT = Path(__file__).resolve().parents[1]


def ok_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # exactly one JSON object on stdout


def test_contract_end_to_end(tmp_path):
    demo = tmp_path / "demo"
    ws = tmp_path / "ws"
    out = ok_json(run_cli("demo", "--out", str(demo), "--per-class", "3", "--json"))
    assert out["classes"] == {"illustration": 3, "text": 3, "blank page": 3, "cover": 3}
    (demo / "text" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")

    ing = ok_json(run_cli("ingest", str(demo), "--workspace", str(ws), "--labels-from-folders", "--json"))
    assert {"added", "duplicates", "skipped", "total"} <= ing.keys()
    assert ing["added"] == 12 and ing["total"] == 12 and ing["duplicates"] == 0
    assert ing["skipped"] == [{"path": "text/broken.jpg", "reason": ing["skipped"][0]["reason"]}]

    emb = ok_json(run_cli("embed", "--workspace", str(ws), "--model", "tiny", "--json"))
    assert emb["model"] == "tiny" and emb["pretrained"] is None and emb["embedded"] == 12
    assert emb["images_per_s"] > 0 and emb["seconds"] > 0
    assert emb["warning"] == "untrained model - results are not meaningful"

    res = ok_json(run_cli("search", "a book cover", "--workspace", str(ws), "--model", "tiny", "-k", "5", "--json"))
    hits = res["results"]
    assert len(hits) == 5 and {"id", "path", "score"} == set(hits[0])
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert res["warning"] == "untrained model - results are not meaningful"

    info = ok_json(run_cli("info", "--workspace", str(ws), "--json"))
    assert info["images"] == 12 and info["embedded"] == {TINY_KEY: 12} and info["skipped"] == 1

    human = run_cli("search", "a book cover", "--workspace", str(ws), "--model", "tiny", "-k", "2")
    assert human.returncode == 0 and "untrained model" in human.stderr and len(human.stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    "args, expected",
    [
        (("ingest", "/definitely/not/here", "--json"), "does not exist"),
        (("embed", "--model", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k"), "download-model"),
        (("embed", "--model", "ViT-B-32", "--pretrained", "bogus"), "unknown pretrained tag"),
        (("search", "x", "--workspace", "/definitely/not/here"), "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, expected):
    if args[0] == "embed":
        from clipcore.catalog.store import Workspace

        Workspace(tmp_path / "ws").close()
        args = (*args, "--workspace", str(tmp_path / "ws"))
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_bench_reports_both_rates(demo_dir):
    out = ok_json(run_cli("bench", "--images", str(demo_dir), "--model", "tiny", "--limit", "16", "--json"))
    assert out["images"] == 16 and out["model"] == "tiny" and out["weights"] == "random"
    assert out["images_per_s_end_to_end"] > 0 and out["images_per_s_model_only"] > 0
    assert out["device"] == "cpu" and out["precision"] in ("bf16", "fp32")
