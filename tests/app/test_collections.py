"""AppTest of workspaces in the app: ?ws=NAME, the sidebar picker, an empty collection's
Home, and the New collection form (allowed and refused folders, hostile names)."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from clipcore.catalog.store import Workspace
from tests.helpers import wait_for_job
from clipcore.embedding.models import embedding_set_key
from ui.core.text import md

ROOT = Path(__file__).resolve().parents[2]
TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key
HOSTILE = "[click](http://evil.example) <b>x</b> $x$ :red[y]"


@pytest.fixture
def roots_config(app_config, tmp_path):
    """The app config plus [app]: one allowed root holding a small image folder, and a data folder."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    app_config.write_text(
        app_config.read_text() + f'\n[app]\nallowed_roots = ["{allowed}"]\ndata_dir = "{tmp_path / "appdata"}"\n'
    )
    return app_config


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)


def _images(demo_dir: Path, dest: Path, n: int = 6) -> Path:
    """``n`` demo images (two classes) copied into ``dest/<class>/``."""
    for cls in sorted(p.name for p in demo_dir.iterdir() if p.is_dir())[:2]:
        (dest / cls).mkdir(parents=True)
        for f in sorted((demo_dir / cls).iterdir())[: n // 2]:
            shutil.copy(f, dest / cls / f.name)
    return dest


def _submit(at: AppTest, name: str, folder: str) -> AppTest:
    at.text_input(key="nc_name").input(name)
    at.text_input(key="nc_folder").input(folder)
    next(b for b in at.button if b.label == "Create and ingest").click()
    return at.run()


def _errors(at: AppTest) -> list[str]:
    """Error texts with the markdown escaping undone (messages escape the user's strings)."""
    return [html.unescape(re.sub(r"\\(.)", r"\1", e.value)) for e in at.error]


def _captions(at: AppTest) -> list[str]:
    return [html.unescape(re.sub(r"\\(.)", r"\1", c.value)) for c in at.caption]


def _registry(tmp_path: Path) -> list[dict]:
    path = tmp_path / "appdata" / "collections.json"
    return json.loads(path.read_text())["collections"] if path.exists() else []


def test_new_collection_ingests_then_embeds_and_becomes_active(roots_config, demo_dir, tmp_path):
    folder = _images(demo_dir, tmp_path / "allowed" / "letters")
    at = _app().run()
    assert not at.exception
    assert at.query_params["ws"] == "demo" and at.sidebar.selectbox[0].value == "demo"

    _submit(at, "Letters", str(folder))
    assert not at.exception and not at.error
    [record] = _registry(tmp_path)
    assert record["name"] == "Letters" and record["source"] == str(folder.resolve())
    assert at.query_params["ws"] == "Letters" and at.sidebar.selectbox[0].value == "Letters"
    assert at.text_input(key="nc_name").value == ""  # the form is ready for the next one
    ws = Workspace(record["path"])
    ingest = list_jobs(ws)[0]
    assert ingest["kind"] == "ingest" and ingest["args"][0] == str(folder.resolve())
    assert wait_for_job(ws, ingest["id"])["status"] == "done"

    at.run()  # the first embed follows the first ingest by itself
    embed = list_jobs(ws)[0]
    assert embed["kind"] == "embed", list_jobs(ws)
    assert wait_for_job(ws, embed["id"])["status"] == "done"
    at.run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Images"] == "6" and values["Embedded"] == "100%"
    assert len(list_jobs(ws)) == 2  # no second embed on later runs


@pytest.mark.parametrize("where", ["outside", "symlink", "dotdot"])
def test_folder_outside_allowed_roots_is_refused(roots_config, demo_dir, tmp_path, where):
    outside = _images(demo_dir, tmp_path / "elsewhere" / "imgs")
    allowed = tmp_path / "allowed"
    folder = {
        "outside": str(outside),
        "symlink": str(allowed / "link"),
        "dotdot": str(allowed / ".." / "elsewhere" / "imgs"),
    }[where]
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    at = _submit(_app().run(), "Sneaky", folder)
    assert not at.exception
    assert any("not under an allowed folder" in e and str(allowed) in e for e in _errors(at)), _errors(at)
    assert _registry(tmp_path) == []
    assert at.query_params["ws"] == "demo"


def test_without_allowed_roots_the_form_says_how_to_allow_a_folder(app_config, demo_dir, tmp_path):
    app_config.write_text(app_config.read_text() + f'\n[app]\nallowed_roots = []\ndata_dir = "{tmp_path / "appdata"}"\n')
    at = _app().run()
    assert any("No folder may be added from the app yet" in c and "clipcore.toml" in c for c in _captions(at))
    at = _submit(at, "Mine", str(demo_dir))
    assert any("allowed_roots" in e for e in _errors(at))


def test_a_fresh_install_adds_a_folder_under_the_users_home(app_config, demo_dir, tmp_path, monkeypatch):
    """No [app] allowed_roots line and sign-in off: the home folder is allowed, and the form says so."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    folder = _images(demo_dir, home / "Pictures" / "scans")
    app_config.write_text(app_config.read_text() + f'\n[app]\ndata_dir = "{tmp_path / "appdata"}"\n')
    at = _app().run()
    note = next(c for c in _captions(at) if "your home folder" in c)
    assert str(home.resolve()) in note and "clipcore.toml" in note
    at = _submit(at, "Scans", str(folder))
    assert not at.exception
    assert not at.error, _errors(at)
    assert [c["name"] for c in _registry(tmp_path)] == ["Scans"]
    assert at.query_params["ws"] == "Scans"


@pytest.mark.parametrize(
    "name, message",
    [("", "needs a name"), ("   ", "needs a name"), ("\u200b\u200b", "invisible"), ("bad\x07bell", "control"), ("DEMO", "exists already")],
)
def test_bad_names_are_refused(roots_config, demo_dir, tmp_path, name, message):
    folder = _images(demo_dir, tmp_path / "allowed" / "x")
    at = _submit(_app().run(), name, str(folder))
    assert not at.exception
    assert any(message in e for e in _errors(at)), _errors(at)
    assert _registry(tmp_path) == []


def test_hostile_name_is_kept_literal_everywhere(roots_config, demo_dir, tmp_path):
    folder = _images(demo_dir, tmp_path / "allowed" / "x")
    at = _submit(_app().run(), HOSTILE, str(folder))
    assert not at.exception and not at.error
    assert at.query_params["ws"] == HOSTILE
    assert at.title[0].value == md(HOSTILE)
    for el in [*at.markdown, *at.caption, *at.info, *at.title]:
        assert "](http" not in el.value and "<b>" not in el.value
    # A shared link with the name opens the same collection.
    again = _app()
    again.query_params["ws"] = HOSTILE
    again.run()
    assert again.sidebar.selectbox[0].value == HOSTILE


def test_rename_and_remove_keep_files(roots_config, demo_dir, tmp_path):
    folder = _images(demo_dir, tmp_path / "allowed" / "x")
    at = _submit(_app().run(), "Old name", str(folder))
    ws_path = Path(_registry(tmp_path)[0]["path"])
    wait_for_job(Workspace(ws_path), list_jobs(Workspace(ws_path))[0]["id"])
    at.text_input(key="rc_name").input("New name")
    next(b for b in at.button if b.label == "Rename").click()
    at.run()
    assert [r["name"] for r in _registry(tmp_path)] == ["New name"]
    assert at.query_params["ws"] == "New name" and at.sidebar.selectbox[0].value == "New name"
    next(b for b in at.button if b.label == "Remove from the list").click()
    at.run()
    assert not at.exception
    assert _registry(tmp_path) == [] and at.query_params["ws"] == "demo"
    assert ws_path.is_dir() and folder.is_dir()  # files stay unless asked
    # issue 19: each admin action is in the audit log (mode none: the local user)
    from clipcore.team.audit import read_actions

    log = read_actions(tmp_path / "appdata")
    assert [e["action"] for e in reversed(log)] == ["collection_create", "job_start", "job_start", "collection_rename", "collection_remove"]
    assert log[1]["details"] == {"old_name": "Old name"} and log[0]["workspace"] == "New name"


@pytest.fixture
def two_workspaces(app_config, demo_dir, tmp_path):
    """The demo workspace plus an empty one called 'second' with a source folder."""
    src = _images(demo_dir, tmp_path / "second-src")
    app_config.write_text(
        app_config.read_text() + f'\n[workspaces.second]\npath = "{tmp_path / "second-ws"}"\nsource = "{src}"\n'
    )
    return app_config


def test_ws_param_selects_the_workspace_and_survives_a_page_switch(two_workspaces):
    at = _app()
    at.query_params["ws"] = "second"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "second" and at.title[0].value == "second"
    assert at.sidebar.caption[0].value == "Model `tiny` · untrained"  # the key is in its help
    # The sidebar picker switches, and the URL follows.
    at.sidebar.selectbox[0].select("demo").run()
    assert at.query_params["ws"] == "demo" and at.title[0].value == "demo"
    at.sidebar.selectbox[0].select("second").run()
    # Another page keeps the collection even when the switch dropped the URL parameter.
    at.query_params.clear()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception
    assert any("second holds no images yet" in i.value for i in at.info)
    assert at.get("page_link")  # the message's action is on the screen: a link to Home


def test_unknown_ws_param_shows_one_error_and_falls_back(two_workspaces):
    at = _app()
    at.query_params["ws"] = "nope`<i>"
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "No collection is called" in at.error[0].value
    assert at.query_params["ws"] == "demo"


def test_empty_workspace_home_offers_ingest(two_workspaces):
    at = _app()
    at.query_params["ws"] = "second"
    at.run()
    assert not at.exception
    assert any("Ingest new files" in i.value for i in at.info)
    button = at.button(key="home_ingest")
    assert not button.disabled
    button.click().run()
    ws = Workspace(load_second(two_workspaces))
    job = list_jobs(ws)[0]
    assert job["kind"] == "ingest"
    assert wait_for_job(ws, job["id"])["status"] == "done"
    at.run()
    assert {m.label: m.value for m in at.metric}["Images"] == "6"


def _second(config: Path):
    from clipcore.config import load_settings

    return next(e for e in load_settings(config_path=config).workspaces if e.name == "second")


def load_second(config: Path) -> Path:
    return _second(config).path


def ws_source_of_second(config: Path) -> Path:
    return _second(config).source


def test_unopenable_workspace_is_one_error_line(app_config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app_config.write_text(app_config.read_text() + f'\n[workspaces.broken]\npath = "{blocker / "ws"}"\n')
    at = _app()
    at.query_params["ws"] = "broken"
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "Cannot open the collection" in at.error[0].value


def test_home_counts_missing_files_after_a_re_ingest(two_workspaces):
    from clipcore.catalog.ingest import ingest_folder

    ws = Workspace(load_second(two_workspaces))
    src = ws_source_of_second(two_workspaces)
    ingest_folder(ws, src)
    for f in sorted(src.rglob("*.jpg"))[:2]:
        f.unlink()
    ingest_folder(ws, src)
    at = _app()
    at.query_params["ws"] = "second"
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Images"] == "4"
    assert any("2 missing files" in c.value for c in at.caption)


def test_read_only_collection_reads_and_turns_writes_off(app_config, monkeypatch):
    import os

    from tests.helpers import app_workspace

    root = str(app_workspace(app_config).root)
    real_access = os.access
    monkeypatch.setattr(  # as if the folder were not writable (root may write anywhere, so chmod is no test)
        os, "access", lambda p, mode, **kw: False if str(p).startswith(root) and mode & os.W_OK else real_access(p, mode, **kw)
    )
    at = _app().run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["Images"] == "32"
    assert any("read-only" in w.value for w in at.warning)
    assert at.button(key="home_ingest").disabled and at.button(key="home_embed").disabled


def test_locked_database_on_a_write_is_one_error_line(app_config, monkeypatch):
    import sqlite3

    from tests.helpers import app_workspace

    monkeypatch.setenv("CLIPCORE_BUSY_TIMEOUT_MS", "200")
    ws = app_workspace(app_config)
    at = _app().run()
    blocker = sqlite3.connect(ws.db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        at.button(key="home_ingest").click().run()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert not at.exception
    assert len(at.error) == 1 and "locked" in at.error[0].value
