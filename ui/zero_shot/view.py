"""The Zero-shot page's tabs: accuracy with its confusion matrix, the predictions table, the version
comparison and one prompt tried on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from st_aggrid import AgGrid, GridOptionsBuilder, JsCode

from clipcore.catalog.metadata import image_metadata
from clipcore.classify.metrics import ConfusionMatrix
from clipcore.classify.prompts import list_prompt_sets, load_prompt_set, newest_versions, prompt_set_versions
from clipcore.classify.zeroshot import (
    build_classifier, cell_image_ids, classify_matrix, compare_results, evaluate_result, prediction_rows, predictions_csv,
)
from clipcore.errors import ClipcoreError

from ui.core import context
from ui.core import resources
from ui.widgets.charts import confusion_chart
from ui.core.text import md
from ui.widgets.grid import image_grid, more_like_this_on_search, thumbnail_paths
from ui.zero_shot.diff import render_prompt_diff

MAX_TABLE_ROWS = 1000
COMPARE_KEYS = ("zs_cmp_a", "zs_cmp_b")


def summary_matrix(summary: dict) -> ConfusionMatrix:
    """The chart's dataclass from a summary's JSON-shaped confusion matrix."""
    return ConfusionMatrix(summary["confusion_matrix"]["labels"], np.asarray(summary["confusion_matrix"]["matrix"]))


def render_accuracy(ws, result, truth: dict, sampled: bool) -> None:
    """The draft's accuracy on the images with ground truth, its confusion matrix (click a cell
    for its images) and the figures per class."""
    summary = evaluate_result(result, truth) if result is not None else None
    if result is None:
        st.info("Fix the prompts above to see predictions.")
        return
    if summary is None:
        st.info(
            "No image has a ground-truth class that is one of these classes, so there is nothing to score. "
            "The Predictions tab still lists every image."
        )
        return
    st.caption(
        f"Scored on the {summary['n']:,} images with a known class that is one of these classes"
        + (" in the sample" if sampled else "") + ", the hold-out included (the Compare models tab scores "
        "the hold-out only; the Prompt lab the labelled images outside it)."
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("Accuracy", f"{summary['accuracy']:.1%}")
    m2.metric("Balanced accuracy", f"{summary['balanced_accuracy']:.1%}")
    m3.metric("Images scored", f"{summary['n']:,}")
    if summary["left_out"]:
        st.caption(
            "Not scored (ground-truth class not in this set): "
            + ", ".join(f"{md(label)} ({n})" for label, n in summary["left_out"].items())
        )
    left, right = st.columns([1, 1])
    with left:
        cell = confusion_chart(
            summary_matrix(summary),
            key="zs_confusion",
            title="true class vs prediction (click a cell)",
        )
    with right:
        st.dataframe(
            pd.DataFrame(summary["per_class"]).style.format({"precision": "{:.1%}", "recall": "{:.1%}", "f1": "{:.1%}"}),
            hide_index=True,
        )
    if cell is not None:
        ids = cell_image_ids(result, truth, *cell)
        st.text(f"{len(ids)} images of class {cell[0]} predicted as {cell[1]} (most confident first)")
        conf = dict(zip(result.ids.tolist(), result.confidence.tolist()))
        cell_grid = image_grid(ws, ids[:48], key="zs-cell", scores={i: conf[i] for i in ids[:48]})
        if cell_grid.similar_to is not None:
            more_like_this_on_search(cell_grid.similar_to)


def render_predictions(ws, result, draft_name: str) -> None:
    """Every image's prediction: filters, a CSV of all, and a sortable table with thumbnails."""
    if result is None:
        return
    rows = prediction_rows(result, ws.paths(result.ids.tolist()))
    st.download_button(
        "Download all predictions (CSV)",
        predictions_csv(result, {r["id"]: r["path"] for r in rows}, image_metadata(ws, result.ids.tolist())),
        file_name=f"zero-shot-{draft_name}.csv",
        mime="text/csv",
        key="zs_csv",
    )
    f1, f2 = st.columns([3, 2])
    only = f1.multiselect("Predicted class", result.labels, key="zs_filter_class", placeholder="all classes")
    lo, hi = f2.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.01, key="zs_filter_conf")
    shown = [r for r in rows if (not only or r["predicted"] in only) and lo <= r["confidence"] <= hi]
    shown.sort(key=lambda r: -r["confidence"])
    st.caption(
        f"{len(shown):,} of {len(rows):,} images"
        + (f"; the {MAX_TABLE_ROWS:,} most confident are listed (the CSV has all)" if len(shown) > MAX_TABLE_ROWS else "")
    )
    shown = shown[:MAX_TABLE_ROWS]
    if shown:
        records = ws.images([r["id"] for r in shown])
        thumbs = thumbnail_paths(ws, records)
        frame = pd.DataFrame(
            {
                "thumbnail": [resources.small_thumbnail(t) for t in thumbs],
                "path": [r["path"] for r in shown],
                "predicted": [r["predicted"] for r in shown],
                "confidence": [r["confidence"] for r in shown],
                **{f"s{c}": [r[f"score: {label}"] for r in shown] for c, label in enumerate(result.labels)},
            }
        )
        gb = GridOptionsBuilder.from_dataframe(frame)
        gb.configure_default_column(sortable=True, resizable=True, filter=True)
        gb.configure_column(
            "thumbnail",
            header_name="",
            width=64,
            filter=False,
            sortable=False,
            # AG Grid wants a component (init/getGui) when a renderer makes a DOM node; a
            # plain function returning an element is React error #31 in streamlit-aggrid.
            cellRenderer=JsCode(
                "class ThumbRenderer{init(params){this.eGui=document.createElement('img');"
                "if(typeof params.value==='string'&&params.value.startsWith('data:image/')){this.eGui.src=params.value;}"
                "this.eGui.style.height='44px';this.eGui.alt='';}"
                "getGui(){return this.eGui;}refresh(){return false;}}"
            ),
        )
        gb.configure_column("predicted", filter="agTextColumnFilter")
        gb.configure_column("confidence", type=["numericColumn"], filter="agNumberColumnFilter", valueFormatter=JsCode("function(p){return p.value.toFixed(3);}"))
        for c, label in enumerate(result.labels):
            gb.configure_column(f"s{c}", header_name=label, type=["numericColumn"], filter="agNumberColumnFilter", valueFormatter=JsCode("function(p){return p.value.toFixed(3);}"))
        gb.configure_grid_options(rowHeight=48)
        gb.configure_pagination(paginationAutoPageSize=False, paginationPageSize=50)
        AgGrid(frame, gridOptions=gb.build(), height=560, allow_unsafe_jscode=True, key="zs_table", update_on=[])


def render_compare(ctx, truth: dict) -> None:
    """Two saved versions on the same images; starts with the two newest (A older, B newer)."""
    ws, matrix = ctx.ws, ctx.matrix
    options = [(s.name, v.version) for s in list_prompt_sets(ws) for v in prompt_set_versions(ws, s.name)]
    if len(options) < 2:
        st.info("Save at least two versions (or two sets) to compare them on the same images.")
    elif not truth:
        st.info("Comparing needs ground truth: ingest with labels from folders or a labels CSV.")
    else:
        fmt = lambda o: f"{o[0]} · version {o[1]}"  # noqa: E731
        c1, c2 = st.columns(2)
        newest = [o for o in newest_versions(ws, 2) if o in options]
        b_default = options.index(newest[0]) if newest else 0
        a_default = options.index(newest[1]) if len(newest) > 1 else (1 if b_default == 0 else 0)
        for k in COMPARE_KEYS:  # a stale choice (e.g. a renamed set) falls back to the defaults
            if k in st.session_state and st.session_state[k] not in options:
                del st.session_state[k]
        a = c1.selectbox("A", options, index=a_default, format_func=fmt, key="zs_cmp_a")
        b = c2.selectbox("B", options, index=b_default, format_func=fmt, key="zs_cmp_b")
        try:
            set_a, set_b = load_prompt_set(ws, *a), load_prompt_set(ws, *b)
            ra = classify_matrix(build_classifier(ctx.model, set_a), matrix)
            rb = classify_matrix(build_classifier(ctx.model, set_b), matrix)
            comparison = compare_results(ra, rb, truth)
        except ClipcoreError as exc:
            context.show_error(exc)
            comparison = None
        if comparison is not None and comparison["n"] == 0:
            st.info("The two sets share no class that has ground truth, so they cannot be compared.")
        elif comparison is not None:
            st.caption(f"Both versions scored on the same {comparison['n']:,} images with a known class, the hold-out included.")
            st.metric(
                f"Accuracy of B minus A, on the same {comparison['n']:,} images",
                f"{comparison['accuracy_difference']:+.1%}",
                delta=f"balanced accuracy {comparison['balanced_accuracy_difference']:+.1%}",
            )
            for col, side, choice in ((c1, "a", a), (c2, "b", b)):
                s = comparison[side]
                with col:
                    st.metric(f"Accuracy of {side.upper()}", f"{s['accuracy']:.1%}")
                    confusion_chart(
                        summary_matrix(s),
                        key=f"zs_cmp_chart_{side}",
                        title=fmt(choice),
                        size=260,
                    )
        if comparison is not None:
            render_prompt_diff(ws, set_a, set_b, ra, rb, truth)


def render_try(ctx) -> None:
    """One prompt on its own: the 12 images it ranks highest."""
    prompt = st.text_input("One prompt", key="zs_try", placeholder="e.g. book binding", help="See at once which images it ranks highest.")
    if not prompt.strip():
        return
    try:
        hits = resources.vector_index(ctx.ws, ctx.key).search(resources.text_vector(ctx.key, prompt), 12).hits
        try_grid = image_grid(ctx.ws, [h.id for h in hits], key="zs-try", scores={h.id: h.score for h in hits})
        if try_grid.similar_to is not None:
            more_like_this_on_search(try_grid.similar_to)
    except ClipcoreError as exc:
        context.show_error(exc)
