"""Stored scores in Chromium: on a collection above the in-page limit (here lowered to 1,000
so 2,032 images count as large), pressing "Compute zero-shot scores" on the Zero-shot page
runs the predict job with a progress bar, and the page then says the scores are stored; the
Label page reads them too."""

from __future__ import annotations

import pytest

from clipcore.catalog.jobs import list_jobs
from clipcore.classify.prompts import ensure_reference_prompt_set
from clipcore.embedding.models import load_model
from clipcore.sources.scale import make_scale_workspace
from tests.e2e.test_browser_walk import ERRORS, _settle
from tests.helpers import app_workspace

STORED = "Zero-shot: stored for the latest prompt set."


def _open(page, url: str, path: str, title: str):
    """Open ``path``, wait for its title and for the page to settle; the main area."""
    page.goto(f"{url}/{path}")
    page.locator('[data-testid="stMain"] h1', has_text=title).first.wait_for(timeout=90_000)
    _settle(page)
    return page.locator('[data-testid="stMain"]')


@pytest.mark.e2e
def test_compute_zero_shot_scores_in_chromium(app_config, request, page, monkeypatch):
    ws = app_workspace(app_config)
    ensure_reference_prompt_set(ws)
    model = load_model("tiny", precision="fp32", device="cpu")
    make_scale_workspace(ws.root, 2000, key=model.info.key, dim=ws.load_embeddings(model.info.key).vectors.shape[1],
                         clusters=20, thumbnails=1)
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "1000")  # the server inherits it
    url = request.getfixturevalue("streamlit_server")

    main = _open(page, url, "zero_shot", "Zero-shot")
    main.get_by_text("not stored for the latest prompt set yet", exact=False).first.wait_for(timeout=60_000)
    main.get_by_role("button", name="Compute zero-shot scores").click()
    main.get_by_text(STORED, exact=False).first.wait_for(timeout=180_000)  # polled by the job widget
    jobs = [j for j in list_jobs(ws) if j["kind"] == "predict"]
    assert [j["status"] for j in jobs] == ["done"] and jobs[0]["result"]["rows"] == 2032
    assert page.evaluate(ERRORS) == []

    main = _open(page, url, "label?annotator=ada", "Label")
    main.get_by_text("Zero-shot and few-shot scores of every image").first.click()
    main.get_by_text(STORED, exact=False).first.wait_for(timeout=60_000)
    assert page.evaluate(ERRORS) == []


@pytest.mark.e2e
def test_retry_of_a_failed_job_runs_it_to_its_end_in_chromium(app_config, request, page, monkeypatch):
    """Issue 18: the crawler pressed Retry on a failed scoring job and its progress bar was
    still shown 180 s later. Retry is pressed inside the job widget's fragment, which was
    drawn without polling (no job was running then): the retried job must still be followed
    to its end, the bar must go, and the page must say how it ended."""
    ws = app_workspace(app_config)
    ensure_reference_prompt_set(ws)
    args = '["--zero-shot", "--model", "tiny", "--pretrained", "none", "--device", "cpu", "--precision", "fp32", "--quiet"]'
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, message, started_at, updated_at, done, total) "
            "VALUES ('oldfailure', 'predict', ?, 'failed', 'the disk is full', "
            "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00', 5, 232)",
            (args,),
        )
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "16")  # the demo counts as large: its scores are stored by a job
    url = request.getfixturevalue("streamlit_server")

    main = _open(page, url, "zero_shot", "Zero-shot")
    main.get_by_text("The last scoring job failed: the disk is full", exact=False).first.wait_for(timeout=60_000)
    main.get_by_role("button", name="Retry").click()
    main.get_by_text(" finished.", exact=False).first.wait_for(timeout=180_000)  # "The scoring job <id> finished."
    [retried] = [j for j in list_jobs(ws) if j["kind"] == "predict" and j["id"] != "oldfailure"]
    assert retried["status"] == "done", retried["message"]
    main.get_by_text(f"The scoring job {retried['id']} finished.").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stProgress"]').count() == 0
    assert main.get_by_text("The last scoring job failed").count() == 0
    main.get_by_text(STORED, exact=False).first.wait_for(timeout=30_000)  # the whole page reran: it reads the scores
    assert page.evaluate(ERRORS) == []
