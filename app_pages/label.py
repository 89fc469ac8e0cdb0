"""Label: mass labelling for a small team, with provenance and undo.

The loop: pick a class and a query, untick the wrong tiles of the next page of
unlabelled images, assign the class to the rest in one action (the unticked ones are
recorded as negatives), and the next page of the same ranking appears. Every action
is a batch in the workspace, so anyone can see, undo, revert, resolve and export it.
"""

from __future__ import annotations

import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.errors import ClipcoreError
from ui.core import classifier_cache
from ui.core import context
from ui.label import actions as act
from ui.label import loop
from ui.core import resources
from ui.core import state
from ui.label.filters import apply_browse_assign, browse_view
from ui.label.history import history_view, review_view, show_guideline
from ui.label.review import conflicts_view, export_view, show_flash, tell_relabelled
from ui.widgets.prediction_jobs import render_prediction_jobs
from ui.core.text import md

VIEWS = ["Label", "Browse", "History", "Review", "Conflicts", "Export"]


# -- identity ---------------------------------------------------------------------------


def _annotator(ctx) -> str:
    """With sign-in on, the signed-in identity (no name box, no ``?annotator=``). With it
    off (mode none, one person on their own machine) a typed name, shown as unverified."""
    if ctx.user is not None and ctx.user.verified:
        return ctx.user.id
    if state.ANNOTATOR not in st.session_state and st.query_params.get("annotator"):
        st.session_state[state.ANNOTATOR] = st.query_params["annotator"]
    typed = st.sidebar.text_input(
        "Your name", key=state.ANNOTATOR, max_chars=lbl.MAX_ANNOTATOR_CHARS,
        help="Recorded with every label you make. Sign-in is off, so the name is not verified.",
    ).strip()
    if not typed:
        st.info("Type your name in the sidebar to start labelling; it is recorded with every label.")
        st.stop()
    st.sidebar.caption(f"Labelling as **{md(typed)}** (unverified: sign-in is off)")
    if st.query_params.get("annotator") != typed:
        st.query_params["annotator"] = typed
    return typed


# -- views ---------------------------------------------------------------------------------


def _label_view(ctx, annotator: str) -> None:
    """The labelling loop: choose a query, untick the wrong tiles, assign the rest."""
    ws = ctx.ws
    if not ctx.can("label"):
        st.info(f"You can look at the history, the conflicts and the exports; your role ({ctx.role}) does not label.")
        return
    loop.apply_more_like_this()
    version = lbl.label_events_version(ws)  # before the labels: a page is never newer than its drawn_at
    labels = lbl.current_label_arrays(ws)  # arrays: no dict of every labelled id
    loop.render_progress(ws, annotator, lbl.label_progress(ws, total=resources.catalogue_summary(ws)["counts"]["images"]))
    zero_shot = loop.zero_shot(ctx)
    few_ready = len(labels.counts()) >= 2
    if not classifier_cache.scored_in_page(ws, ctx.key):  # a large collection: scores come from a job
        few_ready = few_ready and act.few_shot(ctx) is not None
        render_prediction_jobs(ctx, zero_shot_ready=zero_shot is not None, few_shot_ready=few_ready)
    q = loop.query_controls(ctx, labels, zero_shot, few_ready)
    if q is None:
        return
    show_guideline(ws, q["target"])
    drawn = loop.current_page(ctx, annotator, labels, q, version, zero_shot)
    if drawn is None:
        return
    sig, page = drawn
    suggest_probs = act.suggestions(ctx, q["suggester"], zero_shot)
    loop.action_buttons(ctx, annotator, q, sig, page["ids"], loop.batch_source(ctx, q, page, version, zero_shot, suggest_probs))
    if page["reranked"]:
        st.caption("Re-ranked by a classifier on the labels so far.")
    elif q["learn"]:
        st.caption("Learn as you go starts once this class has labelled examples and counter-examples.")
    loop.render_page(ctx, q, sig, page, suggest_probs)
    act.auto_accept(ctx, annotator, q["target"], labels, version, zero_shot)


# -- page -------------------------------------------------------------------------------------


def main() -> None:
    ctx = context.page_context()
    st.title("Label")
    annotator = _annotator(ctx)
    loop.apply_assign(ctx, annotator)  # checks the role again (ui.core.auth.permit)
    apply_browse_assign(ctx, annotator)  # the same for the Browse view's grid
    tell_relabelled(ctx.ws, annotator)
    show_flash()
    if "label_view" not in st.session_state and st.query_params.get("view") in VIEWS:
        st.session_state["label_view"] = st.query_params["view"]  # a shared link of a filtered Browse view
    view = st.radio("View", VIEWS, horizontal=True, key="label_view", label_visibility="collapsed")
    if view != "Browse" and "view" in st.query_params:
        del st.query_params["view"]
    try:
        if view == "Label":
            _label_view(ctx, annotator)
        elif view == "Browse":
            browse_view(ctx, annotator)
        elif view == "History":
            history_view(ctx, annotator)
        elif view == "Review":
            review_view(ctx, annotator)
        elif view == "Conflicts":
            conflicts_view(ctx, annotator)
        else:
            export_view(ctx)
    except ClipcoreError as exc:
        context.show_error(exc)


main()
