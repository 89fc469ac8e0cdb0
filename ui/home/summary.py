"""The Home page: which workspace, which model, what the collection holds."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.config import WorkspaceEntry
from clipcore.errors import ClipcoreError
from clipcore.catalog.jobs import list_jobs
from clipcore.jobkinds import KINDS
from clipcore.embedding.models import ModelInfo, describe_key
from clipcore.catalog.store import Workspace

from ui.core import auth
from ui.core import context
from ui.core import resources
from ui.home.download import DOWNLOAD_JOB, render_download_panel
from ui.widgets.jobs import POLL_S, job_panel, start_job_from_ui
from ui.widgets.model_compare import render_add_model
from ui.core.text import code, md

# Home follows every kind but the download (its own panel shows it).
HOME_KINDS = tuple(k for k in KINDS if k != DOWNLOAD_JOB)


def render_home() -> None:
    """Workspace status at a glance."""
    ctx = context.page_context(require_embeddings=False, allow_empty=True)
    st.title(md(ctx.entry.name))
    ws = ctx.ws
    summary = resources.catalogue_summary(ws)
    counts, embedded, per_class = summary["counts"], summary["embedded"], summary["per_class"]
    n = counts["images"]
    if n == 0:
        st.info(
            "This collection holds no images yet. Press **Ingest new files** below to catalogue its folder."
            if ctx.entry.source is not None
            else "This collection holds no images and has no folder to ingest. Add one with **New collection** below."
        )

    render_download_panel(ws, ctx.entry, ctx.active)
    # The figures follow a running ingest or embed: they poll with the job panel below (a job
    # commits in batches, and every batch moves the change counter the summary is cached on).
    busy = any(j["kind"] in HOME_KINDS for j in list_jobs(ws, active_only=True, limit=50))
    st.fragment(_render_figures, run_every=POLL_S if busy else None)(ws, ctx.key)

    info = ctx.model.info
    st.caption(
        f"Workspace {code(ctx.entry.path)} · model {md(describe_key(info.key))} on {info.device}/{info.precision}"
        + (f" · {counts['duplicates']} duplicate files folded" if counts["duplicates"] else "")
        + (
            f" · {counts['missing']:,} missing files (gone from the folder at the last ingest; their labels are kept, "
            "and they are left out of every page)"
            if counts.get("missing") else ""
        )
    )
    # What the collection is comes first (journey 1: counts, a sample, the classes on the
    # first screen); the tools that change it (models, ingest, collections) follow.
    _render_sample(ws, summary["sample"])
    if per_class:
        st.subheader("Ground truth by class")
        st.bar_chart(pd.Series(per_class, name="images").sort_index())
    if embedded:
        st.dataframe(
            pd.DataFrame(
                [{"model": describe_key(k), "embedded": v, "share": f"{v / max(n, 1):.0%}"} for k, v in embedded.items()]
            ),
            hide_index=True,
        )
    if n and not getattr(ws, "read_only", False):
        render_add_model(ctx, follow=False)  # its job shows in the panel under "Update the collection"
    render_jobs(ws, ctx.entry, info, missing=n - embedded.get(ctx.key, 0))
    if counts["skipped"]:
        with st.expander(f"{counts['skipped']} skipped files"):
            st.dataframe(pd.DataFrame(ws.skipped()), hide_index=True)
    render_collections(ctx.entry, info)
    auth.render_audit_log(ctx.entry.name)


def _render_sample(ws: Workspace, ids: list[int]) -> None:
    """A few images of the collection, varied (the summary's sample), as a grid."""
    try:
        if ids:
            from ui.widgets.grid import image_grid

            st.subheader("A few images")
            image_grid(ws, ids, key="home", columns=6, find_similar=False)
    except ClipcoreError as exc:
        context.show_error(exc)


def _render_figures(ws: Workspace, key: str) -> None:
    """The four figures at the top of Home, read afresh on every poll while a job runs."""
    summary = resources.catalogue_summary(ws)
    counts, embedded = summary["counts"], summary["embedded"]
    n = counts["images"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Images", f"{n:,}")
    c2.metric("Embedded", f"{embedded.get(key, 0) / max(n, 1):.0%}", help=f"Images embedded with {describe_key(key)}, the current model")
    c3.metric("With ground truth", f"{counts['ground_truth'] / max(n, 1):.0%}")
    c4.metric("Skipped files", f"{counts['skipped']:,}", help="Files that could not be used; see the list below")


def render_collections(entry: WorkspaceEntry, info: ModelInfo) -> None:
    """Add a collection from a folder; rename or remove the active one (admins only, once
    sign-in lands: ``context.may_manage_collections``)."""
    if not context.may_manage_collections():
        return
    from ui.home.collections import render_manage, render_new_collection

    st.subheader("Collections")
    c_new, c_this = st.columns(2)
    with c_new:
        render_new_collection(info)
    with c_this.expander(f"Rename or remove {md(entry.name)}"):
        render_manage(entry)


def render_jobs(ws: Workspace, entry: WorkspaceEntry, info: ModelInfo, *, missing: int) -> None:
    """Start ingest/embed of the configured source folder as background jobs; show their progress.

    The jobs run in their own processes and write progress to the workspace, so the bars
    come back after a reload and other sessions keep working meanwhile.
    """
    st.subheader("Update the collection")
    active = list_jobs(ws, active_only=True)
    busy = {j["kind"] for j in active}
    read_only = bool(getattr(ws, "read_only", False))  # opened read-only: the app cannot write its folder
    if read_only:
        st.warning("This collection is read-only here (its folder cannot be written), so ingest and embed are off.")
    c1, c2, c3 = st.columns([3, 1, 1])
    if entry.source is None:
        c1.caption("No source folder is configured for this workspace, so it cannot be re-ingested from here.")
    else:
        c1.text(f"Source folder: {entry.source}")
    started = None
    may = auth.can("start_jobs", entry.name)  # admins start jobs (clipcore.team.roles)
    damaged = ws.damaged_embeddings().get(info.key)
    if damaged:
        st.error(
            f"The stored embeddings of this collection are damaged ({md(damaged)}), so Search, Zero-shot, "
            "Few-shot and Label cannot use them. **Rebuild embeddings** computes them all again.",
            icon="🚫",
        )
    if c2.button("Ingest new files", key="home_ingest", disabled=read_only or entry.source is None or "ingest" in busy or not may,
                 width="stretch"):
        started = start_job_from_ui(ws, entry.name, "ingest", key="home", source=entry.source,
                                    labels_from_folders=entry.labels_from_folders)
    if damaged:
        if c3.button("Rebuild embeddings", key="home_rebuild", type="primary", disabled=read_only or bool(busy) or not may,
                     help="Drop this model's damaged embeddings and compute them again for every image.", width="stretch"):
            started = start_job_from_ui(ws, entry.name, "embed", key="home", model=info, rebuild=True)
    elif c3.button(
        f"Embed {missing:,} missing",
        key="home_embed",
        disabled=read_only or missing == 0 or bool(busy) or not may,
        help="Embed the images that have no embedding with the current model yet.",
        width="stretch",
    ):
        started = start_job_from_ui(ws, entry.name, "embed", key="home", model=info)
    if started:
        st.rerun()
    job_panel(ws, entry.name, HOME_KINDS, key="home", recent=True)

