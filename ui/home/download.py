"""Home's "Download model weights" panel: shown while the app runs on ``tiny`` because the
configured model's weights are missing; the download is a job followed by ``ui.widgets.jobs``."""

from __future__ import annotations

import streamlit as st

from clipcore.config import WorkspaceEntry
from ui.core.text import code, md

DOWNLOAD_JOB = "download-model"


def render_download_panel(ws, entry: WorkspaceEntry, active) -> None:
    """Home's "Download model weights" panel, shown while the app runs on ``tiny`` because
    the configured model's weights are missing. The download is a ``download-model`` job
    (its own process: it survives reloads; a rerun resumes a partial file) followed by
    ``ui.widgets.jobs``: a bar with "x MB of y MB, z MB/s". When it is done, the app switches to the
    downloaded model. Admins start it (the ``start_jobs`` permission); others are told who can.
    """
    from clipcore.catalog.jobs import list_jobs

    from ui.core import auth
    from ui.widgets.jobs import job_panel, start_job_from_ui
    from ui.core.resources import settings

    cfg = settings()
    if not active.untrained or not active.fallback_reason or cfg.pretrained is None or cfg.checkpoint:
        return
    target = f"{cfg.model}/{cfg.pretrained}"
    st.subheader("Model weights")
    jobs = [j for j in list_jobs(ws, limit=20) if j["kind"] == DOWNLOAD_JOB]
    running = bool(jobs) and jobs[0]["status"] in ("queued", "running")
    may = auth.can("start_jobs", entry.name)
    c1, c2 = st.columns([3, 1])
    c1.markdown(
        f"The app runs on the untrained `tiny` model because the weights of {code(target)} are not here. "
        "With internet, download them (about 600 MB for ViT-B-32); the app switches to them when done. "
        "An interrupted download resumes where it stopped."
        + ("" if may else " Only an admin can start it.")
    )
    if c2.button("Download model weights", key="home_download", disabled=running or not may, width="stretch"):
        if start_job_from_ui(ws, entry.name, DOWNLOAD_JOB, key="home", model=cfg.model, pretrained=cfg.pretrained):
            st.rerun()
    job_panel(ws, entry.name, DOWNLOAD_JOB, key="home_download",
              describe=lambda job: f"Downloading {code(target)}: {md(job['message'] or 'connecting...')}")
    if jobs and jobs[0]["status"] == "done":
        _use_downloaded(jobs[0], cfg)


def _use_downloaded(job: dict, cfg) -> None:
    """Once per session per finished download: load the downloaded model on the next run
    (the model cache is shared by every session)."""
    from clipcore.embedding.models import find_cached_weights

    switched = f"weights_loaded_{job['id']}"
    if not st.session_state.get(switched) and find_cached_weights(cfg.model, cfg.pretrained):
        from ui.core.resources import _active

        st.session_state[switched] = True
        _active.clear()  # the next run loads the configured model from the cache
        st.rerun(scope="app")
    st.info(f"The download finished ({md(job['message'] or '')}), but the app could not load the weights; see the banner above.")
