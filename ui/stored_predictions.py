"""Stored whole-collection predictions on a page: whether they are current, a "stale" note
while a newer run is due, and the button (or running job's progress) of `predict`.

Small collections (under ``clipcore.classify.predictions.AUTO_ROWS`` embedded images)
never come here: the pages compute their predictions in-page, which takes seconds.
"""

from __future__ import annotations

import streamlit as st

from clipcore.catalog.jobs import list_jobs, start_job
from clipcore.errors import ClipcoreError

from ui import context, resources
from ui.text import human_time, md


def large_collection(ws, key: str) -> bool:
    """Whether predictions over this collection come from the `predict` job (stored)
    rather than from the page (``clipcore.classify.predictions.AUTO_ROWS``)."""
    from clipcore.classify.predictions import auto_rows

    return ws.embedded_count(key) >= auto_rows()


def stored_predictions(ws, kind: str, key: str, source: str, source_version: str):
    """(stored result or None, whether it is current) of the `predict` job."""
    rows = ws.query(
        "SELECT created_at FROM predictions WHERE kind = ? AND embedding_key = ? AND source = ?", (kind, key, source)
    )
    if not rows:
        return None, False
    stored = resources.stored_result(ws, kind, key, source, rows[0][0])
    return stored, stored is not None and stored.is_current(ws.embedding_version(key), source_version)


def stored_fewshot(ws, key: str, method: str, source: str):
    """(stored few-shot result or None, current) for ``method`` trained on ``source`` labels."""
    from clipcore.classify.fewshot import NEEDS_PROMPTS
    from clipcore.classify.predictions import few_shot_version
    from clipcore.classify.prompts import latest_prompt_set

    prompts = latest_prompt_set(ws) if method in NEEDS_PROMPTS else None
    ref = (prompts.name, prompts.version) if prompts else None
    return stored_predictions(ws, "few_shot", key, f"{method}:{source}", few_shot_version(ws, ref))


def running_job(ws, args: list[str]) -> dict | None:
    """The active `predict` job of this workspace started with ``args``, if any."""
    for job in list_jobs(ws, active_only=True, limit=20):
        if job["kind"] == "predict" and job["args"][: len(args)] == args:
            return job
    return None


def render_status(ws, stored, current: bool, args: list[str], what: str, key: str) -> None:
    """One line on the stored result (or its absence) and the way to a new one.

    ``args`` are the `predict` job's arguments; ``what`` names the result for people
    ("zero-shot predictions of prompt set 'x'")."""
    if stored is not None and current:
        st.caption(md(f"Stored {what}, computed {human_time(stored.created_at)} for all {len(stored.ids):,} images."))
        return
    if stored is not None:
        st.warning(
            md(f"Stale: these are the stored {what} from {human_time(stored.created_at)}; the labels, prompts or "
               "embeddings changed since. A new run replaces them.")
        )
    else:
        st.info(md(f"No stored {what} yet: this collection is large, so they are computed by a background job."))
    job = running_job(ws, args)
    if job is not None:
        total = job["total"] or 0
        share = (job["done"] or 0) / total if total else 0.0
        st.progress(min(share, 1.0), text=f"predict ({job['status']}): {job['done'] or 0:,} / {total:,}" if total else "predict (queued)")
        st.button("Refresh", key=f"{key}_refresh")
        return
    if not context.may_manage_collections():
        st.caption("An admin of this collection can start the run.")
        return
    if st.button("Compute predictions for the whole collection (background job)", key=f"{key}_start"):
        try:
            start_job(ws, "predict", args)
            st.rerun()
        except ClipcoreError as exc:
            context.show_error(exc)
