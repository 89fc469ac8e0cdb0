"""Background jobs: a real CLI process records progress and its result in the workspace."""

from __future__ import annotations

import shutil

import pytest

from clipcore.errors import InputError
from clipcore.catalog.jobs import job_log, list_jobs
from clipcore.jobkinds import start_job
from clipcore.catalog.store import Workspace

from tests.helpers import wait_for_job as wait_for


def test_ingest_job_runs_in_the_background_and_reports(tmp_path, demo_dir):
    src = tmp_path / "src"
    shutil.copytree(demo_dir / "cover", src / "cover")
    ws = Workspace(tmp_path / "ws")
    job_id = start_job(ws, "ingest", [str(src), "--labels-from-folders", "--quiet"])
    assert list_jobs(ws)[0]["id"] == job_id
    job = wait_for(ws, job_id)
    assert job["status"] == "done", job_log(ws, job_id)
    assert job["result"]["added"] == 8 and job["result"]["labelled"] == 8
    assert job["done"] == job["total"] == 8
    assert ws.counts()["images"] == 8
    assert set(ws.ground_truth().values()) == {"cover"}


def test_failing_job_is_marked_failed_with_the_reason(tmp_path):
    ws = Workspace(tmp_path / "ws")
    job_id = start_job(ws, "ingest", [str(tmp_path / "missing"), "--quiet"])
    job = wait_for(ws, job_id)
    assert job["status"] == "failed"
    assert "does not exist" in job["message"]
    assert "error:" in job_log(ws, job_id)


def test_only_known_commands_can_be_jobs(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(InputError, match="cannot run 'demo' as a job"):
        start_job(ws, "demo", [])
    assert list_jobs(ws) == []


@pytest.fixture
def sleeper():
    """A live process standing in for a running job."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_one_job_per_kind_per_workspace(tmp_path, sleeper):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, started_at, updated_at, pid) VALUES ('j1', 'embed', '[]', 'running', 'x', 'x', ?)",
            (sleeper.pid,),
        )
    with pytest.raises(InputError, match="an? embed job .* already running in this workspace"):
        start_job(ws, "embed", [])
    # another kind may start (it fails at once: the folder is missing)
    other = start_job(ws, "ingest", [str(tmp_path / "missing"), "--quiet"])
    assert wait_for(ws, other)["status"] == "failed"
    sleeper.kill()
    sleeper.wait()
    again = start_job(ws, "embed", ["--quiet"])  # the dead job no longer counts
    assert wait_for(ws, again)["kind"] == "embed"


def test_at_the_server_wide_cap_a_job_waits_in_the_queue(tmp_path, sleeper, monkeypatch):
    import time

    from clipcore.catalog.jobs import get_job

    registry = tmp_path / "registry"
    monkeypatch.setenv("CLIPCORE_JOBS_DIR", str(registry))
    monkeypatch.setenv("CLIPCORE_MAX_JOBS", "1")
    registry.mkdir()
    (registry / "other-workspace-job.pid").write_text(str(sleeper.pid))
    ws = Workspace(tmp_path / "ws")
    job_id = start_job(ws, "ingest", [str(tmp_path / "missing"), "--quiet"])  # not refused: queued
    deadline = time.monotonic() + 60
    while "waiting in the queue" not in (get_job(ws, job_id)["message"] or "") and time.monotonic() < deadline:
        time.sleep(0.2)
    job = get_job(ws, job_id)
    assert job["status"] == "queued" and "1 jobs are running on this server (at most 1)" in job["message"]
    with pytest.raises(InputError, match="an ingest job .* already queued in this workspace"):
        start_job(ws, "ingest", [str(tmp_path / "missing"), "--quiet"])
    sleeper.kill()
    sleeper.wait()
    job = wait_for(ws, job_id)  # the slot freed: it ran (and failed: the folder is missing)
    assert job["status"] == "failed" and "does not exist" in job["message"]
    assert not (registry / "other-workspace-job.pid").exists()


def test_cancel_stops_the_process_and_the_job_stays_cancelled(tmp_path):
    import subprocess
    import sys

    from clipcore.catalog.jobs import JobReporter, cancel_job, get_job

    ws = Workspace(tmp_path / "ws")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        with ws.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, kind, args, status, started_at, updated_at, pid) VALUES ('j1', 'predict', '[]', 'running', 'x', 'x', ?)",
                (proc.pid,),
            )
        job = cancel_job(ws, "j1")
        assert job["status"] == "cancelled"
        proc.wait(timeout=10)  # ended by the signal (TimeoutExpired otherwise)
    finally:
        proc.kill()
        proc.wait()
    late = JobReporter(ws, "j1")  # a job process that reports after the cancel does not revive it
    late.finish({"rows": 1})
    late.fail("too late")
    assert get_job(ws, "j1")["status"] == "cancelled"
    assert cancel_job(ws, "j1")["status"] == "cancelled"  # cancelling twice changes nothing


def test_a_job_is_done_only_when_its_whole_command_succeeded(workspace, monkeypatch):
    """The job row says done only after the command's output was made: a command whose
    printing fails is a failed job, not a done one."""
    from clipcore import cli
    from clipcore.catalog.jobs import get_job

    with workspace.transaction() as conn:
        conn.execute("INSERT INTO jobs (id, kind, args, status, started_at, updated_at) "
                     "VALUES ('j-out', 'info', '[]', 'queued', 'x', 'x')")

    def broken(result):
        raise RuntimeError("cannot print this result")

    monkeypatch.setitem(cli._HUMAN, "info", broken)
    with pytest.raises(RuntimeError, match="cannot print"):
        cli.main(["info", "--workspace", str(workspace.root), "--job-id", "j-out"])
    job = get_job(workspace, "j-out")
    assert job["status"] == "failed" and "cannot print this result" in job["message"] and job["result"] is None
    from clipcore.catalog.jobs import _registry

    assert not (_registry() / "j-out.pid").exists()  # its server slot is free again
