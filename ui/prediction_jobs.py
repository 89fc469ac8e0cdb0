"""Stored zero-/few-shot scores for collections too large to score inside a page run: what
is stored, a running `predict` job's progress, and the buttons that start one."""

from __future__ import annotations

import streamlit as st

from clipcore.catalog.jobs import list_jobs
from clipcore.jobkinds import start_kind
from clipcore.errors import ClipcoreError
from ui import auth, context
from ui.text import job_eta, md

WATCHING = "predict_watching"


def _start(ctx, which: str) -> None:
    try:
        auth.permit("start_jobs", ctx.entry.name)
        start_kind(ctx.ws, "predict", which=which, model=ctx.model.info)
        st.session_state[WATCHING] = True
    except ClipcoreError as exc:
        context.show_error(exc)


@st.fragment(run_every=2.0)
def _progress(ws) -> None:
    active = [j for j in list_jobs(ws, active_only=True) if j["kind"] == "predict"]
    for job in active:
        total = job.get("total") or 0
        st.progress(min((job.get("done") or 0) / total, 1.0) if total else 0.0,
                    text=f"scoring job {job['id']}: {job.get('done') or 0:,} of {total or '?'} images{job_eta(job)}")
    if not active and st.session_state.get(WATCHING):
        st.session_state[WATCHING] = False
        st.rerun()  # the new scores are stored: read them


def render_prediction_jobs(ctx, *, zero_shot_ready: bool, few_shot_ready: bool) -> None:
    """The state of the stored scores and, for whoever may start jobs, the buttons that compute them."""
    ws = ctx.ws
    rows = ws.embedding_set(ctx.key)[1]
    with st.expander("Zero-shot and few-shot scores of every image", expanded=not zero_shot_ready):
        st.caption(
            f"This collection has {rows:,} images: zero-shot and few-shot scores of all of them are computed by a "
            "background job and stored, not inside the page. Zero-shot: "
            + ("stored for the latest prompt set." if zero_shot_ready else "not stored for the latest prompt set yet.")
            + " Few-shot: " + ("stored (from the labels when it ran)." if few_shot_ready else "not stored yet.")
        )
        c1, c2 = st.columns(2)
        may = ctx.can("start_jobs")
        c1.button("Compute zero-shot scores", key="predict_zero", disabled=not may, on_click=_start, args=(ctx, "zero-shot"),
                  help=None if may else f"Your role ({md(ctx.role)}) does not start jobs.")
        c2.button("Compute few-shot scores", key="predict_few", disabled=not may, on_click=_start, args=(ctx, "few-shot"),
                  help="A logistic probe on the current labels." if may else f"Your role ({md(ctx.role)}) does not start jobs.")
        if st.session_state.get(WATCHING) or any(j["kind"] == "predict" for j in list_jobs(ws, active_only=True)):
            _progress(ws)
        last = next((j for j in list_jobs(ws, limit=10) if j["kind"] == "predict"), None)
        if last and last["status"] == "failed":
            st.error(f"The last scoring job failed: {md(last['message'])}", icon="🚫")
