"""The class-folder export as a ZIP (clipcore.catalog.exportzip)."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.exportzip import KEEP_THUMBNAIL_ZIPS, export_zip, list_zips
from clipcore.errors import InputError
from tests.helpers import run_cli


def test_the_zip_holds_the_folder_exports_files_and_is_named_after_the_collection(workspace, tmp_path):
    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "a/b: odd", ids[3:5], annotator="alice", source={"kind": "text"})
    seen = []
    got = export_zip(workspace, "Hokusai prints", progress=lambda d, t: seen.append((d, t)))
    path = Path(got["zip"])
    assert path.parent == workspace.root / "exports" and path.name.startswith("Hokusai-prints-labels-originals-")
    assert list_zips(workspace) == [path] and seen[-1] == (5, 5)
    folders = lbl.export_labels(workspace, tmp_path / "out", "folders")
    on_disk = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == on_disk  # the same layout as the folder export
        first = on_disk[0]
        assert zf.read(first) == (tmp_path / "out" / first).read_bytes()
    assert got["files"] == folders["files"] == 5 and got["classes"] == {"a/b: odd": 2, "cover": 3}
    assert not list((workspace.root / "exports").glob(".*.tmp"))


def test_over_the_size_limit_or_with_nothing_labelled_it_refuses(workspace):
    with pytest.raises(InputError, match="nothing is labelled"):
        export_zip(workspace, "demo")
    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    with pytest.raises(InputError, match="more than the export limit of 0 MB"):
        export_zip(workspace, "demo", max_mb=0)
    assert list_zips(workspace) == []


def test_the_cli_builds_a_zip_of_thumbnails_small_jpegs_in_class_folders(workspace):
    from PIL import Image

    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "text", ids[3:5], annotator="alice", source={"kind": "text"})
    workspace.close()  # the CLI writes the workspace from its own process
    for _ in range(KEEP_THUMBNAIL_ZIPS + 1):  # older thumbnail ZIPs are pruned
        done = run_cli("export-zip", "--workspace", str(workspace.root), "--name", "demo", "--content", "thumbnails", "--json")
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)  # a new name each second
    got = json.loads(done.stdout)
    path = Path(got["zip"])
    assert got["content"] == "thumbnails" and got["files"] == 5
    assert re.fullmatch(r"demo-labels-thumbnails-\d{8}-\d{6}\.zip", path.name)
    assert len(list_zips(workspace, "thumbnails")) == KEEP_THUMBNAIL_ZIPS and list_zips(workspace, "thumbnails")[0] == path
    originals = {r.id: r for r in workspace.images(ids[:5])}
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert [n.split("/")[0] for n in names] == ["cover"] * 3 + ["text"] * 2
        assert sorted(n.split("/")[1] for n in names) == sorted(Path(r.path).stem + ".jpg" for r in originals.values())
        for n in names:
            img = Image.open(io.BytesIO(zf.read(n)))
            assert img.format == "JPEG" and max(img.size) <= 256  # small JPEGs, not the originals
    assert max(r.width for r in originals.values()) > 256  # so the originals would have been bigger
    both = run_cli("export-zip", "--workspace", str(workspace.root), "--name", "demo", "--json")
    assert both.returncode == 0 and json.loads(both.stdout)["content"] == "originals"
    assert len(list_zips(workspace, "originals")) == 1 and len(list_zips(workspace)) == KEEP_THUMBNAIL_ZIPS + 1
