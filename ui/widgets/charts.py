"""Charts shared by pages: the clickable confusion-matrix heatmap, and the one palette's
Altair scales (a fixed colour per method and per class, from clipcore.classify.palette)
with legends that show every label in full."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from typing import Iterable

from clipcore.classify.metrics import ConfusionMatrix
from clipcore.classify.palette import class_colours, method_colour

_CELL = "cell"
NO_LABEL = "(no label)"


def full_legend(title: str, **extra) -> alt.Legend:
    """A legend below the chart that never truncates a label."""
    return alt.Legend(title=title, orient="bottom", direction="vertical", labelLimit=0, titleLimit=0, symbolLimit=0, **extra)


def with_plot_height(chart: alt.TopLevelMixin, height: int) -> alt.TopLevelMixin:
    """``chart`` whose plot area is ``height`` px tall however many legend rows sit below
    it, for ``st.altair_chart(..., width="stretch")``.

    Streamlit's default for a stretched chart is Vega-Lite's ``fit`` autosize, which
    squeezes the plot, axis titles and legends into ``height`` together: with a few
    methods in a bottom legend the plot shrank to a few pixels. ``fit-x`` fits the width
    only, so the legends add to the height instead."""
    return chart.properties(height=height, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))


def method_colour_scale(methods: Iterable[str]) -> alt.Scale:
    """Colour scale giving each method its fixed colour."""
    domain = list(dict.fromkeys(str(m) for m in methods))
    return alt.Scale(domain=domain, range=[method_colour(m) for m in domain])


def class_colour_scale(classes: Iterable[str]) -> alt.Scale:
    """Colour scale giving each class its fixed colour (the same on every chart)."""
    names = list(dict.fromkeys(map(str, classes)))
    colours = class_colours([c for c in names if c != NO_LABEL])
    if NO_LABEL in names:
        colours[NO_LABEL] = "#BBBBBB"  # unlabelled images: a neutral grey, not a class colour
    return alt.Scale(domain=list(colours), range=list(colours.values()))


def confusion_frame(cm: ConfusionMatrix) -> pd.DataFrame:
    """Long form of a confusion matrix: true, predicted, count, row share."""
    rows = []
    for i, t in enumerate(cm.labels):
        total = int(cm.matrix[i].sum())
        for j, p in enumerate(cm.labels):
            n = int(cm.matrix[i, j])
            rows.append({"true": t, "predicted": p, "count": n, "share": n / total if total else 0.0})
    return pd.DataFrame(rows)


def confusion_chart(cm: ConfusionMatrix, *, key: str, title: str = "", size: int = 320) -> tuple[str, str] | None:
    """Draw a confusion matrix as a heatmap; return the (true, predicted) cell the user
    clicked in this rerun, or None."""
    df = confusion_frame(cm)
    pick = alt.selection_point(name=_CELL, fields=["true", "predicted"], on="click", empty=False)
    # A long title (a prompt set's name can be 500 characters) is cut to the plot's width
    # with an ellipsis: unbounded, Vega's fit-x autosize gave the title the width and
    # squeezed the cells to nothing.
    heading = alt.TitleParams(text=title, limit={"expr": "width"}, anchor="start") if title else alt.Undefined
    base = alt.Chart(df, title=heading).encode(
        x=alt.X("predicted:N", sort=list(cm.labels), title="predicted", axis=alt.Axis(labelLimit=140)),
        y=alt.Y("true:N", sort=list(cm.labels), title="true", axis=alt.Axis(labelLimit=140)),
    )
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.85)),
        tooltip=["true", "predicted", "count", alt.Tooltip("share:Q", format=".0%")],
    ).add_params(pick)
    text = base.mark_text(fontSize=13).encode(
        text="count:Q",
        color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black")),
    )
    # The cells get ``size`` px (at least 22 px a row); the axis labels come on top of it.
    height = max(size, 22 * len(cm.labels))
    event = st.altair_chart(
        with_plot_height(heat + text, height), key=key, on_select="rerun", selection_mode=_CELL, width="stretch"
    )
    points = (getattr(event, "selection", None) or {}).get(_CELL) or []
    if points:
        return str(points[0]["true"]), str(points[0]["predicted"])
    return None
