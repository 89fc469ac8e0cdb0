"""Evaluate: learning curves, the error-rate table against the EfficientNet baseline,
confusion matrices and the embedding map, all on one frozen hold-out split.

The last stored evaluation run is shown at once; "Run evaluation" starts a background job
(``python -m clipcore evaluate``) whose progress survives reloads; the page keeps showing
the latest finished run until the job stores the new one. The baseline trains only in a
background job; this page starts it and shows its progress. Each section is a function in
ui/ (evaluate_run, evaluate_results, evaluate_baseline, embedding_map).
"""

from __future__ import annotations

import streamlit as st

from clipcore.classify.evaluation import list_runs
from clipcore.classify.report import combine_with_baseline, error_rate_table, latest_baseline_for
from clipcore.classify.splits import get_split
from ui.core import context
from ui.evaluate.checks import render_checks
from ui.evaluate.embedding_map import render_embedding_map
from ui.evaluate.baseline import render_baseline
from ui.evaluate.results import render_confusion, render_error_table, render_learning_curve
from ui.evaluate.run import SPLIT, choose_run, render_run_form, titled, watch_evaluation_jobs
from ui.evaluate.holdout import render_holdout
from ui.widgets.model_compare import render_add_model


def main() -> None:
    ctx = context.page_context()
    ws = ctx.ws
    st.title("Evaluate")
    # The split is shown, or frozen here by an explicit action (page reads never freeze one).
    split = render_holdout(ws, SPLIT, ctx.entry.name)
    runs = [r for r in list_runs(ws, "evaluation") if (r["settings"] or {}).get("model") == ctx.key]
    render_add_model(ctx)
    render_run_form(ctx, split, expanded=not runs)
    watch_evaluation_jobs(ctx)
    if not runs:
        st.info(
            "No evaluation of this workspace with this model is stored yet. "
            + ("Freeze the hold-out above, then run one." if split is None else "Choose the settings above and run one.")
        )
        return
    run = choose_run(runs)
    result = titled(run["results"])
    split_name = (result.get("split") or {}).get("name", SPLIT)
    baseline_runs = list_runs(ws, "baseline")
    baseline_run = latest_baseline_for(baseline_runs, split_name)
    summary, matrices, predictions = combine_with_baseline(result, baseline_run)
    table = error_rate_table(summary)
    result_split = split if split is not None and split.name == split_name else get_split(ws, split_name)
    truth = result_split.labels if result_split is not None else {}

    render_checks(result.get("warnings", []), (baseline_run["results"].get("warnings") or []) if baseline_run else [])
    render_learning_curve(summary, table)
    render_error_table(ctx, table, result, baseline_runs, baseline_run)
    render_confusion(ws, run, baseline_run, table, matrices, predictions, truth)
    render_baseline(ctx, split_name)
    render_embedding_map(ctx, split, truth)


main()
