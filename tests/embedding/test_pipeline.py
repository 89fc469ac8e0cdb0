"""Embedding store: incremental runs, crash safety, resume after SIGKILL, one writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clipcore.embedding.pipeline import embed_workspace
from clipcore.errors import WorkspaceError
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.embedding.models import embedding_set_key

TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key

ROOT = Path(__file__).resolve().parents[2]


def test_incremental_and_consistent(workspace, tiny_model, demo_dir):
    key = tiny_model.info.key
    m = workspace.load_embeddings(key)
    assert m.vectors.shape == (32, tiny_model.info.embed_dim) and m.vectors.dtype == np.float32
    assert isinstance(m.vectors, np.memmap)  # contiguous rows stay memory-mapped
    np.testing.assert_allclose(np.linalg.norm(m.vectors, axis=1), 1.0, atol=1e-5)
    assert sorted(m.ids.tolist()) == workspace.image_ids().tolist()
    assert embed_workspace(workspace, tiny_model).embedded == 0
    # Stored vectors equal a fresh encoding of the same file.
    from clipcore.catalog.images import open_rgb

    rec = workspace.images()[3]
    fresh = tiny_model.encode_pixels(tiny_model.preprocess.apply(open_rgb(rec.abs_path, draft_to=64).image)[None])[0]
    row = m.rows_of([rec.id])[0]
    assert np.dot(fresh, m.vectors[row]) > 0.9999
    assert m.rows_of([10**9])[0] == -1


def test_uncommitted_tail_is_discarded(workspace, tiny_model):
    key = tiny_model.info.key
    set_dir = next((workspace.embeddings_dir).iterdir())
    vec_file = set_dir / "vectors.f32"
    size = vec_file.stat().st_size
    with workspace.transaction() as conn:  # a batch announced and written, then the process died before commit
        conn.execute("UPDATE embedding_sets SET pending_rows = 5")
    with open(vec_file, "ab") as fh:
        fh.write(np.ones((5, tiny_model.info.embed_dim), np.float32).tobytes())
    assert workspace.load_embeddings(key).vectors.shape[0] == 32  # readers see only committed rows
    with workspace.embedding_writer(key, tiny_model.info.embed_dim) as w:
        assert w.rows == 32
    assert vec_file.stat().st_size == size


def test_one_writer_per_model(workspace, tiny_model):
    key = tiny_model.info.key
    with workspace.embedding_writer(key, tiny_model.info.embed_dim):
        other = Workspace(workspace.root)
        with pytest.raises(WorkspaceError, match="another process is embedding"):
            with other.embedding_writer(key, tiny_model.info.embed_dim):
                pass


def test_unreadable_file_is_reported_not_fatal(demo_dir, tmp_path, tiny_model):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(demo_dir / "cover", copy)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, copy)
    victim = sorted(copy.iterdir())[0]
    victim.unlink()
    report = embed_workspace(ws, tiny_model)
    assert report.embedded == 7 and len(report.failed) == 1
    assert report.failed[0]["path"] == victim.name


def test_sigkill_then_restart_finishes_without_redoing(tmp_path, demo_dir):
    ws_dir = tmp_path / "ws"
    ws = Workspace(ws_dir)
    ingest_folder(ws, demo_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "clipcore", "embed", "--workspace", str(ws_dir), "--model", "tiny",
           "--batch-size", "2", "--json", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        committed = ws.embedded_count(TINY_KEY)
        if committed >= 4:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    at_kill = ws.embedded_count(TINY_KEY)
    assert at_kill >= 4
    # The store is readable and consistent right after the kill.
    m = ws.load_embeddings(TINY_KEY)
    assert len(m.ids) == at_kill == len(set(m.ids.tolist()))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    second = json.loads(done.stdout)
    assert second["embedded"] == 32 - at_kill  # completed batches were not redone
    m = ws.load_embeddings(TINY_KEY)
    assert sorted(m.ids.tolist()) == ws.image_ids().tolist()
