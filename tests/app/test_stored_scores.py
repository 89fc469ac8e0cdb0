"""A collection above the in-page limit (``[limits] in_page_max``, here lowered so that
about 2,000 images count as large): the Zero-shot page's "Compute zero-shot scores" runs
the `predict` job, and the pages then use the stored scores."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from clipcore.classify.prompts import ensure_reference_prompt_set
from clipcore.embedding.models import load_model
from clipcore.sources.scale import make_scale_workspace
from tests.helpers import app_workspace, wait_for_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def large_collection(app_config, monkeypatch):
    """The demo workspace plus 2,000 synthetic images; above 1,000 images pages read stored scores."""
    ws = app_workspace(app_config)
    ensure_reference_prompt_set(ws)  # the demo's four classes: the reference study's prompts
    model = load_model("tiny", precision="fp32", device="cpu")
    make_scale_workspace(ws.root, 2000, key=model.info.key, dim=ws.load_embeddings(model.info.key).vectors.shape[1],
                         clusters=20, thumbnails=1)
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "1000")
    return ws


def _scores_expander(at: AppTest):
    return next(e for e in at.expander if "Zero-shot and few-shot scores" in e.label)


def test_compute_zero_shot_scores_runs_the_job_and_the_pages_use_them(large_collection):
    ws = large_collection
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/zero_shot.py")
    at.run()
    assert not at.exception
    assert "not stored for the latest prompt set yet" in _scores_expander(at).caption[0].value
    at.button(key="predict_zero").click().run()
    assert not at.exception, at.exception
    jobs = [j for j in list_jobs(ws) if j["kind"] == "predict"]
    assert len(jobs) == 1, "pressing the button started no predict job"
    job = wait_for_job(ws, jobs[0]["id"], timeout=180)
    assert job["status"] == "done", job["message"]
    assert job["result"]["rows"] == 2032 and job["done"] == job["total"] == 2032
    at.run()
    assert not at.exception
    assert "stored for the latest prompt set." in _scores_expander(at).caption[0].value
    # The Label page offers what only stored scores make possible above the limit.
    at.switch_page("pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception
    assert "Most confident zero-shot" in at.selectbox(key="label_kind").options
