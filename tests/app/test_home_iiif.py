"""AppTest of Home's New collection form with IIIF sources: URLs in, an import-and-ingest
job into the collection's folder, books as groups, then the first embed; loopback refused
unless the config allows it, and a line that is not a URL refused before any job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from clipcore.catalog.metadata import image_groups
from clipcore.catalog.store import Workspace
from tests.helpers import wait_for_job
from tests.sources.iiif_server import IIIFServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    srv = IIIFServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def books_folder(app_config, tmp_path) -> Path:
    """An empty folder under the one allowed root (the config gets [app] with it)."""
    allowed = tmp_path / "allowed"
    (allowed / "books").mkdir(parents=True)
    app_config.write_text(
        app_config.read_text() + f'\n[app]\nallowed_roots = ["{allowed}"]\ndata_dir = "{tmp_path / "appdata"}"\n'
    )
    return allowed / "books"


def _submit(name: str, folder: Path, urls: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.text_input(key="nc_name").input(name)
    at.text_input(key="nc_folder").input(str(folder))
    at.text_area(key="nc_iiif").input(urls)
    next(b for b in at.button if b.label == "Create and ingest").click()
    at.run()
    assert not at.exception
    return at


def _workspace(tmp_path: Path, name: str) -> Workspace:
    records = json.loads((tmp_path / "appdata" / "collections.json").read_text())["collections"]
    return Workspace(next(r["path"] for r in records if r["name"] == name))


def test_new_collection_from_iiif_imports_ingests_then_embeds(app_config, books_folder, server, tmp_path):
    app_config.write_text(app_config.read_text() + "\n[iiif]\nallow_private = true\n")
    at = _submit("Picture books", books_folder, f"# two books\n{server.base}/manifests/b1.json\n{server.base}/manifests/b2.json\n")
    assert not at.error
    ws = _workspace(tmp_path, "Picture books")
    job = list_jobs(ws)[0]
    assert job["kind"] == "import-iiif" and "--ingest" in job["args"] and str(books_folder.resolve()) in job["args"]
    done = wait_for_job(ws, job["id"], timeout=180)
    assert done["status"] == "done", done
    assert done["result"]["downloaded"] == 8 and done["result"]["ingest"]["added"] == 8
    assert len(set(image_groups(ws).values())) == 2 and ws.ground_truth() == {}
    assert (books_folder / "iiif-pages.csv").is_file()

    at.run()  # the first embed follows the import by itself
    embed = list_jobs(ws)[0]
    assert embed["kind"] == "embed", list_jobs(ws)
    assert wait_for_job(ws, embed["id"])["status"] == "done"


def test_iiif_sources_refused_from_the_app_by_default(app_config, books_folder, server, tmp_path):
    at = _submit("Bad", books_folder, "/etc/passwd")
    assert any("not an http" in e.value and "passwd" in e.value for e in at.error)
    assert not (tmp_path / "appdata" / "collections.json").exists() or "Bad" not in (tmp_path / "appdata" / "collections.json").read_text()

    _submit("Local", books_folder, f"{server.base}/manifests/b1.json")
    ws = _workspace(tmp_path, "Local")
    job = wait_for_job(ws, list_jobs(ws)[0]["id"], timeout=180)
    # nothing imported: a failed job, with the first reason
    assert job["status"] == "failed" and job["message"].startswith("nothing was imported"), job
    assert "private or local address" in job["message"]
    # the app's reader gets the config line an admin edits, not the CLI's flag
    assert "allow_private line of the [iiif] section" in job["message"] and "--allow-private" not in job["message"], job
    assert server.log == []
