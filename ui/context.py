"""The page prologue every page calls: banner, workspace, model, embeddings; and how a
page shows an expected error."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from clipcore import UNTRAINED_WARNING
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.config import WorkspaceEntry
from clipcore.embedding.models import ClipModel
from clipcore.errors import ClipcoreError

from clipcore.team.roles import allowed

from ui.auth import User, account_sidebar, require
from ui.first_launch import ensure_demo_workspace
from ui.navigation import leave_pages_folder_mode
from ui.resources import ActiveModel, active_model, current_entry, embeddings, workspace
from ui.text import code, md


def model_banner(active: ActiveModel) -> None:
    """The untrained-model warning (every page shows it when the model is ``tiny``)."""
    if active.untrained:
        msg = f"**{UNTRAINED_WARNING}.** The app is using {code(active.model.info.key)}."
        if active.fallback_reason:
            msg += f" The configured model could not be loaded: {md(active.fallback_reason)}"
        st.warning(msg, icon="⚠️")


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


def page_context(*, require_embeddings: bool = True, action: str = "view") -> PageContext:
    """Common page prologue: who is signed in and may they ``action`` here, banner,
    workspace, model, embeddings; stops the page with a clear message when the user is
    not signed in or not allowed, or the workspace is empty or lacks embeddings."""
    leave_pages_folder_mode()
    user, role = require(action, current_entry().name)
    account_sidebar(user, role)
    try:
        active = active_model()
    except ClipcoreError as exc:
        show_error(exc)
        st.stop()
    model_banner(active)
    entry = current_entry()
    ws = workspace()
    try:
        ensure_demo_workspace(entry, active.model)
    except ClipcoreError as exc:
        show_error(exc)
    if ws.counts()["images"] == 0:
        st.info(
            f"The workspace {code(entry.path)} holds no images yet. Ingest a folder from the Home page, "
            f"or run {code(f'python -m clipcore ingest DIR --workspace {entry.path}')}."
        )
        st.stop()
    matrix = None
    if require_embeddings:
        try:
            matrix = embeddings(ws, active.model.info.key)
        except ClipcoreError:
            st.info(
                f"No images are embedded with {code(active.model.info.key)} yet. Start embedding from the Home page, "
                f"or run {code(f'python -m clipcore embed --workspace {entry.path}')}."
            )
            st.stop()
    return PageContext(entry, ws, active, matrix, user, role)
