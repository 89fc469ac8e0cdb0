"""Label: mass labelling for a small team, with provenance and undo.

The loop: pick a class and a query, untick the wrong tiles of the next page of
unlabelled images, assign the class to the rest in one action (the unticked ones are
recorded as negatives), and the next page of the same ranking appears. Every action
is a batch in the workspace, so anyone can see, undo, revert, resolve and export it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.team import ranking
from clipcore.errors import ClipcoreError, InputError, PermissionDenied
from clipcore.classify.prompts import ensure_reference_prompt_set
from clipcore.retrieval.search import image_vector

from ui import auth, context, resources, state
from ui.grid import image_grid, selected_ids, set_selection
from ui.label_review import conflicts_view, export_view, flash as _flash, history_view, new_page as _new_page, show_flash
from ui.text import md

PAGE_SIZES = [12, 24, 48, 96]
QUERY_KINDS = {
    "text": "Text",
    "image": "Similar to an image",
    "zero-shot": "Most confident zero-shot",
    "few-shot": "Most confident few-shot (labels so far)",
}
SUGGESTERS = ["zero-shot", "few-shot", "none"]
VIEWS = ["Label", "History", "Conflicts", "Export"]

PAGE = state.LABEL_PAGE
SKIPPED = "label_skipped"  # {"sig", "ids"}: pages passed over with "next page" for this query
AUTO_PLANS = "label_auto_plans"
GEN = "label_grid_gen"  # bumps with every new page so its checkboxes start ticked


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


# -- helpers ------------------------------------------------------------------------------


def _zero_shot(ctx) -> ranking.ClassProbabilities | None:
    ensure_reference_prompt_set(ctx.ws, resources.catalogue_summary(ctx.ws)["per_class"])
    return resources.zero_shot_probabilities(ctx.ws, ctx.key)


def _few_shot(ctx, *, out_of_fold: bool = False) -> ranking.ClassProbabilities | None:
    return resources.few_shot_probabilities(ctx.ws, ctx.key, out_of_fold=out_of_fold)


# -- callbacks (run before the next script run, so they may set widget state) -------------


def _assign(ws, ws_name: str, annotator: str, target: str, source: dict, grid_key: str) -> None:
    page = st.session_state.get(PAGE)
    if not page or not page["ids"]:
        return
    overwrite = bool(st.session_state.get("label_overwrite"))
    keep = selected_ids(grid_key, page["ids"])
    drop = [i for i in page["ids"] if i not in keep]
    try:
        auth.permit("overwrite" if overwrite else "label", ws_name)  # callbacks run before the page's own check
        res = lbl.assign_page(
            ws, target, keep, annotator=annotator, source=source, rejected_ids=drop, drawn_at=page["drawn_at"], overwrite=overwrite
        )
    except ClipcoreError as exc:
        _flash(str(exc), "🚫")
        return
    done = f"Labelled {res.assigned} as {target!r}, {res.rejected} deselected" + (f" (batch {res.batch_id[:8]})." if res.batch_id else ".")
    if res.skipped:
        _flash(f"{res.skipped_message()}: skipped (tick \"Overwrite\" to replace them). {done}", "⚠️")
    else:
        _flash(done)
    _new_page()


def _skip(ws, ws_name: str, annotator: str, sig: tuple, claim: bool) -> None:
    page = st.session_state.get(PAGE)
    if not page:
        return
    if claim:
        try:
            auth.permit("label", ws_name)
        except PermissionDenied as exc:
            _flash(str(exc), "🚫")
            return
    skipped = st.session_state.get(SKIPPED)
    if not skipped or skipped["sig"] != sig:
        skipped = {"sig": sig, "ids": []}
    skipped["ids"] = skipped["ids"] + list(page["ids"])
    st.session_state[SKIPPED] = skipped
    if claim:
        lbl.release_claims(ws, annotator, page["ids"])
    _new_page()


def _undo(ws, ws_name: str, annotator: str) -> None:
    last = lbl.last_batch(ws, annotator)
    if last is None:
        _flash("Nothing to undo: you have no batch left that is not reverted.", "ℹ️")
        return
    try:
        auth.permit("undo_own", ws_name)
        n = lbl.revert_batch(ws, last["batch_id"], annotator=annotator, only_own=True)
    except ClipcoreError as exc:
        _flash(str(exc), "🚫")
        return
    _flash(f"Undid batch {last['batch_id'][:8]} ({n} labels of {last['class']!r}).", "↩️")
    _new_page()


def _select(grid_key: str, value: bool) -> None:
    page = st.session_state.get(PAGE)
    if page:
        set_selection(grid_key, page["ids"], value)


# -- views ---------------------------------------------------------------------------------


def _progress(ws, annotator: str, progress: dict) -> None:
    stats = lbl.annotator_stats(ws)
    mine = next((s for s in stats if s["annotator"] == annotator), None)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Labelled", f"{progress['labelled']:,}")
    c2.metric("Unlabelled", f"{progress['unlabelled']:,}")
    c3.metric("Your pace", f"{mine['pace_per_min'] if mine else 0:.1f} img/min", help="Images decided in the last 10 minutes")
    c4.metric("Annotators", len(stats))
    with st.expander("Progress by class and by annotator"):
        left, right = st.columns(2)
        left.dataframe(
            pd.DataFrame({"class": list(progress["per_class"]), "images": list(progress["per_class"].values())}),
            hide_index=True,
        )
        right.dataframe(pd.DataFrame(stats, columns=["annotator", "decided", "current", "pace_per_min", "last_at"]), hide_index=True)


@st.fragment
def _grid(ws, ids: list[int], grid_key: str, scores: dict[int, float], notes: dict[int, str]) -> None:
    # A fragment: (de)selecting a tile reruns only the grid, not the whole page.
    kept = len(selected_ids(grid_key, ids))
    st.caption(f"{kept} of {len(ids)} selected; click the numbers of the tiles that are not of this class.")
    image_grid(ws, ids, key=grid_key, scores=scores, notes=notes, columns=6, selectable=True, find_similar=False)


def _label_view(ctx, annotator: str) -> None:
    ws = ctx.ws
    if not ctx.can("label"):
        st.info(f"You can look at the history, the conflicts and the exports; your role ({ctx.role}) does not label.")
        return
    version = lbl.labels_version(ws)  # before the labels: a page is never newer than its drawn_at
    labels = lbl.current_labels(ws)
    progress = lbl.label_progress(ws, total=resources.catalogue_summary(ws)["counts"]["images"])
    _progress(ws, annotator, progress)

    zero_shot = _zero_shot(ctx)
    labelled_classes = sorted(set(labels.values()))
    classes = sorted(set(labelled_classes) | set(zero_shot.classes if zero_shot else []) | set(resources.catalogue_summary(ws)["per_class"]))
    c_class, c_kind, c_size = st.columns([2, 2, 1])
    target = c_class.selectbox(
        "Class to assign",
        classes,
        index=0 if classes else None,
        accept_new_options=True,
        key="label_class",
        placeholder="Type a class name",
        help="Choose a class or type a new one.",
    )
    kinds = [k for k in QUERY_KINDS if (k != "zero-shot" or zero_shot) and (k != "few-shot" or len(labelled_classes) >= 2)]
    kind = c_kind.selectbox("Query", kinds, format_func=QUERY_KINDS.get, key="label_kind")
    n = c_size.selectbox("Per page", PAGE_SIZES, index=PAGE_SIZES.index(48), key="label_n")
    if not target:
        st.info("Choose or type the class to assign.")
        return
    try:
        target = lbl.clean_label(target)
    except InputError as exc:
        context.show_error(exc)
        return

    text, image_id = None, None
    if kind == "text":
        text = st.text_input("Text query", key="label_text", placeholder=f"empty: search for “{target}”").strip() or target
    elif kind == "image":
        image_id = int(st.number_input("Image id", min_value=1, step=1, key="label_image_id", help="Ids are shown in each image's view dialog."))

    o1, o2, o3, o4 = st.columns(4)
    learn = o1.toggle(
        "Learn as you go",
        value=len(labelled_classes) >= 2,
        help="After each batch, a classifier on the labels so far (deselected tiles as negatives) re-ranks the candidates.",
    )
    claim = o2.toggle("Claim pages", key="label_claim", help="Team mode: images on your page are held for you, so nobody else gets them.")
    suggester = o3.selectbox("Suggestions", SUGGESTERS, key="label_suggester", help="A suggested class and its confidence on each tile.")
    o4.toggle(
        "Overwrite colleagues' labels", key="label_overwrite",
        help="Off: images someone else labelled after this page was drawn are skipped (and you are told). On: your class replaces theirs.",
    )

    sig = (str(ws.root), ctx.key, target, kind, text, image_id, n, learn, claim)
    page = st.session_state.get(PAGE)
    if page is None or page["sig"] != sig:
        try:
            page = _compute_page(ctx, annotator, labels, sig, target, kind, text, image_id, n, learn, claim, zero_shot)
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        page["drawn_at"] = version[0]
        st.session_state[PAGE] = page
    ids = page["ids"]
    grid_key = f"label-grid-{page['gen']}"

    source = {"kind": kind, "model": ctx.key, "reranked": page["reranked"], "claim": claim}
    if text is not None:
        source["query"] = text
    if image_id is not None:
        source["image_id"] = image_id
    if kind in ("zero-shot", "few-shot"):
        source["class"] = target
    if kind == "zero-shot" and zero_shot is not None:
        source.update(prompt_set=zero_shot.source["prompt_set"], prompt_set_version=zero_shot.source["prompt_set_version"])
    if kind == "few-shot":
        source["labels_version"] = list(version)
    suggest_probs = _suggester(ctx, suggester, zero_shot)
    if suggest_probs is not None:
        source["suggestions"] = suggest_probs.source

    st.text(f"Class to assign: {target}")  # user text as plain text, never markdown or HTML
    b = st.columns(5)
    b[0].button(
        "Assign selected", type="primary", key="label_assign", shortcut="A", disabled=not ids,
        on_click=_assign, args=(ws, ctx.entry.name, annotator, target, source, grid_key), width="stretch",
        help="Selected tiles get the class; deselected ones are recorded as not this class.",
    )
    b[1].button("Next page", key="label_next", shortcut="N", disabled=not ids, on_click=_skip, args=(ws, ctx.entry.name, annotator, sig, claim), width="stretch")
    b[2].button("Undo last batch", key="label_undo", shortcut="U", on_click=_undo, args=(ws, ctx.entry.name, annotator), width="stretch",
                disabled=not ctx.can("undo_own"))
    b[3].button("Select all", key="label_all", shortcut="S", disabled=not ids, on_click=_select, args=(grid_key, True), width="stretch")
    b[4].button("Deselect all", key="label_none", shortcut="D", disabled=not ids, on_click=_select, args=(grid_key, False), width="stretch")

    if page["reranked"]:
        st.caption("Re-ranked by a classifier on the labels so far.")
    elif learn:
        st.caption("Learn as you go starts once this class has labelled examples and counter-examples.")
    if not ids:
        st.info("No unlabelled images left for this query. Change the query or the class.")
    else:
        notes = {} if suggest_probs is None else {
            i: f"{suggester}: {c} {p:.0%}" for i, (c, p) in suggest_probs.suggest(ids).items()
        }
        _grid(ws, ids, grid_key, page["scores"], notes)
    _auto_accept(ctx, annotator, target, labels, version, zero_shot)


def _compute_page(ctx, annotator, labels, sig, target, kind, text, image_id, n, learn, claim, zero_shot) -> dict:
    ws, matrix = ctx.ws, ctx.matrix
    query = None
    if kind == "text":
        query = resources.text_vector(ctx.key, text)
    elif kind == "image":
        query = image_vector(matrix, image_id)
    elif kind == "zero-shot":
        base = zero_shot.class_scores(target)
    else:
        base = _few_shot(ctx).class_scores(target)
    skipped = st.session_state.get(SKIPPED)
    rejected = lbl.rejected_for(ws, target)
    exclude = set(labels) | rejected
    if skipped and skipped["sig"] == sig:
        exclude |= set(skipped["ids"])
    if claim:
        exclude |= lbl.claimed_by_others(ws, annotator)
    scorer = ranking.fit_class_scorer(matrix, labels, target, rejected) if learn else None
    limit = 2 * n if claim else n
    if query is not None:  # through the vector index: top candidates only, not the whole matrix
        index = resources.vector_index(ws, ctx.key)
        ranked = ranking.rank_by_query(index, query, limit=limit, exclude=exclude, scorer=scorer)
    else:
        ranked = ranking.rank_candidates(matrix, base, limit=limit, exclude=exclude, scorer=scorer)
    ids = [r.id for r in ranked]
    if claim and ids:
        ids = lbl.claim_images(ws, ids, n, annotator=annotator)
    ids = ids[:n]
    scores = {r.id: r.score for r in ranked}
    gen = st.session_state.get(GEN, 0) + 1
    st.session_state[GEN] = gen
    return {"sig": sig, "ids": ids, "scores": {i: scores[i] for i in ids}, "reranked": scorer is not None, "gen": gen}


def _suggester(ctx, suggester, zero_shot) -> ranking.ClassProbabilities | None:
    if suggester == "zero-shot":
        return zero_shot
    if suggester == "few-shot":
        return _few_shot(ctx)
    return None


def _auto_accept(ctx, annotator, target, labels, version, zero_shot) -> None:
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
                probs = zero_shot if which == "zero-shot" else _few_shot(ctx, out_of_fold=True)
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
            _flash(f"Auto-accepted {len(plan.image_ids)} images as {target!r} (batch {batch[:8]}).")
            _new_page()
            st.rerun()


# -- page -------------------------------------------------------------------------------------

ctx = context.page_context()
st.title("Label")
annotator = _annotator(ctx)
show_flash()
view = st.radio("View", VIEWS, horizontal=True, key="label_view", label_visibility="collapsed")
try:
    if view == "Label":
        _label_view(ctx, annotator)
    elif view == "History":
        history_view(ctx, annotator)
    elif view == "Conflicts":
        conflicts_view(ctx, annotator)
    else:
        export_view(ctx)
except ClipcoreError as exc:
    context.show_error(exc)
