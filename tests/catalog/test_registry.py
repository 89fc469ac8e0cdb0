"""The collections registry: names, allowed folders, atomic writes, merge with the config."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from clipcore.catalog.registry import (
    create_collection,
    load_collections,
    merged_entries,
    registry_path,
    remove_collection,
    rename_collection,
)
from clipcore.config import Settings, WorkspaceEntry
from clipcore.errors import InputError, WorkspaceError


@pytest.fixture
def cfg(tmp_path) -> Settings:
    root = tmp_path / "allowed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    return Settings(
        workspaces=(WorkspaceEntry("demo", tmp_path / "demo-ws"),),
        allowed_roots=(root,),
        app_data=tmp_path / "appdata",
    )


def test_created_collections_follow_the_config_ones(cfg, tmp_path):
    entry = create_collection(cfg, "  Letters ", tmp_path / "allowed" / "a", labels_from_folders=True)
    assert entry.name == "Letters" and entry.labels_from_folders
    assert entry.source == (tmp_path / "allowed" / "a").resolve()
    assert entry.path.parent == tmp_path / "appdata" / "collections"
    assert [e.name for e in merged_entries(cfg)] == ["demo", "Letters"]
    # A name the hand-edited config takes later hides the registry's, never the other way round.
    later = replace(cfg, workspaces=cfg.workspaces + (WorkspaceEntry("Letters", tmp_path / "other"),))
    assert [e.path for e in merged_entries(later)] == [tmp_path / "demo-ws", tmp_path / "other"]


def test_names_are_checked(cfg, tmp_path):
    folder = tmp_path / "allowed" / "a"
    with pytest.raises(InputError, match="at most 60"):
        create_collection(cfg, "x" * 61, folder)
    with pytest.raises(InputError, match="exists already"):
        create_collection(cfg, "Demo", folder)
    create_collection(cfg, "One", folder)
    with pytest.raises(InputError, match="exists already"):
        rename_collection(cfg, "One", "DEMO")
    with pytest.raises(InputError, match="clipcore.toml"):
        rename_collection(cfg, "demo", "Two")
    assert [c.name for c in load_collections(cfg)] == ["One"]


def test_concurrent_creates_all_land_and_no_temporary_file_is_left(cfg, tmp_path):
    errors = []

    def make(i: int) -> None:
        try:
            create_collection(cfg, f"c{i}", tmp_path / "allowed" / ("a" if i % 2 else "b"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(c.name for c in load_collections(cfg)) == [f"c{i}" for i in range(8)]
    assert [p.name for p in registry_path(cfg).parent.iterdir() if p.name.startswith(".collections-")] == []


def test_a_broken_registry_is_one_clear_error(cfg):
    registry_path(cfg).parent.mkdir(parents=True)
    registry_path(cfg).write_text("{not json")
    with pytest.raises(WorkspaceError, match="Fix or remove the file"):
        merged_entries(cfg)


def test_remove_keeps_files_unless_asked_and_never_touches_the_images(cfg, tmp_path):
    folder = tmp_path / "allowed" / "a"
    (folder / "img.jpg").write_bytes(b"x")
    kept = create_collection(cfg, "Kept", folder)
    gone = create_collection(cfg, "Gone", folder)
    for e in (kept, gone):
        Path(e.path).mkdir(parents=True)
    remove_collection(cfg, "Kept")
    remove_collection(cfg, "Gone", delete_files=True)
    assert load_collections(cfg) == []
    assert Path(kept.path).is_dir() and not Path(gone.path).exists()
    assert (folder / "img.jpg").exists()


def test_app_section_of_the_config(tmp_path):
    from clipcore.config import load_settings
    from clipcore.errors import ConfigError

    config = tmp_path / "clipcore.toml"
    config.write_text('[app]\nallowed_roots = ["images", "/srv/scans"]\ndata_dir = "state"\n')
    s = load_settings(config_path=config)
    assert s.allowed_roots == ((tmp_path / "images").resolve(), Path("/srv/scans").resolve())
    assert s.app_data == (tmp_path / "state").resolve()
    config.write_text('[app]\nallowed_roots = "/srv/scans"\n')
    with pytest.raises(ConfigError, match="app.allowed_roots: expected"):
        load_settings(config_path=config)


def test_a_collection_folder_swapped_for_a_link_outside_the_roots_is_refused(cfg, tmp_path, demo_dir):
    """Issue 19, attack 5: the folder of a collection made in the app is replaced by a
    symlink to a folder outside allowed_roots; the next ingest added the outside files."""
    import shutil

    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.store import Workspace
    from clipcore.errors import UnsafePathError

    folder = tmp_path / "allowed" / "a" / "books"
    shutil.copytree(demo_dir, folder)
    entry = create_collection(cfg, "Books", folder)
    ws = Workspace(entry.path)
    ingest_folder(ws, entry.source, real_folder=True)
    n = len(ws.images())
    outside = tmp_path / "outside"
    shutil.copytree(demo_dir, outside)
    shutil.rmtree(folder)
    folder.symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="now leads to"):
        ingest_folder(ws, entry.source, real_folder=True)
    for record in ws.images()[:3]:  # every file read (embed, export, view) checks the folder again
        with pytest.raises(UnsafePathError, match="now leads to"):
            record.real_path()
    assert len(ws.images()) == n
    ws.close()


def test_app_started_ingests_pin_the_folder():
    from clipcore.jobkinds import job_kind

    args = job_kind("ingest").command_line(source=Path("/src"), labels_from_folders=True)
    assert "--real-folder" in args and args[0] == "/src"


@pytest.mark.parametrize(
    "toml, expected",
    [
        ("", "home"),  # a fresh install: sign-in off, no [app] line -> the user's home folder
        ('[auth]\nmode = "none"\n[app]\ndata_dir = "state"\n', "home"),
        ('[auth]\nmode = "proxy"\ntrusted_proxy = true\n', ()),  # a team mode: nothing until listed
        ('[auth]\nmode = "oidc"\n', ()),
        ("[app]\nallowed_roots = []\n", ()),  # an explicit empty list is kept
    ],
)
def test_allowed_roots_default_to_home_only_with_sign_in_off(tmp_path, monkeypatch, toml, expected):
    from clipcore.catalog.registry import allowed_folders_note
    from clipcore.config import load_settings

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    config = tmp_path / "clipcore.toml"
    config.write_text(toml)
    s = load_settings(config_path=config)
    assert s.allowed_roots == ((home.resolve(),) if expected == "home" else expected)
    assert s.allowed_roots_default == ("allowed_roots" not in toml)
    note = allowed_folders_note(s)
    assert "clipcore.toml" in note and "`" not in note
    assert (str(home.resolve()) in note) == (expected == "home")


def test_the_shipped_config_leaves_allowed_roots_to_the_default():
    """A fresh install reads the repository's clipcore.toml: it must not pin an empty list."""
    import tomllib

    shipped = tomllib.loads((Path(__file__).resolve().parents[2] / "clipcore.toml").read_text())
    assert "allowed_roots" not in shipped.get("app", {})
