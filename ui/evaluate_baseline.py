"""Evaluate page, part 3: the EfficientNet baseline, trained only in a background job that
this section starts and follows."""

from __future__ import annotations

import streamlit as st

from clipcore.catalog.jobs import list_jobs
from clipcore.jobkinds import start_kind
from clipcore.classify.baseline import ARCHS, DEFAULT_ARCH, resolve_weights
from clipcore.classify.evaluation import DEFAULT_KS, parse_ks
from clipcore.config import checked_weights_file
from clipcore.errors import ClipcoreError
from ui import auth, context
from ui.text import job_eta, md

WATCHING = "ev_watching_jobs"


def render_baseline(ctx, split_name: str) -> None:
    """The baseline form, a running job's progress, and the last job's failure."""
    st.subheader("EfficientNet baseline")
    st.caption(
        "Fine-tunes an ImageNet-pretrained EfficientNet (B4 as in the reference study, or B0) on the same training draws "
        "and scores it on the same hold-out. It runs as a background job: you can leave this page."
    )
    with st.form("ev_baseline_form"):
        b1, b2, b3, b4 = st.columns(4)
        arch = b1.selectbox("Network", list(ARCHS), index=list(ARCHS).index(DEFAULT_ARCH), key="ev_arch",
                            help="tiny = a random-init network for testing the mechanics; its results are not meaningful.")
        b_ks = b2.text_input("k values", ",".join(map(str, DEFAULT_KS)), key="ev_b_ks")
        b_draws = b3.number_input("Draws per k", 1, 20, 5, key="ev_b_draws")
        b_epochs = b4.number_input("Max epochs (0 = default)", 0, 500, 0, key="ev_b_epochs")
        checkpoint = st.text_input("Local weights file (optional)", key="ev_checkpoint",
                                   help="A timm checkpoint of the chosen network, when the hub cannot be reached: a file "
                                        "in a model folder ([model] folders in clipcore.toml, default models/).")
        start = st.form_submit_button("Start baseline job", disabled=not ctx.can("start_jobs"))
    if start:
        _start_baseline(ctx, split_name, arch, b_ks, int(b_draws), int(b_epochs), checkpoint.strip())
    ws = ctx.ws
    if st.session_state.get(WATCHING) or any(
        j["kind"] == "baseline" and j["status"] in ("queued", "running") for j in list_jobs(ws, active_only=True)
    ):
        st.session_state[WATCHING] = True
        _baseline_jobs(ws)
    recent = [j for j in list_jobs(ws, limit=10) if j["kind"] == "baseline"]
    if recent and recent[0]["status"] == "failed":
        st.error(f"The last baseline job failed: {md(recent[0]['message'])}", icon="🚫")


def _start_baseline(ctx, split_name: str, arch: str, ks_text: str, draws: int, epochs: int, checkpoint: str) -> None:
    try:
        auth.permit("start_jobs", ctx.entry.name)
        # Only a file inside a configured model folder: the field must not probe the disk.
        weights = str(checked_weights_file(checkpoint, auth.auth_settings().model_folders)) if checkpoint else None
        resolve_weights(arch, checkpoint=weights, form=True)  # fails in seconds when offline
        job_id = start_kind(ctx.ws, "baseline", arch=arch, ks=parse_ks(ks_text), draws=draws, split=split_name,
                            epochs=epochs, checkpoint=weights)
        st.session_state[WATCHING] = True
        st.success(f"Started baseline job {job_id}.")
    except ClipcoreError as exc:
        context.show_error(exc)


@st.fragment(run_every=2.0)
def _baseline_jobs(ws) -> None:
    jobs = [j for j in list_jobs(ws, limit=10) if j["kind"] == "baseline"]
    active = [j for j in jobs if j["status"] in ("queued", "running")]
    for job in active:
        total = job.get("total") or 0
        st.progress(
            min((job.get("done") or 0) / total, 1.0) if total else 0.0,
            text=f"baseline job {job['id']}: fit {job.get('done') or 0} of {total or '?'} done{job_eta(job)}",
        )
    if not active and st.session_state.get(WATCHING):
        st.session_state[WATCHING] = False
        st.rerun()  # a job finished: show its results
