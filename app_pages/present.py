"""Present: the reference study's story on the open workspace, with its own numbers, for a
demo. Full width, no settings: the collection, a search, zero-shot accuracy with the current
prompts, the learning curve against the baseline, the labelling pace; and the HTML report."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.catalog.labels import annotator_stats, list_batches
from clipcore.classify.evaluation import list_runs
from clipcore.classify.prompts import latest_prompt_set
from clipcore.classify.report import (
    build_report, combine_with_baseline, error_rate_table, latest_baseline_for, learning_curve_svg, report_file_name, report_sample,
)
from clipcore.classify.zeroshot import build_classifier, classify_matrix, evaluate_result
from clipcore.errors import ClipcoreError
from clipcore.team.pace import labelling_pace

from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.widgets.charts import confusion_chart
from ui.widgets.grid import image_grid
from ui.core.text import PACE_COLUMN, human_time, md
from ui.evaluate.run import titled
from ui.zero_shot.view import summary_matrix

DEFAULT_QUERY = "a landscape with mountains"


def render_collection(ctx) -> None:
    """1. What the collection is: counts, classes, a varied sample."""
    st.header("1 · The collection")
    summary = resources.catalogue_summary(ctx.ws)
    counts, per_class = summary["counts"], summary["per_class"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Images", f"{counts['images']:,}")
    c2.metric("Classes", f"{len(per_class):,}")
    c3.metric("With a known class", f"{counts['ground_truth'] / max(counts['images'], 1):.0%}")
    image_grid(ctx.ws, summary["sample"], key="present-sample", columns=6, find_similar=False)


def render_search(ctx) -> None:
    """2. A search in plain words."""
    st.header("2 · Search in plain words")
    query = st.text_input("Describe what you are looking for", DEFAULT_QUERY, key="present_query")
    if query.strip():
        hits = resources.vector_index(ctx.ws, ctx.key).search(resources.text_vector(ctx.key, query), 12).hits
        image_grid(ctx.ws, [h.id for h in hits], key="present-search", scores={h.id: h.score for h in hits}, find_similar=False)


def render_zero_shot(ctx) -> None:
    """3. Zero-shot accuracy with the current prompts, and its confusion matrix."""
    st.header("3 · Zero-shot: classes described in words, no training")
    prompts = latest_prompt_set(ctx.ws)
    if prompts is None:
        st.info("No prompt set is saved yet: write one on the Zero-shot page.")
        return
    matrix, truth, sampled = classifier_cache.scoring_scope(ctx.ws, ctx.key, ctx.matrix)
    summary = evaluate_result(classify_matrix(build_classifier(ctx.model, prompts), matrix), truth)
    if summary is None:
        st.info("No image has a known class among the prompt set's classes, so there is nothing to score.")
        return
    left, right = st.columns([1, 2])
    left.metric(f"Accuracy with {md(prompts.name)} v{prompts.version}", f"{summary['accuracy']:.1%}")
    left.metric("Images scored", f"{summary['n']:,}", help="A sample spread over the collection" if sampled else None)
    with right:
        confusion_chart(summary_matrix(summary), key="present_confusion", title="true class vs prediction", size=300)


def _evaluation(ctx) -> dict | None:
    runs = [r for r in list_runs(ctx.ws, "evaluation") if (r["settings"] or {}).get("model") == ctx.key]
    return runs[0] if runs else None


def render_learning_curve(ctx) -> None:
    """4. How many labels few-shot needs to beat zero-shot and the baseline."""
    st.header("4 · How many labels does it take?")
    run = _evaluation(ctx)
    if run is None:
        st.info("No evaluation is stored for this model yet: run one on the Evaluate page.")
        return
    result = titled(run["results"])  # method keys as display names
    split_name = (result.get("split") or {}).get("name")
    summary, _, _ = combine_with_baseline(result, latest_baseline_for(list_runs(ctx.ws, "baseline"), split_name))
    table = error_rate_table(summary)
    st.html(learning_curve_svg(table, width=1100, height=400, title="error rate on the hold-out by labels per class"))
    st.dataframe(pd.DataFrame(table.records()), hide_index=True, width="stretch")


def render_pace(ctx) -> None:
    """5. The labelling pace, per person."""
    st.header("5 · Labelling pace")
    recent = {s["annotator"]: s["pace_per_min"] for s in annotator_stats(ctx.ws)}  # the Label page's figure
    pace = pd.DataFrame(
        [
            {
                "annotator": row["annotator"], "batches": row["batches"], "images": row["images"],
                "first": human_time(row["first"].isoformat()), "last": human_time(row["last"].isoformat()),
                PACE_COLUMN: recent.get(row["annotator"], 0.0),
            }
            for row in labelling_pace(list_batches(ctx.ws))
        ]
    )
    if pace.empty:
        st.info("Nobody has labelled on the Label page yet.")
        return
    st.dataframe(pace, hide_index=True, width="stretch")


def render_report(ctx) -> None:
    """The same story as one self-contained HTML file."""
    run = _evaluation(ctx)
    if run is None:
        return
    prompts = latest_prompt_set(ctx.ws)
    st.download_button(
        "Download the report (HTML)",
        build_report(run["results"], list_runs(ctx.ws, "baseline"), model_key=ctx.key,
                     prompt_set=f"{prompts.name} v{prompts.version}" if prompts else None, untrained=ctx.active.untrained,
                     collection=ctx.entry.name, sample=report_sample(ctx.ws, resources.catalogue_summary(ctx.ws)["sample"][:8])),
        file_name=report_file_name(ctx.entry.name), mime="text/html", key="present_report", type="primary",
    )


def main() -> None:
    ctx = context.page_context()
    st.title(f"{md(ctx.entry.name)}: what CLIP does with this collection")
    render_report(ctx)
    for step in (render_collection, render_search, render_zero_shot, render_learning_curve, render_pace):
        try:
            step(ctx)
        except ClipcoreError as exc:
            context.show_error(exc)
        st.divider()


main()
