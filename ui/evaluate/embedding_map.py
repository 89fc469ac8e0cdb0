"""Evaluate page, part 4: the 2-D map of the embeddings, coloured by class, hold-out marked."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from clipcore.classify.projection import default_method
from clipcore.errors import ClipcoreError
from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.widgets.charts import class_colour_scale, full_legend, with_plot_height
from ui.widgets.grid import thumbnail_paths

MAP_THUMBNAILS_MAX = 1500  # above this, the map's tooltips show no thumbnail (data size)


def render_embedding_map(ctx, split, truth: dict) -> None:
    """PCA or t-SNE of every embedded image (default chosen by size, see classify.projection)."""
    ws = ctx.ws
    st.subheader("Embedding map")
    method = st.radio("Projection", ["pca", "tsne"], format_func={"pca": "PCA", "tsne": "t-SNE"}.get, horizontal=True,
                      key="ev_projection", index=["pca", "tsne"].index(default_method(len(ctx.matrix.ids))),
                      help="t-SNE keeps classes apart better (measured on clustered vectors); PCA is faster on big collections.")
    try:
        ids, xy = classifier_cache.embedding_map(ws, ctx.key, method)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    if len(ids) < len(ctx.matrix.ids):
        st.caption(f"{len(ids):,} of {len(ctx.matrix.ids):,} images, spread over the collection.")
    records = ws.images([int(i) for i in ids])
    frame = _frame(ws, ids, xy, records, split, truth)
    tooltip = ["class", "part", "file"]
    if len(records) <= MAP_THUMBNAILS_MAX:
        frame["image"] = [resources.small_thumbnail(p) for p in thumbnail_paths(ws, records)]
        tooltip = ["image", *tooltip]
    else:
        st.caption(f"{len(records):,} images: the map's tooltips show no thumbnails above {MAP_THUMBNAILS_MAX:,}.")
    chart = (
        alt.Chart(frame)
        .mark_point(filled=True, size=80, opacity=0.8)
        .encode(
            x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)),
            y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
            color=alt.Color("class:N", scale=class_colour_scale(frame["class"]), legend=full_legend("class")),
            shape=alt.Shape(
                "part:N", legend=full_legend("split"),
                scale=alt.Scale(domain=["train", "hold-out", "not in split"], range=["circle", "diamond", "cross"]),
            ),
            tooltip=tooltip,
        )
        .interactive()
    )
    st.altair_chart(with_plot_height(chart, 480), width="stretch")
    st.caption("Each point is an image, coloured by its label; diamonds are hold-out images. Hover for the thumbnail.")


def _frame(ws, ids, xy, records, split, truth: dict) -> pd.DataFrame:
    """One row per mapped image: position, class (ground truth, then the split's labels), part, file."""
    labels = {**ws.ground_truth_of(int(i) for i in ids), **truth}
    test_set = set(split.test_ids) if split else set()
    train_set = set(split.train_ids) if split else set()
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "class": [labels.get(int(i), "(no label)") for i in ids],
            "part": ["hold-out" if int(i) in test_set else "train" if int(i) in train_set else "not in split" for i in ids],
            "file": [r.path for r in records],
        }
    )
