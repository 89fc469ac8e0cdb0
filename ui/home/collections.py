"""Collections made in the app: the New collection form, rename and remove (the first
embed that follows a new collection's first ingest: ``ui.core.first_launch``)."""

from __future__ import annotations

import streamlit as st

from clipcore.catalog.registry import (
    allowed_folders_note,
    create_collection,
    load_collections,
    remove_collection,
    rename_collection,
)
from clipcore.catalog.store import Workspace
from clipcore.config import WorkspaceEntry
from clipcore.embedding.models import ModelInfo
from clipcore.errors import ClipcoreError

from ui.core import auth, state
from ui.core.auth import start_kind  # recorded in the audit log
from ui.home.iiif_import import parse_sources
from ui.core.resources import settings
from ui.core.text import code, md

NEW_FORM = "new_collection"
CREATED = "nc_created"  # set when the form created a collection: the next run empties its fields


def _switch_to(name: str) -> None:
    """Make ``name`` the active collection on the next run (the URL parameter wins there)."""
    st.query_params["ws"] = name
    st.rerun()


def render_new_collection(info: ModelInfo) -> None:
    """Home's "New collection" form: a name and a folder under ``[app] allowed_roots``.
    Creates the collection, starts its ingest job (the embed follows, see
    ``ui.core.first_launch.continue_first_embed``) and switches to it."""
    cfg = settings()
    if st.session_state.pop(CREATED, False):  # created last run: start the next one from empty fields
        for key in ("nc_name", "nc_folder", "nc_labels", "nc_iiif"):
            st.session_state.pop(key, None)
    with st.form(NEW_FORM, clear_on_submit=False):
        st.markdown("**New collection**")
        st.caption(md(allowed_folders_note(cfg)))
        name = st.text_input("Name", key="nc_name", max_chars=60, placeholder="e.g. Letters 1890-1910")
        folder = st.text_input("Folder", key="nc_folder", placeholder="/path/to/images")
        labels = st.checkbox("Sub-folder names are class labels", key="nc_labels")
        iiif = st.text_area(
            "Or IIIF manifest / collection URLs, one a line", key="nc_iiif", height=80,
            help="A digital library's books: each page is downloaded into the folder above, each book kept as a group.",
        )
        submitted = st.form_submit_button("Create and ingest", type="primary")
    if not submitted:
        return
    try:
        urls = parse_sources(iiif)
        entry = create_collection(cfg, name, folder, labels_from_folders=labels and not urls)
        auth.audit("collection_create", entry.name, folder=str(entry.source), iiif_sources=urls)
        ws = Workspace(entry.path)
        if urls:  # download the books into the folder, then ingest it (a book is a group, not a class)
            st.session_state[state.HOME_LAST_JOB] = start_kind(ws, "import-iiif", urls=urls, out=entry.source)
        else:
            st.session_state[state.HOME_LAST_JOB] = start_kind(
                ws, "ingest", source=entry.source, labels_from_folders=entry.labels_from_folders)
    except ClipcoreError as exc:
        st.error(md(exc), icon="🚫")
        return
    st.session_state[CREATED] = True
    _switch_to(entry.name)


def render_manage(entry: WorkspaceEntry) -> None:
    """Rename the active collection or remove it from the list (registry collections only)."""
    cfg = settings()
    if entry.name not in {c.name for c in load_collections(cfg)}:
        st.caption(f"{md(entry.name)} is listed in clipcore.toml: rename or remove it there.")
        return
    with st.form("rename_collection"):
        new = st.text_input("New name", value=entry.name, key="rc_name", max_chars=60)
        if st.form_submit_button("Rename"):
            try:
                renamed = rename_collection(cfg, entry.name, new)
            except ClipcoreError as exc:
                st.error(md(exc), icon="🚫")
            else:
                auth.audit("collection_rename", renamed.name, old_name=entry.name)
                _switch_to(renamed.name)
    with st.form("remove_collection"):
        st.caption(f"Removing takes {md(entry.name)} off the list. Your image folder {code(entry.source)} is never touched.")
        delete = st.checkbox("Also delete its catalogue, thumbnails and embeddings", key="rm_files")
        if st.form_submit_button("Remove from the list"):
            try:
                remove_collection(cfg, entry.name, delete_files=delete)
            except ClipcoreError as exc:
                st.error(md(exc), icon="🚫")
            else:
                auth.audit("collection_remove", entry.name, folder=str(entry.source), deleted_files=delete)
                st.query_params.pop("ws", None)  # the prologue falls back to the first collection
                st.rerun()
