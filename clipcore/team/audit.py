"""The audit log of admin actions: who did what, when, in which workspace.

One append-only file, ``<app data>/audit.jsonl`` (``[app] data_dir``), one JSON object a
line, appended under an exclusive file lock and flushed to disk before the call returns,
so several app sessions (and processes) writing at once never interleave a line. A line
that cannot be parsed (a torn write after a crash) is skipped when reading, with a log
warning. The app shows it to admins (``audit`` action) and exports it as CSV.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from clipcore.csvsafe import dict_rows_csv
from clipcore.errors import InputError, WorkspaceError

logger = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
AUDITED = (
    "revert",  # a batch reverted by an admin (anyone's)
    "resolve",  # conflicts settled one by one
    "bulk_resolve",  # conflicts settled in bulk
    "collection_create",
    "collection_rename",
    "collection_remove",
    "job_start",  # every job started from the app, a retry included
    "job_cancel",  # a running or queued job stopped from the app
    "review_accept",  # a colleague's batch accepted in the review queue
    "review_correct",  # a colleague's batch corrected (a new batch) in the review queue
    "label_all_matching",  # "Select all N matching": one class given to every image a filter matches
)
CSV_FIELDS = ("at", "who", "action", "workspace", "details")


def audit_path(app_data: str | Path) -> Path:
    """Where the audit log lives: ``<app data>/audit.jsonl``."""
    return Path(app_data) / AUDIT_FILE


def record_action(app_data: str | Path, *, who: str, action: str, workspace: str | None, details: Mapping[str, Any] | None = None) -> dict:
    """Append one admin action to the audit log and return the entry.

    Args:
        who: the signed-in identity (``ui.core.auth.User.id``; the local user in mode none).
        action: one of :data:`AUDITED`.
        workspace: the workspace's name, or None for actions outside one.
        details: what was done (ids, names, counts, a job's command and arguments).
    Raises:
        InputError: an action not in :data:`AUDITED` (a typo must not go unlogged quietly).
        WorkspaceError: the app's data folder cannot be written.
    """
    if action not in AUDITED:
        raise InputError(f"unknown audited action {action!r}; known: {', '.join(AUDITED)}.")
    entry = {
        "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "who": str(who),
        "action": action,
        "workspace": workspace,
        "details": dict(details or {}),
    }
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    path = audit_path(app_data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise WorkspaceError(f"cannot write the audit log {str(path)!r}: {exc.strerror or exc}.") from exc
    logger.info("audit: %s %s in %s: %s", entry["who"], action, workspace, entry["details"])
    return entry


def read_actions(app_data: str | Path, *, limit: int | None = None) -> list[dict]:
    """The audit log, newest first (at most ``limit`` entries); [] when there is none yet.

    Raises:
        WorkspaceError: the file exists but cannot be read.
    """
    path = audit_path(app_data)
    try:
        with open(path, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise WorkspaceError(f"cannot read the audit log {str(path)!r}: {exc.strerror or exc}.") from exc
    out = []
    for n, line in enumerate(reversed(lines)):
        if limit is not None and len(out) >= limit:
            break
        try:
            entry = json.loads(line)
        except ValueError:
            logger.warning("audit log %s: line %d is not JSON (a torn write?); skipped", path, len(lines) - n)
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def actions_csv(entries: list[dict]) -> str:
    """The entries as CSV (``at, who, action, workspace, details`` as JSON), with cells that
    a spreadsheet would run as formulas neutralised (``clipcore.csvsafe``)."""
    rows = [
        {**{k: e.get(k) for k in CSV_FIELDS[:-1]}, "details": json.dumps(e.get("details") or {}, ensure_ascii=False, default=str)}
        for e in entries
    ]
    return dict_rows_csv(CSV_FIELDS, rows)
