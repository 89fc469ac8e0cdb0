"""The Label page's actions: assign (the grid's Assign), the button callbacks (next page, undo),
the query of the next page (computed by ``clipcore.team.loop``), and auto-accept of
confident suggestions.

Callbacks run before the next script run, so they may set widget state; they report
through ``ui.label.review.flash``. Every write checks the role first (``ui.core.auth.permit``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.errors import ClipcoreError, InputError, PermissionDenied
from clipcore.retrieval.search import image_vector
from clipcore.team import ranking
from clipcore.team.loop import PageRequest, next_page
from ui.core import auth
from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.core import state
from ui.label.review import flash as _flash, new_page as _new_page
from ui.core.text import app_text, md, plural

PAGE = state.LABEL_PAGE
SKIPPED = "label_skipped"  # {"sig", "ids"}: pages passed over with "next page" for this query
AUTO_PLANS = "label_auto_plans"
GEN = "label_grid_gen"  # bumps with every new page so its tiles start selected


def few_shot(ctx, *, out_of_fold: bool = False) -> ranking.ClassProbabilities | None:
    """Few-shot class probabilities from the labels so far (cached per labels version)."""
    return classifier_cache.few_shot_probabilities(ctx.ws, ctx.key, out_of_fold=out_of_fold)


def assign(ws, ws_name: str, annotator: str, target: str, source: dict, selected: list[int]) -> None:
    """The page's ``selected`` tiles get ``target``; the others are recorded as not of it (one batch)."""
    page = st.session_state.get(PAGE)
    if not page or not page["ids"]:
        return
    overwrite = bool(st.session_state.get("label_overwrite"))
    chosen = {int(i) for i in selected}
    keep = [i for i in page["ids"] if i in chosen]
    drop = [i for i in page["ids"] if i not in keep]
    try:
        auth.permit("overwrite" if overwrite else "label", ws_name)  # callbacks run before the page's own check
        res = lbl.assign_page(
            ws, target, keep, annotator=annotator, source=source, rejected_ids=drop, drawn_at=page["drawn_at"], overwrite=overwrite
        )
    except ClipcoreError as exc:
        _flash(app_text(exc), "🚫")
        return
    done = f"Labelled {res.assigned} as {target!r}, {res.rejected} deselected" + (f" (batch {res.batch_id[:8]})." if res.batch_id else ".")
    if res.skipped:
        _flash(f"{res.skipped_message()}: skipped (tick \"Overwrite\" to replace them). {done}", "⚠️")
    else:
        _flash(done)
    _new_page()


def skip(ws, ws_name: str, annotator: str, sig: tuple, claim: bool) -> None:
    """Pass over this page for this query (its claims released)."""
    page = st.session_state.get(PAGE)
    if not page:
        return
    if claim:
        try:
            auth.permit("label", ws_name)
        except PermissionDenied as exc:
            _flash(app_text(exc), "🚫")
            return
    skipped = st.session_state.get(SKIPPED)
    if not skipped or skipped["sig"] != sig:
        skipped = {"sig": sig, "ids": []}
    skipped["ids"] = skipped["ids"] + list(page["ids"])
    st.session_state[SKIPPED] = skipped
    if claim:
        lbl.release_claims(ws, annotator, page["ids"])
    _new_page()


def skipped_count(sig: tuple) -> int:
    """How many images this session passed over with "next page" for the query ``sig``."""
    skipped = st.session_state.get(SKIPPED)
    return len(skipped["ids"]) if skipped and skipped["sig"] == sig else 0


def unskip() -> None:
    """Bring back the images passed over with "next page" (they rank again with the rest)."""
    st.session_state.pop(SKIPPED, None)
    _new_page()


def undo(ws, ws_name: str, annotator: str) -> None:
    """Revert the annotator's own last batch."""
    last = lbl.last_batch(ws, annotator)
    if last is None:
        _flash("Nothing to undo: you have no batch left that is not reverted.", "ℹ️")
        return
    try:
        auth.permit("undo_own", ws_name)
        n = lbl.revert_batch(ws, last["batch_id"], annotator=annotator, only_own=True)
    except ClipcoreError as exc:
        _flash(app_text(exc), "🚫")
        return
    _flash(f"Undid batch {last['batch_id'][:8]} ({plural(n, 'label')} of {last['class']!r}).", "↩️")
    _new_page()


def compute_page(ctx, annotator, labels, sig, target, kind, text, image_id, n, learn, claim, zero_shot) -> dict:
    """The next page for the Label page's query (``clipcore.team.loop.next_page``): builds the
    query (text or image vector, or the class's zero-/few-shot scores) and keeps the pages
    passed over for it; ``labels``: ``catalog.labels.LabelArrays`` of the current labels."""
    ws, matrix = ctx.ws, ctx.matrix
    query = None
    if kind == "text":
        query = resources.text_vector(ctx.key, text)
    elif kind == "image":
        query = image_vector(matrix, image_id)
    elif kind == "zero-shot":
        base = zero_shot.class_scores(target)
    else:
        probs = few_shot(ctx)
        if probs is None:
            raise InputError("no few-shot scores yet: label images of two classes (or compute the stored scores).")
        base = probs.class_scores(target)
    skipped = st.session_state.get(SKIPPED)
    request = PageRequest(
        target, n, query=query, class_scores=None if query is not None else base, learn=learn, claim=claim,
        skipped=skipped["ids"] if skipped and skipped["sig"] == sig else (),
    )
    index = resources.vector_index(ws, ctx.key) if query is not None else None
    page = next_page(ws, matrix, labels, request, annotator=annotator, index=index)
    gen = st.session_state.get(GEN, 0) + 1
    st.session_state[GEN] = gen
    return {"sig": sig, "ids": page.ids, "scores": page.scores, "reranked": page.reranked, "gen": gen}


def suggestions(ctx, suggester: str, zero_shot) -> ranking.ClassProbabilities | None:
    """The probabilities behind the tiles' suggested class ("zero-shot", "few-shot" or "none")."""
    if suggester == "zero-shot":
        return zero_shot
    if suggester == "few-shot":
        return few_shot(ctx)
    return None


def auto_accept(ctx, annotator, target, labels, version, zero_shot) -> None:
    """Thresholds per class at a target precision, and accepting the images above one as a batch."""
    with st.expander("Auto-accept confident suggestions"):
        st.caption(
            "Per class, the lowest confidence at which the suggestions reach the target precision on the images "
            "labelled so far; unlabelled images above it can be accepted as one batch (revertible like any other)."
        )
        c1, c2, c3 = st.columns(3)
        which = c1.selectbox("Suggestions from", ["zero-shot", "few-shot"], key="label_auto_src")
        target_precision = c2.slider("Target precision", 0.80, 1.00, 0.98, 0.01, key="label_auto_precision")
        min_support = c3.number_input("At least this many labelled above it", 1, 1000, 5, key="label_auto_support")
        if st.button("Compute thresholds", key="label_auto_compute"):
            try:
                probs = zero_shot if which == "zero-shot" else few_shot(ctx, out_of_fold=True)
                if probs is None:
                    raise InputError(f"no {which} suggestions yet: save a prompt set, or label two classes.")
                plans = ranking.plan_auto_accept(
                    probs, labels, target_precision, min_support=int(min_support), exclude=lbl.rejected_for(ctx.ws, target)
                )
                st.session_state[AUTO_PLANS] = {"version": version, "plans": plans, "source": probs.source, "precision": target_precision}
            except ClipcoreError as exc:
                context.show_error(exc)
        stored = st.session_state.get(AUTO_PLANS)
        if not stored:
            return
        if stored["version"] != version:
            st.caption("Labels changed since these thresholds were computed; compute them again.")
            return
        st.dataframe(pd.DataFrame([p.to_dict() for p in stored["plans"]]), hide_index=True)
        plan = next((p for p in stored["plans"] if p.label == target), None)
        if plan is None or plan.threshold is None or not plan.image_ids:
            st.caption(f"Nothing to auto-accept for {md(repr(target))} at this precision.")
            return
        st.text(f"{len(plan.image_ids)} unlabelled images reach the threshold for class: {target}")
        if st.button(f"Accept these {len(plan.image_ids)} images", key="label_auto_accept"):
            source = {
                "kind": "auto-accept",
                "threshold": plan.threshold,
                "target_precision": stored["precision"],
                "observed_precision": plan.precision,
                "support": plan.support,
                "suggester": stored["source"],
            }
            try:
                auth.permit("label", ctx.entry.name)
                batch = lbl.record_batch(ctx.ws, target, plan.image_ids, annotator=annotator, source=source)
            except ClipcoreError as exc:
                context.show_error(exc)
                return
            st.session_state.pop(AUTO_PLANS, None)
            _flash(f"Auto-accepted {plural(len(plan.image_ids), 'image')} as {target!r} (batch {batch[:8]}).")
            _new_page()
            st.rerun()
