"""The Label page's Browse view: filters with counts (FiftyOne's sidebar) by label, ground
truth, prediction, annotator, book, "unlabelled" and "disagrees with prediction"; each
value shows its count over the whole collection, or over the first 1,000 results when a
text query ranks them. The filter lives in the URL (share the link) and can be saved by
name. The matching images are a selectable grid; "Assign" labels the selected ones as one
batch, and "Select all N matching" (after a confirmation showing N, the class and a sample)
labels every matching image as one batch. Counts come from ``clipcore.team.facets``
(cached in ``ui.core.resources``)."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.config import load_limits
from clipcore.errors import ClipcoreError
from clipcore.retrieval.search import top_k
from clipcore.team import facets as fc

from ui.core import auth
from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.core.text import md
from ui.label.review import flash, new_page
from ui.widgets.grid import image_grid, take_assigned, thumbnail_paths

RANKED = 1_000
PER_PAGE = 48
NAMES = {"label": "Label", "ground_truth": "Ground truth", "prediction": "Prediction (zero-shot)",
         "annotator": "Annotator", "book": "Book"}
FLAG_NAMES = {"unlabelled": "Unlabelled", "disagrees": "Disagrees with prediction"}
GRID = "browse-grid"
DRAWN = "browse_drawn"  # the grid on screen: {"ids", "selection", "flags"}, for its Assign on the next run
ALL = "browse_all_pending"  # "Select all N matching" pressed: {"key": filter state, "n": count then, "shown": count confirmed}
SAMPLE = 6
PARAM = "f_"  # URL keys: f_label=cover&f_label=map&f_unlabelled=1


def _key(name: str) -> str:
    return f"browse_{name}"


def _from_url() -> None:
    """First run of a session (or a shared link): the widgets start from the URL."""
    for name in fc.FACETS:
        if _key(name) not in st.session_state and st.query_params.get_all(PARAM + name):
            st.session_state[_key(name)] = list(st.query_params.get_all(PARAM + name))
    for flag in fc.FLAGS:
        if _key(flag) not in st.session_state and st.query_params.get(PARAM + flag) == "1":
            st.session_state[_key(flag)] = True
    if _key("text") not in st.session_state and st.query_params.get(PARAM + "text"):
        st.session_state[_key("text")] = st.query_params[PARAM + "text"]


def _to_url(selection: dict, flags: list[str], text: str) -> None:
    if st.query_params.get("view") != "Browse":
        st.query_params["view"] = "Browse"
    for name in fc.FACETS:
        if selection.get(name):
            if st.query_params.get_all(PARAM + name) != selection[name]:
                st.query_params[PARAM + name] = selection[name]
        elif PARAM + name in st.query_params:
            del st.query_params[PARAM + name]
    for flag in fc.FLAGS:
        if flag in flags:
            st.query_params[PARAM + flag] = "1"
        elif PARAM + flag in st.query_params:
            del st.query_params[PARAM + flag]
    if text:
        st.query_params[PARAM + "text"] = text
    elif PARAM + "text" in st.query_params:
        del st.query_params[PARAM + "text"]


def _open_view(ws) -> None:
    """The "Open a saved view" callback: its filters replace the widgets' values."""
    name = st.session_state.get("browse_open")
    view = fc.saved_views(ws).get(name or "")
    if not view:
        return
    for facet in fc.FACETS:
        st.session_state[_key(facet)] = list(view["filters"].get(facet, []))
    for flag in fc.FLAGS:
        st.session_state[_key(flag)] = flag in view.get("flags", [])


def _panel(ws, table: fc.FacetTable, counts: dict, scope: str) -> tuple[dict, list[str]]:
    side = st.sidebar
    side.subheader("Filters")
    side.caption(scope)
    selection: dict[str, list[str]] = {}
    for name in table.facets:
        n = counts.get(name, {})
        # A chosen value with no image left (its labels changed) stays chosen, at 0.
        chosen = [str(v) for v in st.session_state.get(_key(name), [])]
        options = list(n) + [v for v in chosen if v not in n]
        if not options:
            continue
        selection[name] = side.multiselect(
            NAMES[name], options, key=_key(name), format_func=lambda v, n=n: f"{v} ({n.get(v, 0):,})",
        )
    flags = [f for f in fc.FLAGS if side.checkbox(f"{FLAG_NAMES[f]} ({counts['flags'][f]:,})", key=_key(f))]
    views = fc.saved_views(ws)
    if views:
        side.selectbox("Open a saved view", list(views), index=None, key="browse_open", on_change=_open_view, args=(ws,),
                       placeholder="Choose a view")
    name = side.text_input("Save this view as", key="browse_save_name", max_chars=lbl.MAX_LABEL_CHARS)
    if side.button("Save view", key="browse_save", disabled=not name.strip()):
        try:
            fc.save_view(ws, name, selection, flags)
        except ClipcoreError as exc:
            context.show_error(exc)
        else:
            side.success(f"Saved the view {md(name.strip())}.")
    return selection, flags


def _source(selection: dict, flags: list[str], text: str = "", prefix: str = "") -> dict:
    """A batch's provenance: the filter, and a note for the History's "source" column."""
    chosen = {k: v for k, v in selection.items() if v}
    note = "; ".join([*(f"{NAMES[k].lower()} {', '.join(v)}" for k, v in chosen.items()), *(FLAG_NAMES[f].lower() for f in flags)])
    if text:
        note = "; ".join(p for p in (note, f"text {text!r}") if p)
    source = {"kind": "filter", "note": prefix + (note or "everything"), "filters": chosen, "flags": flags}
    return {**source, "text": text} if text else source


def _select_all(ctx, place, annotator: str, table: fc.FacetTable, match: np.ndarray, rows: np.ndarray | None,
                selection: dict, flags: list[str], text: str, drawn_at: int) -> None:
    """"Select all N matching": a button with the count, then a confirmation (N, the class,
    a sample of thumbnails) whose button labels them all as one batch. The ids are
    recomputed from the same filter at every run, so the confirmation shows the count of
    the store now and says when it changed; the write refuses a count other than the one
    confirmed (``clipcore.team.facets.label_matching``)."""
    ws, may = ctx.ws, ctx.can("label")
    target = str(st.session_state.get("browse_class") or "").strip() if may else ""
    n = len(match)
    state = json.dumps([{k: v for k, v in selection.items() if v}, flags, text, target], sort_keys=True)
    pending = st.session_state.get(ALL)
    if pending and pending["key"] != state:  # the filter or the class changed: start again
        st.session_state.pop(ALL)
        pending = None
    why = ("Your role here does not allow labelling." if not may else
           "Choose the class to assign first." if not target else
           f"Give the chosen class to all {n:,} images that match, not just this page (asks first).")
    if place.button(f"Select all {n:,} matching", key="browse_all", disabled=not (may and target), help=why):
        pending = st.session_state[ALL] = {"key": state, "n": n, "shown": None}
    if not pending:
        return
    limit = load_limits().max_label_all
    where = "the first results of the text query" if text else "the collection"
    with st.container(border=True, key="browse_all_confirm_box"):
        if n != pending["n"]:
            st.warning(f"The labels changed since you pressed Select all: {n:,} images match now (it said {pending['n']:,}).")
        if n > limit:
            st.error(f"{n:,} images match these filters; at most {limit:,} can be labelled at once. "
                     "Narrow the filters (a book, a ground-truth class, Unlabelled) and try again.")
        else:
            st.markdown(f"Give the class **{md(target)}** to all **{n:,}** images of {where} that match these filters? "
                        "They are labelled as one batch, which History can undo.")
        sample = [int(i) for i in table.ids[match[:SAMPLE]]]
        if sample:
            st.image([resources.thumbnail_url(p) for p in thumbnail_paths(ws, ws.images(sample))], width=96,
                     caption=[f"#{i}" for i in sample])
        c1, c2 = st.columns([1, 1])
        ok = c1.button(f"Label all {n:,} as {md(target)}", key="browse_all_ok", type="primary", disabled=not 0 < n <= limit)
        if c2.button("Cancel", key="browse_all_cancel"):
            st.session_state.pop(ALL, None)
            st.rerun()
        if ok:
            _label_all(ctx, annotator, table, rows, selection, flags, text, drawn_at, target, pending, limit)
        pending["shown"] = n


def _label_all(ctx, annotator, table, rows, selection, flags, text, drawn_at, target, pending, limit) -> None:
    """The confirmation's button: check the role again, then one batch (or say why not)."""
    try:
        auth.permit("label", ctx.entry.name)
        res = fc.label_matching(
            ctx.ws, table, target, selection, flags, annotator=annotator, drawn_at=drawn_at, limit=limit, rows=rows,
            expected=pending["shown"], source=_source(selection, flags, text, prefix="all matching: "),
        )
    except fc.MatchChanged as exc:
        st.warning(md(exc.for_app()), icon="⚠️")
        return
    except ClipcoreError as exc:
        st.session_state.pop(ALL, None)
        flash(exc.for_app(), "🚫")
        st.rerun()
    st.session_state.pop(ALL, None)
    auth.audit("label_all_matching", ctx.entry.name, batch_id=res.batch_id, label=target, images=res.assigned,
               skipped=len(res.skipped), filters={k: v for k, v in selection.items() if v}, flags=flags, text=text)
    if res.batch_id is None:
        flash(f"Nothing was labelled: {res.skipped_message()}.", "⚠️")
    elif res.skipped:
        flash(f"Labelled {res.assigned:,} matching images as {target!r} (batch {res.batch_id[:8]}); "
              f"{res.skipped_message()}, so they were left as they are.", "⚠️")
    else:
        flash(f"Labelled all {res.assigned:,} matching images as {target!r} (batch {res.batch_id[:8]}).")
    new_page()
    st.rerun()


def _assign(ws, ws_name: str, annotator: str, keep: list[int], selection: dict, flags: list[str]) -> None:
    """The grid's Assign (the tiles still selected in the browser) with the chosen class."""
    target = st.session_state.get("browse_class")
    if not target or not keep:
        return
    try:
        auth.permit("label", ws_name)
        batch = lbl.record_batch(ws, target, keep, annotator=annotator, source=_source(selection, flags))
    except ClipcoreError as exc:
        flash(exc.for_app(), "🚫")
        return
    flash(f"Labelled {len(keep)} as {target!r} (batch {batch[:8]}).")
    new_page()


def apply_browse_assign(ctx, annotator: str) -> None:
    """The Browse grid's Assign, applied before anything is drawn (as the Label view's is):
    the same run then draws the next page and the new counts, instead of a run that draws
    the old ones and a second run after it (one whole run less per label action)."""
    drawn = st.session_state.get(DRAWN)
    if not drawn:
        return
    keep = take_assigned(GRID, drawn["ids"])
    if keep is not None:
        _assign(ctx.ws, ctx.entry.name, annotator, keep, drawn["selection"], drawn["flags"])


def browse_view(ctx, annotator: str) -> None:
    """Filters in the sidebar, the matching images as a grid, and Assign."""
    ws = ctx.ws
    _from_url()
    drawn_at = lbl.label_events_version(ws)[0]  # before the table: what "Select all" writes is checked against it
    # the ground truth's classes from the summary cached on the change counter: found from the
    # store, they are a GROUP BY over every ground-truth row on every rerun (~320 ms at 1M)
    probs = classifier_cache.zero_shot_probabilities(ws, ctx.key)
    table = resources.facet_table(ws, probs)
    text = st.text_input("Rank by text (optional)", key=_key("text"), placeholder="e.g. a map of a coastline").strip()
    rows = None
    if text:
        hits = top_k(resources.vector_index(ws, ctx.key), resources.text_vector(ctx.key, text), RANKED)
        rows = table.rows_of([h.id for h in hits])
        scope = f"Counts over the first {len(rows):,} results of the text query."
    else:
        scope = f"Counts over the whole collection ({len(table.ids):,} images)."
    counts = table.counts(rows)
    selection, flags = _panel(ws, table, counts, scope)
    _to_url(selection, flags, text)
    mask = table.mask(selection, flags)
    match = rows[mask[rows]] if rows is not None else np.flatnonzero(mask)
    pages = max(1, -(-len(match) // PER_PAGE))
    c1, c_all, c2 = st.columns([3, 2, 1], vertical_alignment="bottom")
    c1.markdown(f"**{len(match):,} images match**" + (" (ranked by the text query)" if text else ""))
    page = int(c2.number_input(f"Page (of {pages})", 1, pages, 1, key="browse_page"))
    ids = [int(i) for i in table.ids[match[(page - 1) * PER_PAGE : page * PER_PAGE]]]
    if not ids:
        st.info("No image matches these filters.")
        return
    if ctx.can("label"):
        classes = sorted(set(table.facets["label"].values) | set(table.facets["ground_truth"].values))
        st.selectbox("Class to assign", classes, index=None, accept_new_options=True, key="browse_class",
                     placeholder="Choose or type a class, then Assign selected in the grid (or press A)")
    _select_all(ctx, c_all, annotator, table, match, rows, selection, flags, text, drawn_at)
    label, pred = table.facets["label"], table.facets.get("prediction")
    notes = {}
    for i, r in zip(ids, table.rows_of(ids)):
        parts = [f"label {label.values[label.codes[r]]}" if label.codes[r] >= 0 else "unlabelled"]
        if pred is not None and pred.codes[r] >= 0:
            parts.append(f"predicted {pred.values[pred.codes[r]]}")
        notes[i] = " · ".join(parts)
    may_assign = ctx.can("label") and bool(st.session_state.get("browse_class"))
    grid = image_grid(ws, ids, key=GRID, notes=notes, columns=6, selectable=ctx.can("label"),
                      assign_label="Assign selected" if may_assign else "", similar_label="more like this")
    st.session_state[DRAWN] = {"ids": ids, "selection": selection, "flags": flags}
    if grid.assigned is not None:  # not taken by apply_browse_assign (a run of another page's view)
        _assign(ws, ctx.entry.name, annotator, grid.assigned, selection, flags)
        st.rerun()
