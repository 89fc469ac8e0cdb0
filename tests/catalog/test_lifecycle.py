"""The image lifecycle: files that vanish, move, come back or change; duplicates promoted;
odd names; one ingest at a time. Driven through ingest_folder and the CLI, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.embedding.pipeline import embed_workspace
from clipcore.errors import InputError
from clipcore.retrieval.search import top_k
from tests.helpers import ROOT, run_cli


def _jpeg(color, size=(40, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def collection(demo_dir, tmp_path):
    copy = tmp_path / "collection"
    shutil.copytree(demo_dir, copy)
    return copy


def test_delete_move_change_keeps_ids_labels_and_vectors(collection, tmp_path, tiny_model):
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, collection, labels_from_folders=True)
    embed_workspace(ws, tiny_model)
    key = tiny_model.info.key
    recs = ws.images()
    deleted, moved, changed = recs[:10], recs[10:20], recs[20:25]
    lbl.record_batch(ws, "keep me", [r.id for r in moved + deleted[:3]], annotator="ann", source={"kind": "test"})
    old = ws.load_embeddings(key)
    before = {r.id: np.array(old.vectors[old.rows_of([r.id])[0]]) for r in moved}
    version = ws.embedding_version(key)

    for r in deleted:
        (collection / r.path).unlink()
    (collection / "elsewhere").mkdir()
    for r in moved:
        os.rename(collection / r.path, collection / "elsewhere" / r.path.replace("/", "__"))
    for k, r in enumerate(changed):
        (collection / r.path).write_bytes(_jpeg((k * 40, 10, 200)))
    report = ingest_folder(ws, collection)

    assert (report.moved, report.vanished, report.updated, report.added) == (10, 10, 5, 0)
    assert ws.counts()["images"] == 22 and ws.counts()["missing"] == 10 and report.total == 22
    assert ws.embedding_version(key) != version  # a cache keyed on it reloads
    live = set(ws.image_ids().tolist())
    assert not live & {r.id for r in deleted} and {r.id for r in moved} <= live
    # Moved images: same id, new path, labels and vectors kept (nothing to re-embed but the changed five).
    paths = ws.paths([r.id for r in moved])
    assert all(paths[r.id] == "elsewhere/" + r.path.replace("/", "__") for r in moved)
    assert {i: c for i, c in lbl.current_labels(ws).items() if c == "keep me"} == {r.id: "keep me" for r in moved}
    assert sorted(ws.missing_embeddings(key)) == sorted(r.id for r in changed)
    m = ws.load_embeddings(key)
    assert all(np.allclose(m.vectors[m.rows_of([r.id])[0]], before[r.id]) for r in moved)
    # Deleted images: never searched, labelled or exported, but their label history stays.
    hits = top_k(m, m.vectors[0], k=100)
    assert not {h.id for h in hits} & {r.id for r in deleted}
    with pytest.raises(InputError, match="missing"):
        lbl.record_batch(ws, "x", [deleted[0].id], annotator="ann", source={"kind": "test"})
    assert {e["id"] for e in lbl.label_history(ws)} >= {r.id for r in deleted[:3]}
    assert not {row["id"] for row in lbl.current_label_rows(ws)} & {r.id for r in deleted}
    assert len(ws.missing_images()) == 10
    # Nothing left to do on a second run.
    again = ingest_folder(ws, collection)
    assert (again.moved, again.vanished, again.added, again.updated) == (0, 0, 0, 0) and again.missing == 10


def test_a_returning_file_is_live_again_with_its_id(collection, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, collection)
    rec = ws.images()[0]
    saved = tmp_path / "saved.jpg"
    shutil.move(collection / rec.path, saved)
    assert ingest_folder(ws, collection).vanished == 1
    assert rec.id not in ws.image_ids()
    shutil.move(saved, collection / rec.path)
    back = ingest_folder(ws, collection)
    assert back.returned == 1 and back.missing == 0 and rec.id in ws.image_ids()


def test_duplicate_is_promoted_when_its_canonical_copy_vanishes_or_changes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(_jpeg((200, 0, 0)))
    (src / "b.jpg").write_bytes(_jpeg((200, 0, 0)))
    (src / "c.jpg").write_bytes(_jpeg((0, 200, 0)))
    (src / "d.jpg").write_bytes(_jpeg((0, 200, 0)))
    ws = Workspace(tmp_path / "ws")
    first = ingest_folder(ws, src)
    assert first.total == 2 and first.duplicates == 2
    (src / "a.jpg").unlink()  # the canonical copy of b vanished
    (src / "c.jpg").write_bytes(_jpeg((0, 0, 250), (50, 50)))  # the canonical copy of d changed
    report = ingest_folder(ws, src)
    assert report.promoted == 2
    assert sorted(r.path for r in ws.images()) == ["b.jpg", "c.jpg", "d.jpg"]  # no content was lost
    assert ws.counts()["duplicates"] == 0


def test_undecodable_name_and_unreadable_file_are_skipped_rest_ingested(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.jpg").write_bytes(_jpeg((10, 20, 30)))
    with open(os.path.join(os.fsencode(src), b"bad-\xff-name.jpg"), "wb") as fh:
        fh.write(_jpeg((40, 50, 60)))
    os.mkdir(os.path.join(os.fsencode(src), b"dir-\xfe"))
    with open(os.path.join(os.fsencode(src), b"dir-\xfe", b"inside.jpg"), "wb") as fh:
        fh.write(_jpeg((70, 80, 90)))
    for _ in range(2):  # and again on a rerun
        proc = run_cli("ingest", str(src), "--workspace", str(tmp_path / "ws"), "--json")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["total"] == 1
        reasons = {s["path"]: s["reason"] for s in out["skipped"]}
        assert "not valid UTF-8" in reasons["bad-\\xff-name.jpg"] and "not valid UTF-8" in reasons["dir-\\xfe"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_skipped_with_a_reason(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.jpg").write_bytes(_jpeg((10, 20, 30)))
    locked = src / "locked.jpg"
    locked.write_bytes(_jpeg((1, 2, 3)))
    locked.chmod(0)
    report = ingest_folder(Workspace(tmp_path / "ws"), src)
    assert report.total == 1 and "cannot read" in report.skipped[0]["reason"]


def test_second_ingest_says_another_is_running(collection, tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.ingest_lock():
        proc = run_cli("ingest", str(collection), "--workspace", str(ws.root))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert lines == [lines[0]] and lines[0].startswith("error: another ingest is running")


def test_two_concurrent_ingests_never_crash(collection, tmp_path):
    ws_dir = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLIPCORE_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "clipcore", "ingest", str(collection), "--workspace", str(ws_dir), "--json", "--quiet"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for rc, out, err in results:
        assert "Traceback" not in err
        assert rc == 0 or (rc == 2 and "another ingest is running" in err)
    assert any(rc == 0 for rc, _, _ in results)
    ws = Workspace(ws_dir)
    assert ws.counts()["images"] == 32
    assert ws.query("SELECT COUNT(*) FROM images")[0][0] == 32  # no row twice


def test_many_openers_create_one_new_workspace_at_once(tmp_path):
    """Two ingests that both find the folder missing must not fail on the other's mkdir."""
    import threading

    root = tmp_path / "deep" / "ws"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_it():
        barrier.wait()
        try:
            Workspace(root).counts()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Workspace(root).counts()["images"] == 0


def test_info_reports_live_and_missing(collection, tmp_path):
    ws = str(tmp_path / "ws")
    assert run_cli("ingest", str(collection), "--workspace", ws, "--json").returncode == 0
    for path in sorted(collection.glob("cover/*.jpg"))[:3]:
        path.unlink()
    out = json.loads(run_cli("ingest", str(collection), "--workspace", ws, "--json").stdout)
    assert out["vanished"] == 3 and out["total"] == 29 and out["missing"] == 3
    info = json.loads(run_cli("info", "--workspace", ws, "--json").stdout)
    assert info["images"] == 29 and info["missing"] == 3


def test_a_new_catalog_opens_while_another_process_migrates_it(tmp_path):
    """Two first ingests at once (CI saw it): one process switches a new catalog to WAL while
    the other is inside its migration, which SQLite refuses at once, without its busy wait;
    the open now waits for the other's transaction, as any write does."""
    import sqlite3
    import threading
    import time

    root = tmp_path / "ws"
    root.mkdir()
    other = sqlite3.connect(root / Workspace(tmp_path / "probe").db_path.name, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE held (x)")  # a migration in progress elsewhere, no WAL yet
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    ws = Workspace(root)
    assert time.monotonic() - started >= 0.4  # it waited for the other transaction
    assert ws.counts()["images"] == 0
    other.close()
