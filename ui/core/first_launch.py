"""First-launch chores, run once per app run from app.py (``run_first_launch_chores``):
build the demo workspace once per process, and start a new collection's first embed once
its first ingest is done; and Home's download panel for the configured model's weights."""

from __future__ import annotations

import threading

import streamlit as st

from clipcore.config import WorkspaceEntry
from clipcore.embedding.models import ClipModel

from ui.resources import workspace_at
from ui.text import code, md

DOWNLOAD_JOB = "download-model"

_demo_lock = threading.Lock()


def ensure_demo_workspace(entry: WorkspaceEntry, model: ClipModel) -> str | None:
    """On first launch, build the demo collection and workspace (generate, ingest, embed).

    Only for a workspace marked ``demo = true`` in config (about 200 images: seconds);
    other workspaces are built by background jobs from Home. Does nothing when the
    workspace already holds images that are embedded (fully or in part: the rest is a
    background job started from Home), or while a job is running.
    Returns a one-line summary of what was built, or None. Runs once per process (other
    sessions wait on the lock).
    """
    from clipcore.catalog.jobs import list_jobs

    if not entry.demo or entry.source is None:
        return None
    ws = workspace_at(str(entry.path))

    def ready() -> bool:
        return ws.has_images() and (
            ws.embedding_version(model.info.key) > 0 or bool(list_jobs(ws, active_only=True))
        )

    if ready():
        return None
    from clipcore.sources.demo import generate_demo
    from clipcore.embedding.pipeline import embed_workspace
    from clipcore.catalog.ingest import ingest_folder

    with _demo_lock:
        if ready():  # another session built it while this one waited for the lock
            return None
        with st.status("Preparing the workspace (first launch)...", expanded=True) as status:
            built = []
            if not ws.has_images():
                if not entry.source.exists() or not any(entry.source.iterdir()):
                    st.write(f"Generating the demo collection in {code(entry.source)}...")
                    generate_demo(entry.source)
                    built.append("generated the demo collection")
                st.write("Cataloguing images and making thumbnails...")
                bar = st.progress(0.0)
                report = ingest_folder(
                    ws,
                    entry.source,
                    labels_from_folders=entry.labels_from_folders,
                    progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d}/{t} files"),
                )
                built.append(f"catalogued {report.added} images")
            missing = len(ws.missing_embeddings(model.info.key))
            if missing:
                st.write(f"Embedding {missing} images with {model.info.key}...")
                bar = st.progress(0.0)
                embed_workspace(ws, model, progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d}/{t} images"))
                built.append(f"embedded {missing} images")
            status.update(label="Workspace ready", state="complete", expanded=False)
        return "; ".join(built) or None


def continue_first_embed(entry: WorkspaceEntry, ws, info) -> None:
    """Start a new collection's first embed once its first ingest is done (from any page,
    so it follows even when nobody stays on Home)."""
    from clipcore.catalog.jobs import list_jobs
    from clipcore.catalog.registry import mark_embed_started, pending_first_embed
    from clipcore.errors import ClipcoreError
    from clipcore.jobkinds import start_kind

    from ui import state
    from ui.resources import settings

    try:
        if getattr(ws, "read_only", False) or not pending_first_embed(settings(), entry.name):
            return
        if list_jobs(ws, active_only=True):
            return
        if not any(j["kind"] in ("ingest", "import-iiif") and j["status"] == "done" for j in list_jobs(ws, limit=5)):
            return
        mark_embed_started(settings(), entry.name)
        if ws.missing_embeddings(info.key):
            st.session_state[state.HOME_LAST_JOB] = start_kind(ws, "embed", model=info)
    except ClipcoreError as exc:
        st.error(f"Could not start embedding {md(entry.name)}: {md(exc)}", icon="🚫")


def run_first_launch_chores() -> None:
    """What app.py runs before every page: the demo build and a new collection's first
    embed, for the active collection and model. A collection or model that cannot be opened
    is left to the page prologue, which says why."""
    from clipcore.errors import ClipcoreError

    from ui.resources import active_model, current_entry, workspace

    try:
        entry, active = current_entry(), active_model()
    except ClipcoreError:
        return
    try:
        ensure_demo_workspace(entry, active.model)
    except ClipcoreError as exc:
        st.error(md(exc), icon="🚫")
    try:
        ws = workspace()
    except Exception:  # the prologue opens it again and shows the reason in one line
        return
    continue_first_embed(entry, ws, active.model.info)


def render_download_panel(ws, entry: WorkspaceEntry, active) -> None:
    """Home's "Download model weights" panel, shown while the app runs on ``tiny`` because
    the configured model's weights are missing. The download is a ``download-model`` job
    (its own process: it survives reloads; a rerun resumes a partial file) followed by
    ``ui.jobs``: a bar with "x MB of y MB, z MB/s". When it is done, the app switches to the
    downloaded model. Admins start it (the ``start_jobs`` permission); others are told who can.
    """
    from clipcore.catalog.jobs import list_jobs

    from ui import auth
    from ui.jobs import job_panel, start_job_from_ui
    from ui.resources import settings

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
        from ui.resources import _active

        st.session_state[switched] = True
        _active.clear()  # the next run loads the configured model from the cache
        st.rerun(scope="app")
    st.info(f"The download finished ({md(job['message'] or '')}), but the app could not load the weights; see the banner above.")
