"""The Home page: which workspace, which model, what the collection holds."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from clipcore.errors import ClipcoreError

from ui import resources, state


def render_home() -> None:
    """Workspace status at a glance."""
    st.title("Image collection")
    entries = resources.workspace_entries()
    names = [e.name for e in entries]
    if len(entries) > 1:
        st.selectbox("Workspace", names, key=state.WORKSPACE, help="Workspaces listed in clipcore.toml")
    ctx = resources.page_context(require_embeddings=False)
    ws = ctx.ws
    counts = ws.counts()
    embedded = ws.embedding_keys()
    truth = ws.ground_truth()
    n = counts["images"]

    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Images", f"{n:,}")
    c2.metric(f"Embedded ({ctx.key})", f"{embedded.get(ctx.key, 0) / max(n, 1):.0%}")
    c3.metric("With ground truth", f"{len(truth) / max(n, 1):.0%}")
    c4.metric("Skipped files", f"{counts['skipped']:,}", help="Files that could not be used; see the list below")

    info = ctx.model.info
    st.caption(
        f"Workspace `{ctx.entry.path}` · model `{info.key}` on {info.device}/{info.precision}"
        + (f" · {counts['duplicates']} duplicate files folded" if counts["duplicates"] else "")
    )
    if embedded:
        st.dataframe(
            pd.DataFrame(
                [{"model": k, "embedded": v, "share": f"{v / max(n, 1):.0%}"} for k, v in embedded.items()]
            ),
            hide_index=True,
        )
    if truth:
        per_class = Counter(truth.values())
        st.subheader("Ground truth by class")
        st.bar_chart(pd.Series(per_class, name="images").sort_index())
    if counts["skipped"]:
        with st.expander(f"{counts['skipped']} skipped files"):
            st.dataframe(pd.DataFrame(ws.skipped()), hide_index=True)
    try:
        ids = list(ws.image_ids()[:12])
        if ids:
            from ui.grid import image_grid

            st.subheader("A few images")
            image_grid(ws, ids, key="home", columns=6, find_similar=False)
    except ClipcoreError as exc:
        resources.show_error(exc)
