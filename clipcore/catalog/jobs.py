"""Background jobs: long CLI work started from the UI, tracked in the workspace.

A job is ``python -m clipcore <command> ... --job-id ID`` in its own process session,
so it survives page reloads and browser disconnects; it writes its progress to the
``jobs`` table, which any session can read. This module is the mechanism (launch, the
server-wide cap, progress, cancel); which commands may run as jobs, and how their command
lines are built, is declared once in ``clipcore.jobkinds``, whose ``start_job`` is the
one way to start one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from clipcore.config import jobs_dir, max_jobs
from clipcore.errors import InputError
from clipcore.catalog.store import Workspace, utc_now

logger = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


QUEUE_POLL_S = 1.0  # how often a queued job looks for a free slot


class JobRefused(InputError):
    """A job was not started: one of its kind already runs (or waits) in this workspace.
    The work it would do is not done; nothing was written."""


def _registry() -> Path:
    """The server-wide folder of running jobs' pid files (one per job, any workspace)."""
    path = jobs_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _live_registered(registry: Path) -> int:
    live = 0
    for pid_file in registry.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if _alive(pid):
            live += 1
        else:
            pid_file.unlink(missing_ok=True)
    return live


def launch_job(ws: Workspace, command: str, args: Sequence[str]) -> str:
    """Start ``python -m clipcore command *args`` in the background; return the job id.

    The mechanism only: call ``clipcore.jobkinds.start_job``, which checks that the
    command is a declared job kind. At most one job per kind per workspace runs (or waits)
    at a time, checked under one server-wide lock, so two sessions clicking at once cannot
    both pass. At most ``CLIPCORE_MAX_JOBS`` (default 2) run on the server: a job that
    finds them all taken waits in the queue (status ``queued``, its message says so) and
    starts when one ends (:meth:`JobReporter.__init__` takes the slot).
    Raises:
        JobRefused: a job of this kind already running or waiting in this workspace.
    """
    registry = _registry()
    with open(registry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        same = [j for j in list_jobs(ws, active_only=True, limit=50) if j["kind"] == command]
        if same:
            article = "an" if command[:1] in "aeiou" else "a"
            raise JobRefused(f"{article} {command} job ({same[0]['id']}) is already {same[0]['status']} in this workspace; "
                             "wait for it to finish.")
        job_id, _ = _spawn(ws, command, args)
    return job_id


def _take_slot(ws: Workspace, job_id: str) -> None:
    """Wait until fewer than ``CLIPCORE_MAX_JOBS`` jobs hold a slot on this server, then
    hold one (this process's pid file in the registry, freed when the process ends). While
    waiting the job stays ``queued`` with a message saying why."""
    registry = _registry()
    told = False
    while True:
        with open(registry / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cap, live = max_jobs(), _live_registered(registry)
            if live < cap:
                (registry / f"{job_id}.pid").write_text(str(os.getpid()))
                return
        if not told:
            told = True
            logger.info("job %s waits: %d jobs are running on this server (at most %d)", job_id, live, cap)
            with ws.transaction() as conn:
                conn.execute(
                    "UPDATE jobs SET message = ?, updated_at = ? WHERE id = ? AND status = 'queued'",
                    (f"waiting in the queue: {live} jobs are running on this server (at most {cap}); "
                     "it starts when one ends.", utc_now(), job_id),
                )
        time.sleep(QUEUE_POLL_S)


def _spawn(ws: Workspace, command: str, args: Sequence[str]) -> tuple[str, int]:
    job_id = uuid.uuid4().hex[:12]
    argv = [sys.executable, "-m", "clipcore", command, *args, "--workspace", str(ws.root), "--job-id", job_id]
    now = utc_now()
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, started_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?)",
            (job_id, command, json.dumps(list(args)), now, now),
        )
    log_dir = ws.root / "jobs"
    log_dir.mkdir(exist_ok=True)
    with open(log_dir / f"{job_id}.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    with ws.transaction() as conn:
        conn.execute("UPDATE jobs SET pid = ? WHERE id = ?", (proc.pid, job_id))
    logger.info("started job %s: %s", job_id, " ".join(argv))
    return job_id, proc.pid


class JobReporter:
    """Progress sink for a running job; writes at most every ``interval`` seconds."""

    def __init__(self, ws: Workspace, job_id: str, interval: float = 0.5) -> None:
        """Takes one of the server's job slots first (waiting in the queue while none is
        free), then marks the job running."""
        self._ws = ws
        self.job_id = job_id
        self._interval = interval
        self._last = 0.0
        _take_slot(ws, job_id)
        with ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'running', pid = ?, message = NULL, updated_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                (os.getpid(), utc_now(), job_id),
            )

    def progress(self, done: int, total: int | None, message: str | None = None) -> None:
        """Record progress (throttled, except the final step)."""
        now = time.monotonic()
        if now - self._last < self._interval and (total is None or done < total):
            return
        self._last = now
        with self._ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET done = ?, total = ?, message = COALESCE(?, message), updated_at = ? WHERE id = ?",
                (done, total, message, utc_now(), self.job_id),
            )

    def finish(self, result: dict[str, Any]) -> None:
        """Mark the job done with its JSON result (not a job already cancelled); its server
        slot is free from here."""
        with self._ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'done', result = ?, updated_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                (json.dumps(result), utc_now(), self.job_id),
            )
        (_registry() / f"{self.job_id}.pid").unlink(missing_ok=True)

    def fail(self, message: str) -> None:
        """Mark the job failed with a one-line reason (not a job already cancelled); its
        server slot is free from here."""
        with self._ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'failed', message = ?, updated_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                (message, utc_now(), self.job_id),
            )
        (_registry() / f"{self.job_id}.pid").unlink(missing_ok=True)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True


def _job_from_row(ws: Workspace, row: Any) -> dict[str, Any]:
    """A job row as a dict; a running job whose process died is marked failed (and stored so)."""
    job = dict(row)
    if job["status"] in ACTIVE and job["pid"] is not None and not _alive(job["pid"]):
        job["status"] = "failed"
        job["message"] = "the job's process ended without reporting a result"
        with ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, message = ? WHERE id = ? AND status IN ('queued', 'running')",
                (job["status"], job["message"], job["id"]),
            )
    job["result"] = json.loads(job["result"]) if job["result"] else None
    job["args"] = json.loads(job["args"])
    return job


def list_jobs(ws: Workspace, *, active_only: bool = False, limit: int = 20) -> list[dict[str, Any]]:
    """Recent jobs, newest first; a running job whose process died is marked failed."""
    jobs = [_job_from_row(ws, r) for r in ws.query("SELECT * FROM jobs ORDER BY started_at DESC LIMIT ?", (limit,))]
    return [j for j in jobs if not active_only or j["status"] in ACTIVE]


def get_job(ws: Workspace, job_id: str) -> dict[str, Any]:
    """One job's row as a dict.

    Raises:
        InputError: no job with this id.
    """
    rows = ws.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if not rows:
        raise InputError(f"no job {job_id!r} in workspace {str(ws.root)!r}.")
    return _job_from_row(ws, rows[0])


def job_log(ws: Workspace, job_id: str, tail_chars: int = 4000) -> str:
    """The end of a job's log file ('' if none)."""
    path = Path(ws.root) / "jobs" / f"{job_id}.log"
    if not path.exists():
        return ""
    return path.read_text(errors="replace")[-tail_chars:]


def cancel_job(ws: Workspace, job_id: str) -> dict[str, Any]:
    """Stop a queued or running job: mark it cancelled, then end its process group
    (SIGTERM; the job runs in its own session). Work a job committed before it stopped
    stays (every write is one transaction or a rename); a finished job is left as it is.
    Returns the job as :func:`get_job` gives it.

    Raises:
        InputError: no job with this id.
    """
    job = get_job(ws, job_id)
    if job["status"] not in ACTIVE:
        return job
    with ws.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET status = 'cancelled', message = 'cancelled', updated_at = ? WHERE id = ? AND status IN ('queued', 'running')",
            (utc_now(), job_id),
        )
    pid = job.get("pid")
    if pid and _alive(pid):
        try:
            if os.getpgid(pid) == pid:  # a job leads its own session: stop its children too
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        for _ in range(50):  # reap our own child promptly, so the cap frees at once
            if not _alive(pid):
                break
            time.sleep(0.05)
    (_registry() / f"{job_id}.pid").unlink(missing_ok=True)
    logger.info("cancelled job %s", job_id)
    return get_job(ws, job_id)
