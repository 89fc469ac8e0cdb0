"""Evaluate page, part 2: the learning curve, the error-rate table with its downloads, and
the confusion matrices whose cells open their hold-out images."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from clipcore.classify.report import MODEL_SEP
from clipcore.classify.metrics import ConfusionMatrix
from clipcore.classify.report import build_report, is_reference_row, report_file_name, report_sample
from ui.widgets.charts import confusion_chart, full_legend, method_colour_scale, with_plot_height
from ui.evaluate.run import method_title
from ui.widgets.grid import image_grid, more_like_this_on_search
from ui.core import resources
from ui.core.text import human_time

CM_CELL = "ev_cm_cell"


def render_learning_curve(summary: list[dict], table) -> None:
    """Mean error (or balanced accuracy) per method and k, ± one std band; zero-shot dashed."""
    st.subheader("Learning curve")
    metric = st.radio("Metric", ["error rate", "balanced accuracy"], horizontal=True, key="ev_metric")
    mean_col, std_col = ("mean", "std") if metric == "error rate" else ("balanced_mean", "balanced_std")
    curve_rows, ref_rows = [], []
    for r in summary:
        if mean_col not in r:
            continue
        value, spread = float(r[mean_col]), float(r.get(std_col) or 0.0)
        row = {"method": r["method"], "k": str(r["k"]), "value": value, "lo": max(0.0, value - spread), "hi": min(1.0, value + spread),
               "draws": int(r.get("n_draws") or 1), "model": str(r["method"]).partition(MODEL_SEP)[2]}
        (ref_rows if is_reference_row(r) else curve_rows).append(row)
    if not (curve_rows or ref_rows):
        return
    x = alt.X("k:O", sort=table.ks, title="training examples per class (k)")
    y_title = f"{metric} on the hold-out"
    scale = method_colour_scale(r["method"] for r in curve_rows + ref_rows)
    # Opaque swatches: the legend would otherwise take the faint band's opacity.
    legend = full_legend("method (dashed: no training)", symbolOpacity=1, symbolStrokeWidth=3)
    # Several models: a method keeps its colour, the model sets the line style.
    models = list(dict.fromkeys(r["model"] for r in curve_rows + ref_rows))
    styled = len(models) > 1

    def dash(patterns: list[list[int]]) -> dict:
        if not styled:
            return {}
        return {"strokeDash": alt.StrokeDash("model:N", scale=alt.Scale(domain=models, range=patterns[: len(models)] * 4),
                                             legend=full_legend("model (line style)", symbolType="stroke", symbolStrokeWidth=2))}

    layers = []
    if curve_rows:
        base = alt.Chart(pd.DataFrame(curve_rows)).encode(
            x=x, color=alt.Color("method:N", scale=scale, legend=legend), **dash([[1, 0], [8, 3], [2, 2], [8, 2, 2, 2]])
        )
        layers.append(base.mark_area(opacity=0.15).encode(y=alt.Y("lo:Q", title=y_title), y2="hi:Q"))
        layers.append(
            base.mark_line(point=True).encode(
                y="value:Q",
                tooltip=["method", "k", alt.Tooltip("value:Q", format=".3f", title=metric),
                         alt.Tooltip("hi:Q", format=".3f", title="mean + std"), "draws"],
            )
        )
    if ref_rows:
        layers.append(
            alt.Chart(pd.DataFrame(ref_rows)).mark_rule(strokeDash=[6, 4], size=2).encode(
                y=alt.Y("value:Q", title=y_title),
                color=alt.Color("method:N", scale=scale, legend=legend),
                tooltip=["method", alt.Tooltip("value:Q", format=".3f", title=metric)],
                **dash([[6, 4], [2, 3], [10, 3, 2, 3], [1, 4]]),
            )
        )
    st.altair_chart(with_plot_height(alt.layer(*layers), 360), width="stretch")
    st.caption("Lines: mean over random training draws; bands: ± one standard deviation (within 0 and 1); dashed: zero-shot (no examples)."
               + (" Several models: a method keeps its colour, each model has its own line style." if styled else ""))


def render_error_table(ctx, table, result: dict, baseline_runs: list[dict], baseline_run: dict | None) -> None:
    """The error-rate table, what the baseline was, and the CSV / HTML report downloads."""
    st.subheader("Error rate by examples per class")
    st.dataframe(pd.DataFrame(table.records()), hide_index=True, width="stretch")
    st.caption("Mean error rate on the hold-out (± std over draws). ★ marks the best method per column. "
               "Zero-shot uses no examples, so its error repeats in every column.")
    if baseline_run is None:
        st.caption("No EfficientNet baseline has been trained on this split yet (see below).")
    else:
        b = baseline_run["results"]
        st.caption(
            f"Baseline: {b.get('arch')} ({'ImageNet-pretrained' if b.get('pretrained') else 'random-init, not meaningful'}), "
            f"trained {human_time(baseline_run['created_at'])} on {baseline_run['settings'].get('device')} "
            f"in {b.get('seconds', 0):.0f}s." + "".join(f" {n}" for n in b.get("notes", []))
        )
    ps = (result.get("settings") or {}).get("prompt_set") or {}
    c1, c2 = st.columns(2)
    c1.download_button("Download the table (CSV)", table.to_csv(), file_name="error_rates.csv", mime="text/csv", key="ev_csv")
    c2.download_button(
        "Download the report (HTML)",
        build_report(
            result, baseline_runs, model_key=ctx.key,
            prompt_set=method_title("zero_shot", ps) if ps else None, untrained=ctx.active.untrained,
            collection=ctx.entry.name, sample=report_sample(ctx.ws, resources.catalogue_summary(ctx.ws)["sample"][:8]),
        ),
        file_name=report_file_name(ctx.entry.name),
        mime="text/html",
        key="ev_html",
        help="One self-contained file: opens in any browser without the app.",
    )


def _default_matrices(names: list[str], table, baseline_run: dict | None) -> list[str]:
    """Zero-shot, the best method at the largest k, and the baseline, where present."""
    largest = table.ks[-1] if table.ks else None
    default = [m for m in names if m in table.reference][:1]
    default += [m for m in (table.best.get(largest, []) if largest else []) if m in names and m not in default][:1]
    if baseline_run is not None:
        arch = str(baseline_run["results"].get("arch"))
        default += [m for m in names if m not in default and m.startswith(arch)]
    return default or names[:2]


def render_confusion(ws, run: dict, baseline_run: dict | None, table, matrices: dict, predictions: dict, truth: dict) -> None:
    """Chosen methods' confusion matrices; a clicked cell shows its hold-out images."""
    st.subheader("Confusion matrices")
    if not matrices:
        st.caption("This evaluation stored no confusion matrix.")
        return
    names = list(matrices)
    # Keyed by the runs shown, so that a new evaluation or baseline brings its own default choice.
    cm_key = f"ev_cm_methods_{run['id']}_{baseline_run['id'] if baseline_run else 'none'}"
    chosen = st.multiselect("Methods", names, default=_default_matrices(names, table, baseline_run), key=cm_key)
    if chosen:
        cols = st.columns(min(len(chosen), 3))
        for n, name in enumerate(chosen):
            cm = matrices[name]
            with cols[n % len(cols)]:
                k_note = f" (k = {cm['k']})" if cm.get("k") is not None else ""
                cell = confusion_chart(
                    ConfusionMatrix(list(cm["labels"]), np.asarray(cm["matrix"])), key=f"ev_cm_{n}_{name}",
                    title=f"{name}{k_note}"[:60], size=300 if len(chosen) < 3 else 220,
                )
                if cell is not None:
                    st.session_state[CM_CELL] = (name, *cell)
    picked = st.session_state.get(CM_CELL)
    if not (picked and picked[0] in chosen):
        st.caption("Click a cell to see its images.")
        return
    name, true_label, predicted = picked
    ids = sorted(int(i) for i, p in predictions.get(name, {}).items() if p == predicted and truth.get(int(i)) == true_label)
    st.text(f"{name}: true '{true_label}', predicted '{predicted}' - {len(ids)} hold-out image(s)")
    if ids:
        grid = image_grid(ws, ids, key="ev_cell", notes={i: f"true {true_label} → predicted {predicted}" for i in ids})
        if grid.similar_to is not None:
            more_like_this_on_search(grid.similar_to)
