"""Few-shot: train a classifier on the labelled images, predict the rest, label the doubtful next.

Training uses the labelled images outside the frozen hold-out split (never the
hold-out); the least confident predictions are shown first, because labelling them
teaches the classifier the most. The trained classifier is cached per workspace,
model, embeddings and label state, so switching pages never retrains.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.csvsafe import rows_csv
from clipcore.errors import ClipcoreError
from clipcore.classify.fewshot import METHOD_TITLES, page_methods

from ui.core import classifier_cache
from ui.core import context
from ui.widgets.grid import image_grid
from ui.core.text import md

SOURCES = {
    "both": "Ground truth and Label-page labels (labels win)",
    "ground_truth": "Ground truth only",
    "labels": "Label-page labels only",
}
GRID_SIZES = [12, 24, 48]



def render_header() -> tuple[str, str, int]:
    """Title, explanation and the three choices: label source, method, grid size."""
    st.title("Few-shot")
    st.caption(
        "A classifier on the CLIP embeddings of your labelled images. Images of the frozen hold-out split are never "
        "used for training, so the Evaluate page can score every method on them fairly."
    )
    c_source, c_method, c_size = st.columns([3, 3, 1])
    source = c_source.selectbox("Labels to train on", list(SOURCES), format_func=SOURCES.get, key="fs_source")
    method = c_method.selectbox("Method", page_methods(), format_func=METHOD_TITLES.get, key="fs_method")
    n_show = c_size.selectbox("Show", GRID_SIZES, index=0, key="fs_grid_size")
    return source, method, n_show


def render_training(pred, method: str) -> None:
    """What the classifier was trained on, and the hold-out it never saw."""
    trained_on = sum(pred.train_counts.values())
    if method == "zero_shot":
        st.info("Zero-shot uses the active prompt set only; no labelled image is used.")
    else:
        counts = ", ".join(f"{c}: {n}" for c, n in pred.train_counts.items())
        st.text(f"Trained on {trained_on} labelled images ({counts}).")
    if pred.split_name:
        st.text(f"Hold-out split {pred.split_name!r}: {pred.held_out} images kept out of training.")
    else:  # this page never freezes one (reads never write): that is an explicit action on Evaluate
        st.page_link("app_pages/evaluate.py", label="No hold-out split yet: freeze one on the Evaluate page", icon=":material/lock:")
    for note in pred.notes:
        st.caption(md(note))


def _frame(ws, pred) -> pd.DataFrame:
    paths = ws.paths([int(i) for i in pred.ids])
    frame = pd.DataFrame(pred.records())
    frame.insert(1, "path", [paths[int(i)] for i in frame["id"]])
    return frame


def render_table(frame: pd.DataFrame, file_name: str) -> None:
    """Every prediction as a table, and as a CSV download."""
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.3f"),
            "margin": st.column_config.NumberColumn("margin", format="%.3f"),
        },
    )
    st.download_button(
        "Download predictions (CSV)",
        data=rows_csv(list(frame.columns), frame.itertuples(index=False, name=None)).encode("utf-8"),
        file_name=file_name,
        mime="text/csv",
        key="fs_download",
    )


def render_unlabelled(ws, pred, method: str, n_show: int) -> None:
    """Predictions for the unlabelled images, the least confident first (label those next)."""
    frame = _frame(ws, pred).sort_values(["margin", "id"]).reset_index(drop=True)
    c1, c2 = st.columns([1, 2])
    c1.metric("Unlabelled images predicted", len(frame))
    c2.dataframe(
        frame["predicted"].value_counts().rename_axis("class").reset_index(name="images"), hide_index=True, width="stretch"
    )
    st.subheader("Least confident: label these next")
    st.caption("Smallest gap between the two most probable classes first.")
    doubtful = pred.least_confident(n_show)
    by_id = frame.set_index("id")
    image_grid(
        ws,
        doubtful,
        key="fs-doubtful",
        scores={i: float(by_id.at[i, "confidence"]) for i in doubtful},
        notes={i: f"→ {by_id.at[i, 'predicted']}" for i in doubtful},
        find_similar=False,
    )
    st.subheader("All predictions")
    render_table(frame, f"few_shot_{method}_predictions.csv")


def render_cross_validated(ws, key: str, method: str, source: str, n_show: int) -> None:
    """Every image is labelled: show where the classifier errs on the labelled images, each
    predicted by a classifier trained without it (cross-validation), mistakes first."""
    try:
        cv = classifier_cache.fewshot_prediction(ws, key, method, source, cross_validated=True)
    except ClipcoreError as exc:
        st.info("Every embedded image is labelled, so there is nothing new to predict.")
        context.show_error(exc)
        return
    frame = _frame(ws, cv)
    frame = frame.iloc[cv.mistakes_first()].reset_index(drop=True)
    wrong = int((~frame["correct"]).sum())
    st.info(
        "Every embedded image is labelled, so the page shows how this method does on them instead: each labelled "
        "image is predicted by a classifier trained on the other images (5-fold cross-validation), mistakes first."
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Labelled images predicted", f"{len(frame):,}")
    c2.metric("Cross-validated accuracy", f"{1 - wrong / max(1, len(frame)):.1%}")
    c3.metric("Mistakes", f"{wrong:,}")
    shown = [int(i) for i in frame["id"].head(n_show)]
    by_id = frame.set_index("id")
    st.subheader("Mistakes first" if wrong else "No mistakes: the least sure first")
    st.caption("Each tile: label → prediction. The most confident mistakes come first; they are often labelling errors.")
    image_grid(
        ws,
        shown,
        key="fs-cv",
        scores={i: float(by_id.at[i, "confidence"]) for i in shown},
        notes={i: f"{by_id.at[i, 'label']} → {by_id.at[i, 'predicted']}" for i in shown},
        find_similar=False,
    )
    st.subheader("All cross-validated predictions")
    render_table(frame, f"few_shot_{method}_cross_validated.csv")


def main() -> None:
    ctx = context.page_context()
    source, method, n_show = render_header()
    try:
        pred = classifier_cache.fewshot_prediction(ctx.ws, ctx.key, method, source)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    render_training(pred, method)
    if len(pred.ids) == 0:
        render_cross_validated(ctx.ws, ctx.key, method, source, n_show)
    else:
        render_unlabelled(ctx.ws, pred, method, n_show)


main()
