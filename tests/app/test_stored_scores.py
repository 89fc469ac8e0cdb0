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


def _audit() -> list[dict]:
    """The audit log of the app under test, newest first."""
    from clipcore.config import load_settings
    from clipcore.team.audit import read_actions

    return read_actions(load_settings().app_data)


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
    at.switch_page("app_pages/zero_shot.py")
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
    at.switch_page("app_pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception
    assert "Most confident zero-shot" in at.selectbox(key="label_kind").options


def _fake_job(ws, job_id: str, status: str, pid: int | None = None, message: str | None = None) -> None:
    """A predict job row as a job process leaves it (with its log)."""
    args = '["--zero-shot", "--model", "tiny", "--pretrained", "none", "--device", "cpu", "--precision", "fp32", "--quiet"]'
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, message, started_at, updated_at, pid, done, total) "
            "VALUES (?, 'predict', ?, ?, ?, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:01+00:00', ?, 500, 2032)",
            (job_id, args, status, message, pid),
        )
    (ws.root / "jobs").mkdir(exist_ok=True)
    (ws.root / "jobs" / f"{job_id}.log").write_text("error: the disk is full (example)\n")


def test_a_failed_job_shows_its_reason_and_log_and_can_be_retried(large_collection):
    ws = large_collection
    _fake_job(ws, "oldfailure", "failed", message="the disk is full")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/zero_shot.py")
    at.run()
    assert not at.exception
    assert any("The last scoring job failed: the disk is full" in e.value for e in at.error)
    assert any("the disk is full (example)" in c.value for c in at.code)  # the log
    at.button(key="predict_retry_oldfailure").click().run()
    assert not at.exception
    retried = [j for j in list_jobs(ws) if j["kind"] == "predict" and j["id"] != "oldfailure"]
    assert len(retried) == 1 and retried[0]["args"][:2] == ["--zero-shot", "--model"]
    assert [(e["action"], e["details"]["job_id"]) for e in _audit()][:1] == [("job_start", retried[0]["id"])]
    assert wait_for_job(ws, retried[0]["id"], timeout=180)["status"] == "done"
    at.run()
    assert not any("The last scoring job failed" in e.value for e in at.error)


def test_a_running_job_shows_progress_and_can_be_cancelled(large_collection):
    import subprocess
    import sys

    ws = large_collection
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        _fake_job(ws, "running1", "running", pid=proc.pid)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.switch_page("app_pages/zero_shot.py")
        at.run()
        assert not at.exception
        [bar] = [p for p in at.get("progress") if "scoring job running1" in p.proto.text]
        assert "500 of 2,032 images" in bar.proto.text
        at.button(key="predict_cancel_running1").click().run()
        assert not at.exception
        proc.wait(timeout=10)  # ended by the signal (TimeoutExpired otherwise)
        assert [j["status"] for j in list_jobs(ws) if j["id"] == "running1"] == ["cancelled"]
        assert any("The last scoring job was cancelled" in i.value for i in at.info)
        assert [(e["action"], e["details"]["job_id"]) for e in _audit()][:1] == [("job_cancel", "running1")]
    finally:
        proc.kill()
        proc.wait()


def test_the_job_widget_says_why_a_queued_job_waits():
    from ui.core.text import md
    from ui.widgets.jobs import progress_text

    waiting = "waiting in the queue: 2 jobs are running on this server (at most 2); it starts when one ends."
    job = {"id": "q1", "kind": "predict", "status": "queued", "message": waiting, "done": 0, "total": None}
    assert progress_text(job) == f"scoring job q1 (queued): {md(waiting)}"
    running = {**job, "status": "running", "message": None, "done": 10, "total": 2032,
               "started_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:01+00:00"}
    assert progress_text(running).startswith("scoring job q1 (running): 10 of 2,032 images")


def test_compute_few_shot_scores_from_the_label_page(large_collection):
    from clipcore.catalog import labels as lbl

    ws = large_collection
    truth = ws.ground_truth()
    for c in ("cover", "text"):
        lbl.record_batch(ws, c, [i for i, t in truth.items() if t == c][:4], annotator="ada", source={})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception
    assert "Few-shot: not stored yet." in _scores_expander(at).caption[0].value
    at.button(key="predict_few").click().run()
    assert not at.exception
    [job] = [j for j in list_jobs(ws) if j["kind"] == "predict"]
    assert "--few-shot" in job["args"]
    done = wait_for_job(ws, job["id"], timeout=180)
    assert done["status"] == "done", done["message"]
    at.run()
    assert not at.exception
    assert "Few-shot: stored (from the labels when it ran)." in _scores_expander(at).caption[0].value


def test_compute_few_shot_scores_waits_for_labels_of_two_classes(large_collection):
    """The crawler (issue 18) pressed it on a collection without Label-page labels: the job
    failed every time ("few-shot suggestions need labels of at least 2 classes; got 0")."""
    from clipcore.catalog import labels as lbl

    ws = large_collection
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception
    button = at.button(key="predict_few")
    assert button.disabled and "at least two classes" in button.help
    truth = ws.ground_truth()
    lbl.record_batch(ws, "cover", [i for i, t in truth.items() if t == "cover"][:2], annotator="ada", source={})
    at.run()
    assert at.button(key="predict_few").disabled  # one class is not enough either
    lbl.record_batch(ws, "text", [i for i, t in truth.items() if t == "text"][:2], annotator="ada", source={})
    at.run()
    assert not at.exception and not at.button(key="predict_few").disabled
