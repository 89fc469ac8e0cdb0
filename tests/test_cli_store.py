"""The store's CLI promises: explicit split freezing with a group-by choice, and evaluation
that says how many frozen members went missing."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import run_cli


def ok_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def volumes(demo_dir, tmp_path):
    """The demo images spread over 4 volumes: vol<n>/<class>/<file>."""
    root = tmp_path / "volumes"
    for cls_dir in sorted(p for p in demo_dir.iterdir() if p.is_dir()):
        for k, f in enumerate(sorted(cls_dir.iterdir())):
            target = root / f"vol{k % 4}" / cls_dir.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target / f.name)
    return root


@pytest.mark.parametrize("group_by", ["folder", "group"])
def test_split_freeze_keeps_groups_on_one_side(volumes, tmp_path, group_by):
    ws = str(tmp_path / "ws")
    ok_json(run_cli("ingest", str(volumes), "--workspace", ws, "--labels-from-folders", "--json"))
    out = ok_json(run_cli("split", "freeze", "--group-by", group_by, "--workspace", ws, "--json"))
    split = out["split"]
    assert out["created"] and split["group_by"] == group_by and split["test_ids"]
    from clipcore.catalog.store import Workspace

    paths = Workspace(ws).paths(split["train_ids"] + split["test_ids"])
    vol = {i: paths[i].split("/")[0] for i in paths}
    assert not {vol[i] for i in split["train_ids"]} & {vol[i] for i in split["test_ids"]}
    again = ok_json(run_cli("split", "freeze", "--group-by", "none", "--seed", "5", "--workspace", ws, "--json"))
    assert not again["created"] and again["split"] == split and "kept unchanged" in again["notes"][0]
    shown = ok_json(run_cli("split", "show", "--workspace", ws, "--json"))
    assert shown["split"] == split and shown["missing"] == []


def test_split_show_without_a_split_is_one_line(tmp_path, demo_dir):
    ws = str(tmp_path / "ws")
    ok_json(run_cli("ingest", str(demo_dir), "--workspace", ws, "--json"))
    proc = run_cli("split", "show", "--workspace", ws)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: no split named 'default' is frozen; run `python -m clipcore split freeze --name default`."
    ]


def test_evaluation_leaves_out_missing_members_and_says_how_many(demo_dir, tmp_path):
    collection = tmp_path / "collection"
    shutil.copytree(demo_dir, collection)
    ws = str(tmp_path / "ws")
    ok_json(run_cli("ingest", str(collection), "--workspace", ws, "--labels-from-folders", "--json"))
    ok_json(run_cli("embed", "--workspace", ws, "--model", "tiny", "--json"))
    split = ok_json(run_cli("split", "freeze", "--workspace", ws, "--json"))["split"]
    from clipcore.catalog.store import Workspace

    paths = Workspace(ws).paths(split["test_ids"][:2])
    for p in paths.values():
        (collection / p).unlink()
    assert ok_json(run_cli("ingest", str(collection), "--workspace", ws, "--json"))["vanished"] == 2
    shown = ok_json(run_cli("split", "show", "--workspace", ws, "--json"))
    assert shown["split"]["test_ids"] == split["test_ids"] and shown["missing"] == sorted(split["test_ids"][:2])
    out = ok_json(run_cli("evaluate", "--methods", "knn", "--k", "1", "--draws", "1", "--workspace", ws,
                          "--model", "tiny", "--json"))
    assert any("2 image(s) of split 'default' (2 of its hold-out) are missing" in w for w in out["warnings"])
    assert out["split"]["n_test"] == len(split["test_ids"]) - 2
