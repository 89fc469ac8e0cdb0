"""The Evaluate page's hold-out panel: what is frozen, or the explicit "Freeze hold-out" action.

Nothing else in the app freezes a split: reads never write, so the user chooses the
test share, the seed and whether whole groups (a source folder, or the labels CSV's
group column) go to one side.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from clipcore.catalog.metadata import has_books
from clipcore.catalog.store import Workspace
from clipcore.classify.splits import DEFAULT_TEST_FRACTION, Split, freeze_split, get_split
from clipcore.errors import ClipcoreError

from ui.core import auth
from ui.core.text import md

GROUP_CHOICES = {
    "none": "None: images are drawn one by one (stratified by class)",
    "folder": "Source folder: all images of a folder go to the same side",
    "group": "Group column: all images of a group (labels CSV 'group', else an imported book) go to the same side",
}


def _when(iso: str | None) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso)


def render_holdout(ws: Workspace, name: str, workspace_name: str | None = None) -> Split | None:
    """Show the frozen split ``name``, or a form that freezes it (admins); returns the split or None."""
    split = get_split(ws, name)
    if split is not None:
        grouped = {"folder": ", whole source folders", "group": ", whole groups"}.get(split.group_by or "", "")
        st.caption(
            f"Hold-out split {md(split.name)}: {len(split.test_ids)} test images, {len(split.train_ids)} training "
            f"images, seed {split.seed}{grouped}, frozen {_when(split.created_at)}. Nothing trains or tunes on the "
            "test images; the split never changes."
        )
        return split
    st.info(
        "No hold-out split is frozen yet. Freeze one below from the ground truth: every method is then scored on "
        "exactly those images, and the Few-shot page never trains on them."
    )
    with st.form("freeze_holdout"):
        # Pages of one imported book look alike: splitting a book would flatter every method.
        default = list(GROUP_CHOICES).index("group") if has_books(ws) else 0
        group_by = st.radio(
            "Keep together", list(GROUP_CHOICES), index=default, format_func=GROUP_CHOICES.get, key="fh_group_by"
        )
        c1, c2 = st.columns(2)
        fraction = c1.slider("Hold-out share per class", 0.05, 0.5, DEFAULT_TEST_FRACTION, 0.01, key="fh_fraction")
        seed = c2.number_input("Seed", 0, 2**31 - 1, 0, key="fh_seed")
        may = auth.can("start_jobs", workspace_name)  # evaluation set-up is admin work (clipcore.team.roles)
        clicked = st.form_submit_button("Freeze hold-out", type="primary", disabled=not may)
    if clicked:
        try:
            auth.permit("start_jobs", workspace_name)
            split = freeze_split(
                ws, name=name, test_fraction=float(fraction), seed=int(seed), group_by=None if group_by == "none" else group_by
            )
        except ClipcoreError as exc:
            st.error(md(exc), icon="🚫")
            return None
        st.rerun()
    return None
