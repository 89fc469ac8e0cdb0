"""A source file swapped for a symlink after ingest: embed, export and view refuse it,
and grids never fall back to the original's bytes."""

from __future__ import annotations

import base64
import shutil

import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.embedding.pipeline import embed_workspace
from clipcore.errors import UnsafePathError

SECRET = b"root:x:0:0:secret line that must never reach a browser\n"


@pytest.fixture
def swapped(demo_dir, tmp_path):
    """A workspace ingested from a copy of the demo; then one source file becomes a
    symlink to a text file outside the source root, another to a JPEG outside it."""
    src = tmp_path / "src"
    shutil.copytree(demo_dir, src)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, src)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    records = ws.images()
    text_rec, jpeg_rec = records[0], records[1]
    shutil.copy(jpeg_rec.abs_path, outside / "private.jpg")
    for rec, target in ((text_rec, outside / "secret.txt"), (jpeg_rec, outside / "private.jpg")):
        rec.abs_path.unlink()
        rec.abs_path.symlink_to(target)
    yield ws, text_rec, jpeg_rec
    ws.close()


def test_real_path_refuses_a_link_out_of_the_source_root(swapped):
    ws, text_rec, jpeg_rec = swapped
    for rec in (text_rec, jpeg_rec):
        with pytest.raises(UnsafePathError, match="outside its source folder"):
            rec.real_path()
    ok = ws.images()[2]
    assert ok.real_path() == ok.abs_path.resolve()


def test_embed_skips_swapped_files_with_a_reason(swapped, tiny_model):
    ws, text_rec, jpeg_rec = swapped
    report = embed_workspace(ws, tiny_model, batch_size=8)
    failed = {f["id"]: f["reason"] for f in report.failed}
    assert set(failed) == {text_rec.id, jpeg_rec.id}
    assert all("outside its source folder" in r for r in failed.values())
    assert report.embedded == len(ws.images()) - 2


def test_folder_export_does_not_copy_what_a_link_points_at(swapped, tmp_path):
    ws, text_rec, jpeg_rec = swapped
    ids = [r.id for r in ws.images()[:4]]
    lbl.record_batch(ws, "cover", ids, annotator="alice", source={"kind": "test"})
    report = lbl.export_labels(ws, tmp_path / "out", "folders")
    assert report["files"] == 2 and len(report["skipped"]) == 2
    copied = [p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert SECRET not in copied
    assert (tmp_path / "outside" / "private.jpg").read_bytes() not in copied


def test_grid_shows_a_placeholder_not_the_original_when_a_thumbnail_is_missing(swapped):
    from ui.widgets.grid import thumbnail_paths
    from ui.core.resources import PLACEHOLDER_URL, thumbnail_url

    ws, text_rec, _ = swapped
    ws.thumbnail_path(text_rec.content_hash).unlink()
    (path,) = thumbnail_paths(ws, [text_rec])
    url = thumbnail_url(path)
    assert url == PLACEHOLDER_URL
    assert base64.b64encode(SECRET).decode() not in url
