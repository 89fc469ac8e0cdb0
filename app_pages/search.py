"""Search: find images by words, by example (a result or an upload), or a weighted mix.

The query is a unit vector (text, image, or a weighted sum of terms); results are one
page of the ranking at a time, drawn in a fragment so that paging reruns only the grid.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from clipcore.errors import ClipcoreError
from clipcore.catalog.images import load_query_image
from clipcore.catalog.labels import current_labels
from clipcore.retrieval.search import (
    SearchFilters,
    combine_vectors,
    filter_ids,
    image_vector,
    query_image_vector,
    search_page,
)

from ui.core import context
from ui.core import resources
from ui.core import state
from ui.widgets.grid import book_filters, image_grid, thumbnail_paths

PAGE_SIZES = [12, 24, 48, 96]
QUERY = "search_query"
TERMS = "search_terms"
PENDING_SIMILAR = state.SEARCH_PENDING_SIMILAR
UPLOAD_VECTOR = "search_upload_vector"
ANY = "(any)"

ctx = context.page_context()
ws, matrix = ctx.ws, ctx.matrix

# A "more like this" click in the results asks for a full rerun; apply it before any widget exists.
if PENDING_SIMILAR in st.session_state:
    st.session_state[state.SEARCH_SIMILAR] = st.session_state.pop(PENDING_SIMILAR)
    st.session_state[QUERY] = ""
    st.session_state[state.SEARCH_UPLOAD_KEY] = st.session_state.get(state.SEARCH_UPLOAD_KEY, 0) + 1


def _forget_similar() -> None:
    st.session_state.pop(state.SEARCH_SIMILAR, None)


st.title("Search")
c_query, c_size = st.columns([5, 1])
query = c_query.text_input(
    "Describe what you are looking for",
    key=QUERY,
    placeholder="e.g. woodblock landscape",
    on_change=_forget_similar,
    help="Press Enter to search. Results are ranked by cosine similarity to the text.",
)
page_size = c_size.selectbox("Per page", PAGE_SIZES, index=1, key="search_page_size")

with st.expander("Combine terms (positive and negative, with weights)"):
    st.caption('Each term is added to the query with its weight; a negative weight pushes results away from it, e.g. "text" at -0.5.')
    terms = st.data_editor(
        pd.DataFrame({"term": pd.Series([], dtype="str"), "weight": pd.Series([], dtype="float")}),
        num_rows="dynamic",
        key=TERMS,
        column_config={
            "term": st.column_config.TextColumn("term", max_chars=2000),
            "weight": st.column_config.NumberColumn("weight", min_value=-5.0, max_value=5.0, step=0.1, default=-0.5),
        },
        hide_index=True,
        width="stretch",
    )

with st.expander("Query by image (upload)"):
    upload = st.file_uploader(
        "An image to find similar ones to (not stored in the workspace)",
        type=["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"],
        key=f"search_upload_{st.session_state.get(state.SEARCH_UPLOAD_KEY, 0)}",
    )

truth_classes = sorted(resources.catalogue_summary(ws)["per_class"])
labels = current_labels(ws)
f1, f2, f3 = st.columns(3)
hide_labelled = f1.checkbox("Hide images that have a label", key="search_hide_labelled", disabled=not labels)
truth_class = f2.selectbox("Ground-truth class", [ANY] + truth_classes, key="search_truth_class")
label_class = f3.selectbox("Label", [ANY] + sorted(set(labels.values())), key="search_label")
book, page_no = book_filters(ws)


def _upload_vector(file) -> object:
    """Embedding of the uploaded file, computed once per upload (kept in this session only)."""
    cached = st.session_state.get(UPLOAD_VECTOR)
    if cached is not None and cached[0] == file.file_id:
        return cached[1]
    vec = query_image_vector(ctx.model, load_query_image(file.getvalue()))
    st.session_state[UPLOAD_VECTOR] = (file.file_id, vec)
    return vec


vectors, weights, described = [], [], []
try:
    similar_to = st.session_state.get(state.SEARCH_SIMILAR)
    if similar_to is not None:
        vectors.append(image_vector(matrix, similar_to))
        weights.append(1.0)
        described.append(f"more like {ws.paths([similar_to])[similar_to]}")
    if query.strip():
        vectors.append(resources.text_vector(ctx.key, query))
        weights.append(1.0)
        described.append(f'"{query.strip()}"')
    if upload is not None:
        vectors.append(_upload_vector(upload))
        weights.append(1.0)
        described.append(f"the uploaded image {upload.name}")
    for row in terms.itertuples(index=False):
        text = "" if row.term is None or row.term != row.term else str(row.term)
        weight = 1.0 if row.weight is None or row.weight != row.weight else float(row.weight)
        if text.strip() and weight != 0:
            vectors.append(resources.text_vector(ctx.key, text))
            weights.append(weight)
            described.append(f'{weight:+g} × "{text.strip()}"')
    if not vectors:
        st.info("Type a query and press Enter, upload an image, or click **more like this** on any image.")
        st.stop()
    query_vec = combine_vectors(vectors, weights)
    filters = SearchFilters(
        hide_labelled=hide_labelled,
        truth_class=None if truth_class == ANY else truth_class,
        label=None if label_class == ANY else label_class,
        book=book,
        page=page_no,
    )
    restrict = filter_ids(ws, filters)
except ClipcoreError as exc:
    context.show_error(exc)
    st.stop()

if similar_to is not None:
    s1, s2 = st.columns([1, 8])
    s1.image(thumbnail_paths(ws, ws.images([similar_to]))[0], width=72)
    s2.text("More like this: " + ws.paths([similar_to])[similar_to])
    s2.button("clear", key="search_clear_similar", on_click=_forget_similar)

signature = hashlib.sha1(
    query_vec.tobytes() + (b"all" if restrict is None else restrict.tobytes()) + str(page_size).encode()
).hexdigest()


def _set_page(sig: str, cursors: list) -> None:
    """Page state: the cursors at which each page so far starts (first page: [None])."""
    st.session_state[state.SEARCH_PAGE] = {"sig": sig, "cursors": cursors or [None]}


def _selection(index, restrict):
    """The index's filter for this restriction, made once per (index, filter) in this session:
    a new query with the same filters reuses it (a small restriction holds its rows' vectors)."""
    filter_sig = "all" if restrict is None else hashlib.sha1(restrict.tobytes()).hexdigest()
    cached = st.session_state.get("search_selection")
    if cached and cached[0] == (id(index), filter_sig):
        return cached[1]
    selection = None if restrict is None else index.select(restrict_to=restrict)
    st.session_state["search_selection"] = ((id(index), filter_sig), selection)
    return selection


@st.fragment
def show_results(query_vec, restrict, sig: str, page_size: int, described: list[str]) -> None:
    """One page of the ranking, by cursor (never a growing offset); paging reruns only this fragment."""
    current = st.session_state.get(state.SEARCH_PAGE)
    cursors = current["cursors"] if current and current["sig"] == sig else [None]
    page = len(cursors) - 1
    total = len(matrix.ids) if restrict is None else len(restrict)
    if total == 0:
        st.info("No image passes the filters; clear a filter to see results.")
        return
    index = resources.vector_index(ws, ctx.key)
    result = search_page(index, query_vec, page_size, selection=_selection(index, restrict), after=cursors[-1])
    hits = result.hits
    if not hits:
        st.info("No more results.")
        st.button("back to the first page", on_click=_set_page, args=(sig, [None]), key="search_first")
        return
    start = cursors[-1].depth if cursors[-1] is not None else 0
    st.caption(f"Results {start + 1}–{start + len(hits)} of {total:,}, best first")
    st.text("Query: " + " ".join(described))
    notes = {h.id: f"label: {labels[h.id]}" for h in hits if h.id in labels}
    grid = image_grid(
        ws, [h.id for h in hits], key=f"search-p{page}", scores={h.id: h.score for h in hits}, notes=notes, first_rank=start + 1
    )
    b1, b2, _ = st.columns([1, 1, 4])
    b1.button("previous", key="search_prev", disabled=page == 0, on_click=_set_page, args=(sig, cursors[:-1]))
    b2.button(
        "more results",
        key="search_more",
        type="primary",
        disabled=result.next is None,
        on_click=_set_page,
        args=(sig, cursors + [result.next]),
    )
    if grid.similar_to is not None:
        st.session_state[PENDING_SIMILAR] = grid.similar_to
        st.rerun(scope="app")


show_results(query_vec, restrict, signature, page_size, described)
