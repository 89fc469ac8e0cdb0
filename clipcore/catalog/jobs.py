"""Background jobs: long CLI work started from the UI, tracked in the workspace.

A job is ``python -m clipcore <command> ... --job-id ID`` in its own process session,
so it survives page reloads and browser disconnects; it writes its progress to the
``jobs`` table, which any session can read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from clipcore.errors import InputError
from clipcore.catalog.store import Workspace, utc_now

logger = logging.getLogger(__name__)

ALLOWED_COMMANDS = frozenset({"ingest", "embed", "baseline", "evaluate", "import-iiif", "index", "download-model"})
ACTIVE = ("queued", "running")
DEFAULT_MAX_JOBS = 2  # at once on this server, all workspaces together (CLIPCORE_MAX_JOBS)


def _registry() -> Path:
    """The server-wide folder of running jobs' pid files (one per job, any workspace)."""
    path = Path(os.environ.get("CLIPCORE_JOBS_DIR") or Path(tempfile.gettempdir()) / f"clipcore-jobs-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _max_jobs() -> int:
    try:
        return max(1, int(os.environ.get("CLIPCORE_MAX_JOBS", DEFAULT_MAX_JOBS)))
    except ValueError:
        return DEFAULT_MAX_JOBS


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


def start_job(ws: Workspace, command: str, args: Sequence[str]) -> str:
    """Start ``python -m clipcore command *args`` in the background; return the job id.

    At most one job per kind per workspace runs at a time, and at most
    ``CLIPCORE_MAX_JOBS`` (default 2) on the server; both checks and the start happen
    under one server-wide lock, so two sessions clicking at once cannot both pass.
    Raises:
        InputError: a command that is not a known long-running subcommand; a job of this
            kind already running in this workspace; the server-wide cap reached.
    """
    if command not in ALLOWED_COMMANDS:
        raise InputError(f"cannot run {command!r} as a job; jobs are {sorted(ALLOWED_COMMANDS)}.")
    registry = _registry()
    with open(registry / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        same = [j for j in list_jobs(ws, active_only=True, limit=50) if j["kind"] == command]
        if same:
            raise InputError(f"a {command} job ({same[0]['id']}) is already running in this workspace; wait for it to finish.")
        cap = _max_jobs()
        if _live_registered(registry) >= cap:
            raise InputError(f"{cap} jobs are already running on this server (at most {cap}); wait for one to finish.")
        job_id, pid = _spawn(ws, command, args)
        (registry / f"{job_id}.pid").write_text(str(pid))
    return job_id


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
        self._ws = ws
        self.job_id = job_id
        self._interval = interval
        self._last = 0.0
        with ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'running', pid = ?, updated_at = ? WHERE id = ?",
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
        """Mark the job done with its JSON result."""
        with self._ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'done', result = ?, updated_at = ? WHERE id = ?",
                (json.dumps(result), utc_now(), self.job_id),
            )

    def fail(self, message: str) -> None:
        """Mark the job failed with a one-line reason."""
        with self._ws.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'failed', message = ?, updated_at = ? WHERE id = ?",
                (message, utc_now(), self.job_id),
            )


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
