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


@pytest.mark.e2e
def test_compute_zero_shot_scores_in_chromium(app_config, request, page, monkeypatch):
    ws = app_workspace(app_config)
    ensure_reference_prompt_set(ws)
    model = load_model("tiny", precision="fp32", device="cpu")
    make_scale_workspace(ws.root, 2000, key=model.info.key, dim=ws.load_embeddings(model.info.key).vectors.shape[1],
                         clusters=20, thumbnails=1)
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "1000")  # the server inherits it
    url = request.getfixturevalue("streamlit_server")

    page.goto(f"{url}/zero_shot")
    page.locator('[data-testid="stMain"] h1', has_text="Zero-shot").first.wait_for(timeout=90_000)
    _settle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("not stored for the latest prompt set yet", exact=False).first.wait_for(timeout=60_000)
    main.get_by_role("button", name="Compute zero-shot scores").click()
    main.get_by_text(STORED, exact=False).first.wait_for(timeout=180_000)  # polled by the job widget
    jobs = [j for j in list_jobs(ws) if j["kind"] == "predict"]
    assert [j["status"] for j in jobs] == ["done"] and jobs[0]["result"]["rows"] == 2032
    assert page.evaluate(ERRORS) == []

    page.goto(f"{url}/label?annotator=ada")
    page.locator('[data-testid="stMain"] h1', has_text="Label").first.wait_for(timeout=90_000)
    _settle(page)
    main.get_by_text("Zero-shot and few-shot scores of every image").first.click()
    main.get_by_text(STORED, exact=False).first.wait_for(timeout=60_000)
    assert page.evaluate(ERRORS) == []
