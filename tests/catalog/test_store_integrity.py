"""Embeddings you can trust and reads that never write: versions, snapshots, damaged
vectors files, rebuild, compaction, read-only workspaces, locks."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading

import numpy as np
import pytest

from clipcore.catalog.store import Workspace
from clipcore.errors import WorkspaceError
from clipcore.embedding.models import embedding_set_key
from tests.helpers import run_cli

KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key


def _vectors_file(ws: Workspace):
    dirname, gen = ws.query("SELECT dirname, generation FROM embedding_sets WHERE key = ?", (KEY,))[0]
    return ws.embeddings_dir / dirname / ("vectors.f32" if gen == 0 else f"vectors.{gen}.f32")


def _one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_version_changes_with_every_change_of_live_rows(workspace):
    seen = {workspace.embedding_version(KEY)}
    some = workspace.images()[:2]
    with workspace.transaction() as conn:  # what ingest does when files vanish
        conn.execute("UPDATE images SET missing_since = 'now' WHERE id = ?", (some[0].id,))
    seen.add(workspace.embedding_version(KEY))
    workspace.forget_embeddings([some[1].id])  # what ingest does when content changes
    seen.add(workspace.embedding_version(KEY))
    workspace.compact_embeddings(KEY)
    seen.add(workspace.embedding_version(KEY))
    assert len(seen) == 4 and 0 not in seen
    assert workspace.embedding_version("other/model") == 0


def test_load_embeddings_reads_one_snapshot_while_a_writer_commits(workspace, tiny_model):
    dim = tiny_model.info.embed_dim
    ids = workspace.image_ids()
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer():
        other = Workspace(workspace.root)
        try:
            for rnd in range(5):
                with other.embedding_writer(KEY, dim) as w:
                    for start in range(0, len(ids), 4):
                        chunk = ids[start : start + 4]
                        w.append(chunk, np.full((len(chunk), dim), rnd, np.float32))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            stop.set()
            other.close()

    t = threading.Thread(target=writer)
    t.start()
    reads = 0
    while not stop.is_set() or reads == 0:
        m = workspace.load_embeddings(KEY)
        assert len(m.ids) == m.vectors.shape[0] == len(ids) == len(set(m.ids.tolist()))
        reads += 1
    t.join()
    assert not errors


@pytest.mark.parametrize("damage", ["short", "missing", "long"])
def test_damaged_vectors_file_is_a_clear_error_then_rebuild_recomputes(workspace, damage):
    path = _vectors_file(workspace)
    size = path.stat().st_size
    if damage == "short":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    elif damage == "missing":
        path.unlink()
    else:
        with open(path, "ab") as fh:
            fh.write(b"\0" * (size // 4))
    with pytest.raises(WorkspaceError, match="embed --rebuild"):
        workspace.load_embeddings(KEY)
    ws = str(workspace.root)
    info = json.loads(run_cli("info", "--workspace", ws, "--json").stdout)
    if damage == "long":  # maybe a writer's batch: load_embeddings decides
        assert info["damaged"] == {}
    else:  # `info` no longer says the images are embedded without saying the vectors are gone
        assert KEY in info["damaged"] and info["embedded"][KEY] == 32
        assert "unreadable" in run_cli("info", "--workspace", ws).stdout
    if damage != "long":  # never zero-extended: a plain embed refuses too
        line = _one_error_line(run_cli("embed", "--workspace", ws, "--model", "tiny", "--json"))
        assert "embed --rebuild" in line and "never zero-extended" in line
    out = json.loads(run_cli("embed", "--workspace", ws, "--model", "tiny", "--rebuild", "--json").stdout)
    assert out["embedded"] == 32
    m = workspace.load_embeddings(KEY)
    assert len(m.ids) == 32 and np.allclose(np.linalg.norm(m.vectors, axis=1), 1.0, atol=1e-3)
    assert workspace.damaged_embeddings() == {}


def test_compact_keeps_live_rows_only_and_their_vectors(workspace):
    before = workspace.load_embeddings(KEY)
    old_file = _vectors_file(workspace)
    gone = [int(i) for i in before.ids[::3]]
    with workspace.transaction() as conn:
        conn.executemany("UPDATE images SET missing_since = 'now' WHERE id = ?", [(i,) for i in gone])
    version = workspace.embedding_version(KEY)
    out = json.loads(run_cli("compact", "--workspace", str(workspace.root), "--json").stdout)
    assert out["sets"][KEY] == {"before": 32, "after": 32 - len(gone)}
    after = workspace.load_embeddings(KEY)
    assert workspace.embedding_version(KEY) != version
    assert _vectors_file(workspace).stat().st_size == (32 - len(gone)) * after.vectors.shape[1] * 4
    assert not old_file.exists()
    for i in after.ids:
        assert np.array_equal(after.vectors[after.rows_of([i])[0]], before.vectors[before.rows_of([i])[0]])


def test_compact_waits_for_no_one_while_an_embed_runs(workspace, tiny_model):
    with workspace.embedding_writer(KEY, tiny_model.info.embed_dim):
        line = _one_error_line(run_cli("compact", "--workspace", str(workspace.root)))
    assert "another process is embedding" in line


def test_reading_takes_no_write_lock(workspace):
    ws = str(workspace.root)
    blocker = sqlite3.connect(workspace.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # a writer holds the lock
    try:
        env = {"CLIPCORE_BUSY_TIMEOUT_MS": "300"}
        info = run_cli("info", "--workspace", ws, "--json", env=env)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["images"] == 32
        line = _one_error_line(run_cli("label", "--class", "x", "--ids", "1", "--workspace", ws, env=env))
        assert "locked by another process" in line
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@pytest.mark.parametrize("checkpointed", [False, True])
def test_read_only_workspace_reads_and_refuses_writes(workspace, checkpointed):
    from clipcore.catalog.labels import record_batch

    if checkpointed:  # no -wal/-shm left behind, as after a clean close
        workspace.query("PRAGMA wal_checkpoint(TRUNCATE)")
        workspace.close()
        for suffix in ("-wal", "-shm"):
            p = workspace.db_path.with_name(workspace.db_path.name + suffix)
            if p.exists():
                p.unlink()
    ro = Workspace(workspace.root, read_only=True)
    assert ro.counts()["images"] == 32 and len(ro.load_embeddings(KEY).ids) == 32
    with pytest.raises(WorkspaceError, match="read-only"):
        record_batch(ro, "x", [1], annotator="a", source={"kind": "test"})
    with pytest.raises(WorkspaceError, match="read-only"):
        ro.compact_embeddings()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_chmod_read_only_workspace_opens_read_only(workspace):
    ws = str(workspace.root)
    workspace.close()
    os.chmod(ws, 0o555)
    try:
        info = run_cli("info", "--workspace", ws, "--json")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["read_only"] is True
        assert "read-only" in _one_error_line(run_cli("label", "--class", "x", "--ids", "1", "--workspace", ws))
    finally:
        os.chmod(ws, 0o755)


def test_workspace_under_a_file_is_one_line(tmp_path, demo_dir):
    (tmp_path / "afile").write_text("x")
    line = _one_error_line(run_cli("ingest", str(demo_dir), "--workspace", str(tmp_path / "afile" / "ws")))
    assert "cannot use" in line or "is a file" in line


def test_full_disk_is_a_workspace_error(workspace, tiny_model, monkeypatch):
    from clipcore.embedding.pipeline import embed_workspace

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    with workspace.transaction() as conn:
        conn.execute("DELETE FROM embedding_rows WHERE image_id = 1")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(WorkspaceError, match="disk is full"):
        embed_workspace(workspace, tiny_model)
    monkeypatch.undo()
    assert len(workspace.load_embeddings(KEY).ids) == 31  # the store is still readable


def test_spread_sample_and_class_counts_read_a_bounded_number_of_rows(tmp_path):
    """Home's sample and per-class chart: aggregates and a spread sample, never every id."""
    from clipcore.sources.scale import make_scale_workspace

    ws = make_scale_workspace(tmp_path / "ws", 5000, key="synthetic-8", dim=8, clusters=10, thumbnails=2)
    truth = ws.ground_truth()
    spread = ws.spread_images(100)
    ids = [i for i, _ in spread]
    assert 90 <= len(spread) <= 110 and ids == sorted(ids)
    assert ids[-1] - ids[0] > 0.9 * (max(truth) - min(truth))  # the whole range, not the first files
    assert all(label == truth.get(i) for i, label in spread)
    from collections import Counter

    assert ws.ground_truth_counts() == dict(sorted(Counter(truth.values()).items()))
    assert Workspace(tmp_path / "empty").spread_images(10) == []


def test_change_count_moves_on_ground_truth_images_and_embeddings(tmp_path):
    """Home caches its summary on change_count: every change it shows must move it."""
    from clipcore.sources.scale import make_scale_workspace

    empty = Workspace(tmp_path / "empty").change_count()
    ws = make_scale_workspace(tmp_path / "ws", 20, key="synthetic-4", dim=4, clusters=2, thumbnails=1)
    after_images = ws.change_count()
    assert after_images > empty
    some = ws.image_ids()[:3].tolist()
    ws.set_ground_truth({i: "changed" for i in some}, origin="test")
    after_truth = ws.change_count()
    assert after_truth > after_images and ws.ground_truth_counts()["changed"] == 3
    ws.forget_embeddings(some)
    assert ws.change_count() > after_truth
