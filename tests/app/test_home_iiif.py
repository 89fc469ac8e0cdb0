"""AppTest of Home's IIIF import: URLs in, a job that downloads and ingests, books as groups;
loopback refused unless the config allows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from clipcore.catalog.metadata import image_groups
from tests.helpers import app_workspace, wait_for_job
from tests.sources.iiif_server import IIIFServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    srv = IIIFServer().start()
    yield srv
    srv.stop()


def _submit(text: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.text_area(key="home_iiif_urls").input(text)
    at.button[[b.label for b in at.button].index("Import and ingest")].click().run()
    assert not at.exception
    return at


def test_home_imports_books_as_a_job_when_the_config_allows_loopback(app_config, server):
    app_config.write_text(app_config.read_text() + "\n[iiif]\nallow_private = true\n")
    ws = app_workspace(app_config)
    _submit(f"# two books\n{server.base}/manifests/b1.json\n{server.base}/manifests/b2.json\n")
    job = list_jobs(ws)[0]
    assert job["kind"] == "import-iiif" and "--ingest" in job["args"]
    done = wait_for_job(ws, job["id"], timeout=180)
    assert done["status"] == "done", done
    assert done["result"]["downloaded"] == 8 and done["result"]["ingest"]["added"] == 8
    assert ws.counts()["images"] == 40
    assert len(set(image_groups(ws).values())) == 2
    assert (ws.root / "iiif" / "iiif-pages.csv").is_file()


def test_home_import_refuses_loopback_and_non_urls_by_default(app_config, server):
    ws = app_workspace(app_config)
    at = _submit("/etc/passwd")
    assert any("not an http" in e.value and "passwd" in e.value for e in at.error)
    assert list_jobs(ws) == []
    _submit(f"{server.base}/manifests/b1.json")
    job = wait_for_job(ws, list_jobs(ws)[0]["id"], timeout=180)
    assert job["result"]["downloaded"] == 0
    assert "private or local address" in job["result"]["failed"][0]["reason"]
    assert server.log == []
