"""The page prologue every page calls: banner, workspace, model, embeddings; and how a
page shows an expected error."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import streamlit as st

from clipcore import UNTRAINED_WARNING
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.config import WorkspaceEntry
from clipcore.embedding.models import ClipModel, ModelSpec, describe_key
from clipcore.errors import ClipcoreError

from clipcore.team.roles import allowed

from ui.core import state
from ui.core.auth import User, account_sidebar, can, require
from ui.core.navigation import home_link
from ui.core.resources import ActiveModel, active_model, current_entry, embeddings, workspace, workspace_entries
from ui.core.text import app_text, code, md

WS_PARAM = "ws"  # ?ws=NAME: the active collection, so a reload or a shared link opens it


def model_banner(active: ActiveModel) -> None:
    """The untrained-model notice: one line, with the reason and the fix behind a button on that line."""
    if not active.untrained:
        return
    note, why = st.columns([4, 1], vertical_alignment="center")
    note.warning(f"**{UNTRAINED_WARNING}** ({md(describe_key(active.model.info.key))}): a demo of the tool, not of CLIP.",
                 icon="⚠️")
    with why.popover("Why, and how to fix it", width="stretch"):
        if active.fallback_reason:
            st.markdown("The configured model could not be loaded:")
            st.code(active.fallback_reason, language=None, wrap_lines=True)
        else:
            st.markdown("The configuration asks for the tiny model, which has random weights (for tests).")
        st.markdown(
            "To see real results, give the app CLIP weights:\n"
            "- with internet, an admin presses **Download model weights** on Home (about 600 MB; it resumes if "
            "interrupted, and the app switches to them when done);\n"
            "- without internet, download them on a connected machine and copy its weights cache "
            "(the folder ~/.cache/huggingface) here; or\n"
            "- name a local weights file on the checkpoint line of the [model] section in clipcore.toml, "
            "then restart the app."
        )


def show_error(exc: ClipcoreError) -> None:
    """How pages show an expected error: one line, no stack trace; the message quotes
    user strings (class names, paths), so it is escaped."""
    st.error(md(exc), icon="🚫")


@dataclass(frozen=True)
class PageContext:
    """What every page needs: the workspace, the model and its embeddings."""

    entry: WorkspaceEntry
    ws: Workspace
    active: ActiveModel
    matrix: EmbeddingMatrix | None
    user: User | None = None
    role: str | None = None

    def can(self, action: str) -> bool:
        """Whether the signed-in user may do ``action`` here (clipcore.team.roles)."""
        return allowed(self.role, action)

    @property
    def model(self) -> ClipModel:
        """The active CLIP model."""
        return self.active.model

    @property
    def key(self) -> str:
        """Embedding key of the active model."""
        return self.active.model.info.key


def may_manage_collections() -> bool:
    """Whether this session may create, rename or remove collections.

    Admins only (the ``start_jobs`` permission, clipcore.team.roles): a collection is
    ingested and embedded by jobs.
    """
    return can("start_jobs", current_entry().name)


def _keep_param() -> None:
    st.query_params[WS_PARAM] = st.session_state[state.WORKSPACE]


def select_workspace() -> WorkspaceEntry:
    """The sidebar of every page: the active collection (``?ws=NAME``) and its model.

    The URL wins (a reload, a shared link, the back button); a page switch that dropped
    the parameter gets it back from session state, so the same collection stays active.
    An unknown name shows one error and falls back to the first collection.
    """
    try:
        entries = workspace_entries()
    except ClipcoreError as exc:
        show_error(exc)
        st.stop()
    names = [e.name for e in entries]
    wanted = st.query_params.get(WS_PARAM)
    if wanted in names:
        st.session_state[state.WORKSPACE] = wanted
    else:
        if wanted is not None:
            st.error(f"No collection is called {code(wanted)}; showing {code(names[0])}. Choose one in the sidebar.")
            st.session_state[state.WORKSPACE] = names[0]
        elif st.session_state.get(state.WORKSPACE) not in names:
            st.session_state[state.WORKSPACE] = names[0]
    st.sidebar.selectbox(
        "Collection", names, key=state.WORKSPACE, on_change=_keep_param,
        help="The collection every page works on. It is part of the address (?ws=...), so a link opens it too.",
    )
    _keep_param()
    try:
        active = active_model()
        info = active.model.info
        label = ModelSpec(info.key, info.name, info.pretrained, info.checkpoint, info.untrained).label
        st.sidebar.caption(
            f"Model {code(label)}" + (" · untrained" if active.untrained else ""),
            help=f"Running on {info.device}/{info.precision}. Another model's results: "
                 "Zero-shot (Compare models) and Evaluate.",
        )
    except ClipcoreError:
        pass  # the page prologue shows why
    return current_entry()


def _open_workspace(entry: WorkspaceEntry) -> Workspace:
    """The workspace handle and a first read; any failure is one st.error line, then stop."""
    try:
        ws = workspace()
        ws.change_count()  # a first read: a broken catalog fails here, in one line
        return ws
    except (ClipcoreError, OSError, sqlite3.Error) as exc:
        reason = app_text(exc) if isinstance(exc, ClipcoreError) else f"{type(exc).__name__}: {exc}"
        st.error(f"Cannot open the collection {md(entry.name)} ({code(entry.path)}): {md(reason)}", icon="🚫")
        st.stop()


def page_context(*, require_embeddings: bool = True, allow_empty: bool = False, action: str = "view") -> PageContext:
    """Common page prologue: who is signed in and may they ``action`` here, banner,
    workspace, model, embeddings; stops the page with a clear message when the user is
    not signed in or not allowed, the workspace is empty (unless ``allow_empty``: Home,
    which can ingest) or lacks embeddings for the model."""
    user, role = require(action, current_entry().name)
    account_sidebar(user, role)
    try:
        active = active_model()
    except ClipcoreError as exc:
        show_error(exc)
        st.stop()
    model_banner(active)
    entry = current_entry()
    ws = _open_workspace(entry)  # the first-launch chores ran in app.py (ui.core.first_launch)
    if not allow_empty and not ws.has_images():
        st.info(f"The collection {md(entry.name)} holds no images yet. Open Home and press **Ingest new files**.")
        home_link()
        st.stop()
    matrix = None
    if require_embeddings:
        try:
            matrix = embeddings(ws, active.model.info.key)
        except ClipcoreError:
            damaged = ws.damaged_embeddings().get(active.model.info.key)
            if damaged:
                st.error(
                    f"The stored embeddings of {md(entry.name)} are damaged ({md(damaged)}). "
                    "Open Home and press **Rebuild embeddings**.",
                    icon="🚫",
                )
            else:
                st.info(
                    f"No images of {md(entry.name)} are embedded with the current model yet. "
                    "Open Home and press **Embed ... missing**."
                )
            home_link()
            st.stop()
    return PageContext(entry, ws, active, matrix, user, role)
