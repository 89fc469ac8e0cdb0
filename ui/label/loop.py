"""The Label view's labelling loop on screen: the progress line, the query controls and the
loop's options, the page of the query on screen (computed by ``ui.label.actions.compute_page``,
kept while its query is the same), the provenance its batch records, the Next page and Undo
buttons, and the grid whose Assign sends the selected tiles.

The grid's Assign and "more like this" are handed on through session state and applied
before the next run draws anything (``apply_assign``, ``apply_more_like_this``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.errors import ClipcoreError, InputError
from clipcore.team import ranking
from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.core.text import PACE_COLUMN, PACE_HELP, human_time, plural
from ui.label import actions as act
from ui.widgets.grid import image_grid, take_assigned

PAGE_SIZES = [12, 24, 48, 96]
QUERY_KINDS = {
    "text": "Text",
    "image": "Similar to an image",
    "zero-shot": "Most confident zero-shot",
    "few-shot": "Most confident few-shot (labels so far)",
}
SUGGESTERS = ["zero-shot", "few-shot", "none"]

PAGE = act.PAGE
GRID_KEY = "label-grid"  # one frame for every page; the selection belongs to the ids shown (ui.widgets.grid.results_sig)
PENDING_SIMILAR = "label_pending_similar"  # a tile's "more like this", applied before the widgets exist
PENDING_ASSIGN = "label_pending_assign"  # the grid's Assign: {"ids": page shown, "keep": selected}
ASSIGN_CONTEXT = "label_assign_context"  # the class and provenance of the page on screen
ASSIGN_LABEL = "Assign selected"


def zero_shot(ctx) -> ranking.ClassProbabilities | None:
    """Zero-shot class probabilities of the collection; opening the page writes nothing: with
    no saved prompt set, those of the draft Zero-shot opens with."""
    return classifier_cache.zero_shot_probabilities(ctx.ws, ctx.key)


def render_progress(ws, annotator: str, progress: dict) -> None:
    """One line of progress; the figures per class and per annotator fold away."""
    stats = lbl.annotator_stats(ws)
    mine = next((s for s in stats if s["annotator"] == annotator), None)
    pace = mine["pace_per_min"] if mine else 0
    with st.expander(
        f"Labelled {progress['labelled']:,} · unlabelled {progress['unlabelled']:,} · your pace {pace:.1f} images/min · "
        f"{plural(len(stats), 'annotator')}"
    ):
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Labelled", f"{progress['labelled']:,}")
        c2.metric("Unlabelled", f"{progress['unlabelled']:,}")
        c3.metric("Your pace", f"{pace:.1f} images/min", help=PACE_HELP)
        c4.metric("Annotators", len(stats))
        left, right = st.columns(2)
        left.dataframe(
            pd.DataFrame({"class": list(progress["per_class"]), "images": list(progress["per_class"].values())}),
            hide_index=True,
        )
        right.dataframe(pd.DataFrame(
            [{"annotator": s["annotator"], "images decided": s["decided"], "labels held": s["current"],
              PACE_COLUMN: s["pace_per_min"], "last label": human_time(s["last_at"])} for s in stats],
            columns=["annotator", "images decided", "labels held", PACE_COLUMN, "last label"],
        ), hide_index=True)


@st.fragment
def _grid(ws, ids: list[int], grid_key: str, scores: dict[int, float], notes: dict[int, str], epoch: int) -> None:
    # A fragment: the lightbox's preview reruns only the grid. Selecting happens in the
    # browser; Assign (button or A) sends the selected ids once, applied before the next page.
    grid = image_grid(
        ws, ids, key=grid_key, scores=scores, notes=notes, columns=6, selectable=True, assign_label=ASSIGN_LABEL,
        epoch=epoch,
    )
    if grid.assigned is not None:
        st.session_state[PENDING_ASSIGN] = {"ids": list(ids), "keep": grid.assigned}
        st.rerun(scope="app")
    if grid.similar_to is not None:
        st.session_state[PENDING_SIMILAR] = grid.similar_to
        st.rerun(scope="app")


def apply_assign(ctx, annotator: str) -> None:
    """The grid's Assign: the page's selected tiles get the class, the others are recorded
    as not of it, with what the page recorded about its query. Read before anything is
    drawn (a full run reads the grid's value here; a run of the grid alone hands it on)."""
    page = st.session_state.get(PAGE)
    drawn = st.session_state.get(ASSIGN_CONTEXT)
    pending = st.session_state.pop(PENDING_ASSIGN, None)
    if not page or not drawn or drawn["ids"] != page["ids"]:
        return
    keep = take_assigned(GRID_KEY, page["ids"])
    if keep is None and pending and pending["ids"] == page["ids"]:
        keep = pending["keep"]
    if keep is None:
        return  # nothing pressed, or not for the page on screen any more (another tab, an undo)
    act.assign(ctx.ws, ctx.entry.name, annotator, drawn["target"], drawn["source"], keep)


def apply_more_like_this() -> None:
    """A tile's "more like this" (set by the grid) becomes the query: similar to that image."""
    if PENDING_SIMILAR in st.session_state:
        st.session_state["label_kind"] = "image"
        st.session_state["label_image_id"] = int(st.session_state.pop(PENDING_SIMILAR))


def query_controls(ctx, labels, zero_shot, few_ready: bool) -> dict | None:
    """Class, query kind and size, the query itself and the loop's options; None until a class is chosen."""
    labelled_classes = sorted(labels.counts())
    classes = sorted(set(labelled_classes) | set(zero_shot.classes if zero_shot else []) | set(resources.catalogue_summary(ctx.ws)["per_class"]))
    c_class, c_kind, c_query, c_size = st.columns([2, 2, 3, 1])
    target = c_class.selectbox(
        "Class to assign",
        classes,
        index=0 if classes else None,
        accept_new_options=True,
        key="label_class",
        placeholder="Type a class name",
        help="Choose a class or type a new one.",
    )
    kinds = [k for k in QUERY_KINDS if (k != "zero-shot" or zero_shot) and (k != "few-shot" or few_ready)]
    kind = c_kind.selectbox("Query", kinds, format_func=QUERY_KINDS.get, key="label_kind")
    n = c_size.selectbox("Per page", PAGE_SIZES, index=PAGE_SIZES.index(48), key="label_n")
    text, image_id = None, None
    if kind == "text":
        text = c_query.text_input("Text query", key="label_text", placeholder=f"empty: search for “{target}”" if target else "empty: search for the class's name").strip()
    elif kind == "image":
        image_id = int(c_query.number_input("Image id", min_value=1, step=1, key="label_image_id", help="Set for you by a tile's \"more like this\" button; ids are also shown in each image's viewer."))
    c_options, c_next, c_undo = st.columns([5, 1.2, 1.5], vertical_alignment="center")
    with c_options.expander("Options: learn as you go, claim pages, suggestions, overwrite"):
        o1, o2 = st.columns(2)
        learn = o1.toggle(
            "Learn as you go",
            value=len(labelled_classes) >= 2,
            help="After each batch, a classifier on the labels so far (deselected tiles as negatives) re-ranks the candidates.",
        )
        claim = o2.toggle("Claim pages", key="label_claim", help="Team mode: images on your page are held for you, so nobody else gets them.")
        o3, o4 = st.columns(2)
        suggester = o3.selectbox("Suggestions", SUGGESTERS, key="label_suggester", help="A suggested class and its confidence on each tile.")
        o4.toggle(
            "Overwrite colleagues' labels", key="label_overwrite",
            help="Off: images someone else labelled after this page was drawn are skipped (and you are told). On: your class replaces theirs.",
        )
    if not target:
        st.info("Choose or type the class to assign.")
        return None
    try:
        target = lbl.clean_label(target)
    except InputError as exc:
        context.show_error(exc)
        return None
    if kind == "text":
        text = text or target
    return {"target": target, "kind": kind, "n": n, "text": text, "image_id": image_id, "learn": learn, "claim": claim,
            "suggester": suggester, "slots": (c_next, c_undo)}


def current_page(ctx, annotator: str, labels, q: dict, version: tuple, zero_shot) -> tuple[tuple, dict] | None:
    """The query's signature and its page: the one on screen while the query is the same, else a
    new one (stamped with the labels ``version`` it was drawn at); None (the error shown) when
    the query cannot be run."""
    sig = (str(ctx.ws.root), ctx.key, q["target"], q["kind"], q["text"], q["image_id"], q["n"], q["learn"], q["claim"])
    page = st.session_state.get(PAGE)
    if page is None or page["sig"] != sig:
        try:
            page = act.compute_page(ctx, annotator, labels, sig, q["target"], q["kind"], q["text"], q["image_id"], q["n"],
                                    q["learn"], q["claim"], zero_shot)
        except ClipcoreError as exc:
            context.show_error(exc)
            return None
        page["drawn_at"] = version[0]
        st.session_state[PAGE] = page
    return sig, page


def batch_source(ctx, q: dict, page: dict, version: tuple, zero_shot, suggest_probs) -> dict:
    """What the batch records about where its images came from (provenance)."""
    source = {"kind": q["kind"], "model": ctx.key, "reranked": page["reranked"], "claim": q["claim"]}
    if q["text"] is not None:
        source["query"] = q["text"]
    if q["image_id"] is not None:
        source["image_id"] = q["image_id"]
    if q["kind"] in ("zero-shot", "few-shot"):
        source["class"] = q["target"]
    if q["kind"] == "zero-shot" and zero_shot is not None:
        source.update(prompt_set=zero_shot.source["prompt_set"], prompt_set_version=zero_shot.source["prompt_set_version"])
    if q["kind"] == "few-shot":
        source["labels_version"] = list(version)
    if suggest_probs is not None:
        source["suggestions"] = suggest_probs.source
    return source


def action_buttons(ctx, annotator: str, q: dict, sig: tuple, ids: list[int], source: dict) -> None:
    """Next page and undo, each with its keyboard shortcut, on the options' row (Assign and
    the selection are in the grid); the class as plain text above the grid."""
    ws = ctx.ws
    st.session_state[ASSIGN_CONTEXT] = {"ids": list(ids), "target": q["target"], "source": source}
    c_next, c_undo = q["slots"]
    c_next.button("Next page", key="label_next", shortcut="N", disabled=not ids, on_click=act.skip,
                  args=(ws, ctx.entry.name, annotator, sig, q["claim"]), width="stretch")
    nothing_to_undo = lbl.last_batch(ws, annotator) is None
    c_undo.button("Undo last batch", key="label_undo", shortcut="U", on_click=act.undo, args=(ws, ctx.entry.name, annotator),
                  width="stretch", disabled=not ctx.can("undo_own") or nothing_to_undo,
                  help="You have no batch to undo yet." if nothing_to_undo else None)
    st.text(f"Class to assign: {q['target']}")  # user text as plain text, never markdown or HTML


def render_page(ctx, q: dict, sig: tuple, page: dict, suggest_probs) -> None:
    """The page's tiles in the grid (with the suggestions as notes), or what to do when the
    query has no unlabelled image left."""
    ids = page["ids"]
    if ids:
        notes = {} if suggest_probs is None else {
            i: f"{q['suggester']}: {c} {p:.0%}" for i, (c, p) in suggest_probs.suggest(ids).items()
        }
        _grid(ctx.ws, ids, GRID_KEY, page["scores"], notes, page["gen"])
        return
    passed = act.skipped_count(sig)
    if passed:
        st.info(
            f"No unlabelled images left for this query apart from the {passed:,} you passed over with "
            "**Next page**. Bring them back, or change the query or the class."
        )
        st.button(f"Bring back the {passed:,} skipped images", key="label_unskip", on_click=act.unskip, type="primary")
    else:
        st.info("No unlabelled images left for this query. Change the query or the class.")
