"""First-launch chores, run once per app run from app.py (``run_first_launch_chores``),
and only for a visitor who may start jobs: build the demo workspace once per process, and
start a new collection's first embed once its first ingest is done. (Home's download panel for the model's weights: ``ui.home.download``.)"""

from __future__ import annotations

import threading

import streamlit as st

from clipcore.config import WorkspaceEntry
from clipcore.embedding.models import ClipModel

from ui.core.resources import workspace_at
from ui.core.text import code, md


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
                    real_folder=True,
                )
                built.append(f"catalogued {report.added} images")
            missing = len(ws.missing_embeddings(model.info.key))
            if missing:
                st.write(f"Embedding {missing} images...")
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
    from ui.core.auth import start_kind  # recorded in the audit log

    from ui.core import state
    from ui.core.resources import settings

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

    from ui.core.resources import active_model, current_entry, workspace

    from ui.core.auth import can

    try:
        entry, active = current_entry(), active_model()
    except ClipcoreError:
        return
    # Writes on page open (the demo's first build, a new collection's first embed) are an
    # admin's visit (or the local user's), never whichever visitor comes first.
    if not can("start_jobs", entry.name):
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
