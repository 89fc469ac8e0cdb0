"""Stored zero-/few-shot scores for collections too large to score inside a page run: what
is stored, and the buttons that start a `predict` job (its progress: ``ui.widgets.jobs``)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from clipcore.catalog.labels import current_label_arrays

from ui.widgets.jobs import job_panel, start_job_from_ui
from ui.core.text import md

KEY = "predict"


def _start(ctx, which: str) -> None:
    start_job_from_ui(ctx.ws, ctx.entry.name, "predict", key=KEY, which=which, model=ctx.model.info)


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
        # The job trains on the Label page's labels: with fewer than two classes it can only fail.
        labelled = len(np.unique(current_label_arrays(ws).codes))
        few_help = (f"Your role ({md(ctx.role)}) does not start jobs." if not may
                    else "A logistic probe on the current labels." if labelled >= 2
                    else "Needs labels of at least two classes: label some images on the Label page first.")
        c2.button("Compute few-shot scores", key="predict_few", disabled=not may or labelled < 2, on_click=_start,
                  args=(ctx, "few-shot"), help=few_help)
        job_panel(ws, ctx.entry.name, "predict", key=KEY)
