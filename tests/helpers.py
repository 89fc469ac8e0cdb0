"""Helpers shared by tests: run the CLI as a user does, wait for a background job."""

from __future__ import annotations

import os
from contextlib import contextmanager
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m clipcore ARGS`` from the repository root, offline, with the repo's config."""
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CLIPCORE_OFFLINE": "1",
        "CLIPCORE_CONFIG": str(ROOT / "clipcore.toml"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "clipcore", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def wait_for_job(ws, job_id: str, timeout: float = 90.0) -> dict:
    """Poll until the job leaves queued/running and its process has exited, so that it no
    longer counts against the server's job cap (a test helper, not a timing assertion)."""
    from clipcore.catalog.jobs import _alive, get_job, job_log

    deadline = time.monotonic() + timeout
    job = get_job(ws, job_id)
    while time.monotonic() < deadline:
        job = get_job(ws, job_id)
        if job["status"] not in ("queued", "running") and not _alive(job["pid"]):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s; log:\n{job_log(ws, job_id)}")


def app_workspace(app_config: Path):
    """The workspace that the ``app_config`` fixture's config points the app at."""
    from clipcore.config import load_settings
    from clipcore.catalog.store import Workspace

    return Workspace(load_settings(config_path=app_config).workspaces[0].path)


@contextmanager
def heavy_slot_held(monkeypatch, what: str = "someone else's work"):
    """While the block runs, another thread holds the server's only heavy slot
    (``CLIPCORE_MAX_HEAVY=1``; pages wait 0.1 s for it), as a second visitor's suggestion
    or comparison would."""
    import threading

    from clipcore.parallel import heavy_slot

    monkeypatch.setenv("CLIPCORE_MAX_HEAVY", "1")
    monkeypatch.setattr("ui.core.classifier_cache.HEAVY_WAIT_S", 0.1)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with heavy_slot(what, limit=1):
            entered.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert entered.wait(10), "the other thread never took the slot"
        yield
    finally:
        release.set()
        t.join(10)


def label_view(view: str, annotator: str = "lead", **query: str):
    """An AppTest of the Label page opened as ``annotator`` (``?annotator=``, sign-in off)
    with ``query`` in its URL, switched to ``view`` (Label, Browse, History, Export, ...)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=90)
    at.query_params.update({"annotator": annotator, **query})
    at.switch_page("app_pages/label.py")
    at.run()
    at.radio(key="label_view").set_value(view).run()
    assert not at.exception, at.exception
    return at
