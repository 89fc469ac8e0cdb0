"""The class-folder export as a ZIP (clipcore.catalog.exportzip)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.exportzip import export_zip, list_zips
from clipcore.errors import InputError


def test_the_zip_holds_the_folder_exports_files_and_is_named_after_the_collection(workspace, tmp_path):
    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "a/b: odd", ids[3:5], annotator="alice", source={"kind": "text"})
    seen = []
    got = export_zip(workspace, "Hokusai prints", progress=lambda d, t: seen.append((d, t)))
    path = Path(got["zip"])
    assert path.parent == workspace.root / "exports" and path.name.startswith("Hokusai-prints-labels-")
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
