"""The one widget for background jobs: start a declared kind, follow it, show how it ended.

``start_job_from_ui`` is the one start sequence (the permission its command line needs, ``ui.core.auth.start_job``: audited,
remember the job, show a refusal); ``job_panel`` the one progress loop: the newest job of
the given kinds, its bar and a Cancel button while it runs (one ``st.fragment`` polling
every ``POLL_S`` seconds, only while a job is active), then its failure with the log and a
Retry button, or that it finished. When a job the panel followed ends, the whole page
reruns, so the page reads what the job wrote; when the fragment finds a job running that
the page run before it did not (Retry and "Start it again" are pressed inside the fragment,
which reruns alone, drawn without polling), the whole page reruns too, so the fragment polls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from clipcore.catalog.jobs import ACTIVE, job_log, list_jobs
from clipcore.catalog.store import Workspace
from clipcore.errors import ClipcoreError
from clipcore.jobkinds import job_kind
from ui.core import auth
from ui.core.auth import cancel_job, start_job  # recorded in the audit log
from ui.core.text import app_text, job_eta, md

POLL_S = 1.5
_STARTED = "jobs_started_{}"  # the id of the job this session last started from the panel ``key``


def start_job_from_ui(ws: Workspace, workspace: str, kind: str, *, key: str, **params: Any) -> str | None:
    """Start ``kind`` with ``params`` for the signed-in user; show why not when it is refused.

    Returns the job id, or None (the reason is shown as an error)."""
    try:
        args = job_kind(kind).command_line(**params)
        auth.permit(job_kind(kind).permission(args), workspace)
        job_id = start_job(ws, kind, args)
    except ClipcoreError as exc:
        st.error(md(exc), icon="🚫")
        return None
    st.session_state[_STARTED.format(key)] = job_id
    return job_id


def _retry(ws: Workspace, workspace: str, job: dict, key: str) -> None:
    try:
        auth.permit(job_kind(job["kind"]).permission(job["args"]), workspace)
        st.session_state[_STARTED.format(key)] = start_job(ws, job["kind"], job["args"])
    except ClipcoreError as exc:
        st.session_state[f"jobs_error_{key}"] = app_text(exc)


def _cancel(ws: Workspace, workspace: str, job: dict, key: str) -> None:
    try:
        auth.permit(job_kind(job["kind"]).permission(job["args"]), workspace)
        cancel_job(ws, job["id"])
    except ClipcoreError as exc:
        st.session_state[f"jobs_error_{key}"] = app_text(exc)


def progress_text(job: dict) -> str:
    """A running job on screen: "scoring job 3f2a: 1,200 of 2,000 images, about 4 s left"."""
    kind = job_kind(job["kind"])
    done, total = job.get("done") or 0, job.get("total") or 0
    head = f"{kind.title} job {job['id']} ({job['status']})"
    if kind.unit is None or (job["status"] == "queued" and job.get("message")):
        return f"{head}: {md(job.get('message') or 'starting...')}"
    return f"{head}: {done:,} of {f'{total:,}' if total else '?'} {kind.unit}{job_eta(job)}"


def job_panel(
    ws: Workspace,
    workspace: str,
    kinds: str | Sequence[str],
    *,
    key: str,
    describe: Callable[[dict], str] | None = None,
    on_end: Callable[[dict], None] | None = None,
    recent: bool = False,
) -> None:
    """The newest job of ``kinds`` in ``ws``: progress and Cancel while it runs, then its
    failure (message, log, Retry) or its success. ``describe`` replaces the bar's text;
    ``on_end(job)`` runs once when a job this panel followed ends, before the page reruns;
    ``recent`` adds a table of the last jobs of these kinds."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    active = any(j["status"] in ACTIVE for j in _jobs_of(ws, kinds))
    st.fragment(_panel, run_every=POLL_S if active else None)(ws, workspace, kinds, key, describe, on_end, recent, active)


def _may(job: dict, workspace: str) -> bool:
    """Whether the signed-in user may cancel or retry ``job`` (its kind's permission for its arguments)."""
    return auth.can(job_kind(job["kind"]).permission(job.get("args") or []), workspace)


def _jobs_of(ws: Workspace, kinds: tuple[str, ...]) -> list[dict]:
    """The last ten jobs of ``kinds``, newest first: the page run and its fragment read the
    same list, so they agree on whether one is active (else the page would rerun forever)."""
    return [j for j in list_jobs(ws, limit=50) if j["kind"] in kinds][:10]


def _panel(ws, workspace, kinds, key, describe, on_end, recent, was_active) -> None:
    jobs = _jobs_of(ws, kinds)
    active = [j for j in jobs if j["status"] in ACTIVE]
    if active and not was_active:
        # A job started since the page ran (Retry pressed here reruns this fragment alone,
        # which was drawn without polling): rerun the page, so the fragment polls it to its end.
        st.rerun(scope="app")
    error = st.session_state.pop(f"jobs_error_{key}", None)
    if error:
        st.error(md(error), icon="🚫")
    for job in active:
        done, total = job.get("done") or 0, job.get("total") or 0
        bar, stop = st.columns([6, 1])
        bar.progress(min(done / total, 1.0) if total else 0.0, text=(describe or progress_text)(job))
        stop.button("Cancel", key=f"{key}_cancel_{job['id']}", disabled=not _may(job, workspace), on_click=_cancel,
                    args=(ws, workspace, job, key), help="Stop this job; what it already committed stays.")
    if was_active and not active:
        # A job this panel followed ended: let the page read what it wrote.
        if jobs and on_end is not None:
            on_end(jobs[0])
        st.rerun(scope="app")
    if jobs and not active:
        _ended(ws, workspace, jobs[0], key, _may(jobs[0], workspace))
    if recent and jobs:
        with st.expander("Recent jobs", expanded=bool(active)):
            st.dataframe(
                pd.DataFrame([
                    {"id": j["id"], "job": j["kind"], "status": j["status"], "done": j["done"], "total": j["total"],
                     "message": j["message"] or "", "started": j["started_at"]}
                    for j in jobs
                ]),
                hide_index=True,
            )


def _ended(ws, workspace: str, job: dict, key: str, may: bool) -> None:
    """How the newest job ended: a failure with its reason, log and Retry; a cancellation;
    or, for the job this session started, that it finished."""
    title = job_kind(job["kind"]).title
    if job["status"] == "failed":
        st.error(f"The last {title} job failed: {md(job['message'] or 'no reason given')}", icon="🚫")
        c1, c2 = st.columns([1, 5])
        c1.button("Retry", key=f"{key}_retry_{job['id']}", disabled=not may, on_click=_retry, args=(ws, workspace, job, key),
                  help="Start the same job again.")
        with c2.expander("Log"):
            st.code(job_log(ws, job["id"], tail_chars=3000) or "(no log)", language=None)
    elif job["status"] == "cancelled":
        st.info(f"The last {title} job was cancelled.")
        st.button("Start it again", key=f"{key}_retry_{job['id']}", disabled=not may, on_click=_retry,
                  args=(ws, workspace, job, key))
    elif job["status"] == "done" and st.session_state.get(_STARTED.format(key)) == job["id"]:
        st.success(f"The {title} job {job['id']} finished.")
