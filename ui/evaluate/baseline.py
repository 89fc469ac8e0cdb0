"""Evaluate page, part 3: the EfficientNet baseline, trained only in a background job that
this section starts and follows."""

from __future__ import annotations

import streamlit as st

from clipcore.classify.baseline import ARCHS, DEFAULT_ARCH, resolve_weights
from clipcore.classify.evaluation import DEFAULT_KS, parse_ks
from clipcore.config import checked_weights_file
from clipcore.errors import ClipcoreError
from ui.core import auth
from ui.core import context
from ui.widgets.jobs import job_panel, start_job_from_ui


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
    job_panel(ctx.ws, ctx.entry.name, "baseline", key="ev_baseline")


def _start_baseline(ctx, split_name: str, arch: str, ks_text: str, draws: int, epochs: int, checkpoint: str) -> None:
    try:
        auth.permit("start_jobs", ctx.entry.name)
        # Only a file inside a configured model folder: the field must not probe the disk.
        weights = str(checked_weights_file(checkpoint, auth.auth_settings().model_folders)) if checkpoint else None
        resolve_weights(arch, checkpoint=weights, form=True)  # fails in seconds when offline
        ks = parse_ks(ks_text)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    job_id = start_job_from_ui(ctx.ws, ctx.entry.name, "baseline", key="ev_baseline", arch=arch, ks=ks, draws=draws,
                               split=split_name, epochs=epochs, checkpoint=weights)
    if job_id:
        st.success(f"Started baseline job {job_id}.")
