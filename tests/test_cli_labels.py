"""The label / labels subcommands, run as a user would: a subprocess per command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASS = '<i>"版画"</i> & co'


def _cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CLIPCORE_ANNOTATOR="env-annotator")
    proc = subprocess.run([sys.executable, "-m", "clipcore", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert (proc.returncode == 0) == ok, proc.stderr
    return proc


def test_label_list_undo_and_export(workspace, tmp_path):
    ws = str(workspace.root)
    out = json.loads(_cli("label", "--class", CLASS, "--ids", "1,2,3", "--reject", "4", "--annotator", "Ann", "--source", "by eye", "--workspace", ws, "--json").stdout)
    assert out["labeled"] == 3 and len(out["batch_id"]) == 32
    second = json.loads(_cli("label", "--class", "text", "--ids", "3", "--workspace", ws, "--json").stdout)

    rows = json.loads(_cli("labels", "--workspace", ws, "--json").stdout)["labels"]
    assert [(r["id"], r["class"], r["annotator"]) for r in rows] == [(1, CLASS, "Ann"), (2, CLASS, "Ann"), (3, "text", "env-annotator")]
    assert set(rows[0]) == {"id", "path", "class", "annotator", "batch_id", "at"}
    assert rows[0]["batch_id"] == out["batch_id"]
    history = json.loads(_cli("labels", "--history", "--workspace", ws, "--json").stdout)["labels"]
    assert [(e["id"], e["kind"]) for e in history] == [(1, "assign"), (2, "assign"), (3, "assign"), (4, "reject"), (3, "assign")]

    assert json.loads(_cli("label", "--undo", second["batch_id"], "--workspace", ws, "--json").stdout) == {"reverted": 1}
    assert json.loads(_cli("label", "--undo", second["batch_id"], "--workspace", ws, "--json").stdout) == {"reverted": 0}
    rows = json.loads(_cli("labels", "--workspace", ws, "--json").stdout)["labels"]
    assert [(r["id"], r["class"]) for r in rows] == [(1, CLASS), (2, CLASS), (3, CLASS)]
    human = _cli("labels", "--workspace", ws).stdout.splitlines()
    assert len(human) == 3 and all(CLASS in line for line in human)

    _cli("labels", "--workspace", ws, "--export", str(tmp_path / "csv"), "--json")
    exported = list(csv.DictReader((tmp_path / "csv" / "labels.csv").open(encoding="utf-8")))
    assert [r["class"] for r in exported] == [CLASS] * 3
    _cli("labels", "--workspace", ws, "--export", str(tmp_path / "json"), "--format", "json", "--history")
    assert len(json.loads((tmp_path / "json" / "labels-history.json").read_text(encoding="utf-8"))["events"]) == 5
    report = json.loads(_cli("labels", "--workspace", ws, "--export", str(tmp_path / "img"), "--format", "folders", "--json").stdout)
    (folder,) = (tmp_path / "img").iterdir()
    assert report["files"] == 3 and len(list(folder.iterdir())) == 3 and "/" not in folder.name


def test_bad_input_exits_2_with_one_line(workspace):
    ws = str(workspace.root)
    for args in (
        ["label", "--class", "x", "--ids", "1,999999"],
        ["label", "--class", "x", "--ids", "1,two"],
        ["label", "--undo", "no-such-batch"],
        ["label", "--ids", "1"],
    ):
        proc = _cli(*args, "--workspace", ws, "--json", ok=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert json.loads(_cli("labels", "--workspace", ws, "--json").stdout) == {"labels": []}


def test_rename_annotator_moves_a_persons_batches(workspace):
    ws = str(workspace.root)
    _cli("label", "--class", "map", "--ids", "1,2", "--annotator", "alice@lab.org", "--workspace", ws, "--json")
    out = json.loads(_cli("labels", "--rename-annotator", "alice@lab.org", "sub-alice", "--workspace", ws, "--json").stdout)
    assert out["renamed"]["batches"] == 1 and out["renamed"]["events"] == 2
    rows = json.loads(_cli("labels", "--workspace", ws, "--json").stdout)["labels"]
    assert {r["annotator"] for r in rows} == {"sub-alice"}
