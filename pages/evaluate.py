"""Evaluate: learning curves, the error-rate table against the EfficientNet baseline,
confusion matrices and the embedding map, all on one frozen hold-out split.

The last stored evaluation run is shown at once; "Run evaluation" starts a background job
(``python -m clipcore evaluate``) whose progress survives reloads; the page keeps showing
the latest finished run until the job stores the new one. The baseline
trains only in a background job; this page starts it and shows its progress.
"""

from __future__ import annotations

from datetime import datetime

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from clipcore.classify.baseline import ARCHS, DEFAULT_ARCH, resolve_weights
from clipcore.config import checked_weights_file
from clipcore.errors import ClipcoreError
from clipcore.classify.evaluation import DEFAULT_KS, DEFAULT_METHODS, list_runs, parse_ks
from clipcore.classify.fewshot import METHOD_TITLES
from clipcore.catalog.jobs import list_jobs, start_job
from clipcore.classify.metrics import ConfusionMatrix
from clipcore.classify.prompts import list_prompt_sets, prompt_set_versions
from clipcore.classify.report import (
    build_report,
    combine_with_baseline,
    error_rate_table,
    is_reference_row,
    latest_baseline_for,
)
from clipcore.classify.splits import get_split

from clipcore.classify.projection import default_method
from ui.checks import render_checks
from ui import auth, context, resources, state
from ui.charts import class_colour_scale, confusion_chart, full_legend, method_colour_scale
from ui.grid import image_grid, thumbnail_paths
from ui.holdout import render_holdout
from ui.text import md

SPLIT = "default"
MAP_THUMBNAILS_MAX = 1500  # above this, the map's tooltips show no thumbnail (data size)
RUN_CHOICE = "ev_run"
CM_CELL = "ev_cm_cell"
WATCHING = "ev_watching_jobs"
WATCHING_EVAL = "ev_watching_evaluation"

ctx = context.page_context()
ws, matrix = ctx.ws, ctx.matrix
st.title("Evaluate")


def _title(method: str, prompt_set: dict | None = None) -> str:
    """Display name of an evaluation method (zero-shot names its prompt set)."""
    title = METHOD_TITLES.get(method, method)
    if method == "zero_shot" and prompt_set:
        version = prompt_set.get("version")
        title += f": {prompt_set.get('name')}" + (f" v{version}" if version else "")
    return title


def _titled(result: dict) -> dict:
    """The stored evaluation with method keys replaced by display names."""
    ps = (result.get("settings") or {}).get("prompt_set")

    def rename(method: object) -> str:
        return _title(str(method), ps)

    out = dict(result)
    out["error_rates"] = [{**r, "method": rename(r["method"])} for r in result.get("error_rates", [])]
    out["confusion_matrices"] = {rename(m): cm for m, cm in (result.get("confusion_matrices") or {}).items()}
    out["predictions"] = {rename(m): p for m, p in (result.get("predictions") or {}).items()}
    return out


def _when(iso: str | None) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso)


def _eta(job: dict) -> str:
    try:
        elapsed = (datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["started_at"])).total_seconds()
    except (TypeError, ValueError):
        return ""
    done, total = job.get("done") or 0, job.get("total") or 0
    if not done or not total:
        return ""
    left = elapsed / done * (total - done)
    return f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"


# -- split: shown, or frozen here by an explicit action (page reads never freeze one) -------
split = render_holdout(ws, SPLIT, ctx.entry.name)

# -- run an evaluation -----------------------------------------------------------------
runs = [r for r in list_runs(ws, "evaluation") if (r["settings"] or {}).get("model") == ctx.key]
sets = [(s.name, v.version) for s in list_prompt_sets(ws) for v in prompt_set_versions(ws, s.name)]
with st.expander("Run an evaluation", expanded=not runs):
    with st.form("ev_form"):
        loaded = st.session_state.get(state.ZS_LOADED)
        options: list[tuple[str, int] | None] = [*sets, None]
        default = options.index(tuple(loaded)) if loaded and tuple(loaded) in options else 0
        chosen_set = st.selectbox(
            "Prompt set for zero-shot",
            options,
            index=default,
            format_func=lambda o: "class names in templates" if o is None else f"{o[0]} v{o[1]}",
            key="ev_prompt_set",
            help="Defaults to the set loaded on the Zero-shot page, else the newest saved set.",
        )
        methods = st.multiselect(
            "Methods", list(DEFAULT_METHODS), default=list(DEFAULT_METHODS), format_func=_title, key="ev_methods"
        )
        ks = st.multiselect("Examples per class (k)", list(DEFAULT_KS), default=list(DEFAULT_KS), key="ev_ks")
        draws = st.number_input("Random training draws per k", 1, 50, 5, key="ev_draws")
        run_clicked = st.form_submit_button(
            "Run evaluation", type="primary", disabled=split is None or not ctx.can("start_jobs"),
            help="Freeze the hold-out split first (above)." if split is None else None,
        )

if run_clicked:
    try:
        auth.permit("start_jobs", ctx.entry.name)
        info = ctx.model.info
        args = ["--methods", ",".join(methods), "--k", ",".join(map(str, ks)), "--draws", str(int(draws)), "--split", SPLIT]
        args += ["--model", info.name] + (["--pretrained", info.pretrained] if info.pretrained else [])
        args += ["--checkpoint", info.checkpoint] if info.checkpoint else []
        args += ["--prompt-set", chosen_set[0], "--prompt-version", str(chosen_set[1])] if chosen_set else ["--class-names"]
        start_job(ws, "evaluate", args)
        st.session_state[WATCHING_EVAL] = True
    except ClipcoreError as exc:
        context.show_error(exc)


@st.fragment(run_every=1.0)
def _evaluation_jobs() -> None:
    """Progress of running evaluation jobs (they survive reloads); rerun the page when one ends."""
    active = [j for j in list_jobs(ws, active_only=True) if j["kind"] == "evaluate"]
    for job in active:
        total = job.get("total") or 0
        st.progress(min((job.get("done") or 0) / total, 1.0) if total else 0.0,
                    text=f"evaluation job {job['id']}: {job.get('done') or 0}/{total or '?'} fits{_eta(job)}")
    if not active and st.session_state.get(WATCHING_EVAL):
        st.session_state[WATCHING_EVAL] = False
        st.session_state.pop(RUN_CHOICE, None)  # show the new run
        st.rerun()


if st.session_state.get(WATCHING_EVAL) or any(j["kind"] == "evaluate" for j in list_jobs(ws, active_only=True)):
    st.session_state[WATCHING_EVAL] = True
    _evaluation_jobs()
last_eval = next((j for j in list_jobs(ws, limit=10) if j["kind"] == "evaluate"), None)
if last_eval and last_eval["status"] == "failed":
    st.error(f"The last evaluation job failed: {md(last_eval['message'])}", icon="🚫")

if not runs:
    st.info(
        "No evaluation of this workspace with this model is stored yet. "
        + ("Freeze the hold-out above, then run one." if split is None else "Choose the settings above and run one.")
    )
    st.stop()

run_ids = [r["id"] for r in runs]
if st.session_state.get(RUN_CHOICE) not in run_ids:
    st.session_state[RUN_CHOICE] = run_ids[0]
if len(runs) > 1:
    st.selectbox(
        "Stored evaluation",
        run_ids,
        format_func=lambda i: next(
            f"{_when(r['created_at'])} · {len(r['settings'].get('methods', []))} methods · {r['settings'].get('draws')} draws"
            for r in runs
            if r["id"] == i
        ),
        key=RUN_CHOICE,
    )
run = next(r for r in runs if r["id"] == st.session_state[RUN_CHOICE])
result = _titled(run["results"])
split_name = (result.get("split") or {}).get("name", SPLIT)
baseline_runs = list_runs(ws, "baseline")
baseline_run = latest_baseline_for(baseline_runs, split_name)
summary, matrices, predictions = combine_with_baseline(result, baseline_run)
table = error_rate_table(summary)
result_split = split if split is not None and split.name == split_name else get_split(ws, split_name)
truth = result_split.labels if result_split is not None else {}

# -- warnings --------------------------------------------------------------------------
render_checks(result.get("warnings", []), (baseline_run["results"].get("warnings") or []) if baseline_run else [])

# -- learning curve --------------------------------------------------------------------
st.subheader("Learning curve")
metric = st.radio("Metric", ["error rate", "balanced accuracy"], horizontal=True, key="ev_metric")
mean_col, std_col = ("mean", "std") if metric == "error rate" else ("balanced_mean", "balanced_std")
curve_rows, ref_rows = [], []
for r in summary:
    if mean_col not in r:
        continue
    value, spread = float(r[mean_col]), float(r.get(std_col) or 0.0)
    row = {"method": r["method"], "k": str(r["k"]), "value": value, "lo": value - spread, "hi": value + spread,
           "draws": int(r.get("n_draws") or 1)}
    (ref_rows if is_reference_row(r) else curve_rows).append(row)
if curve_rows or ref_rows:
    order = table.ks
    x = alt.X("k:O", sort=order, title="training examples per class (k)")
    y_title = f"{metric} on the hold-out"
    layers = []
    if curve_rows:
        colour = alt.Color("method:N", scale=method_colour_scale(r["method"] for r in curve_rows + ref_rows),
                           legend=full_legend("method (dashed: no training)"))
        base = alt.Chart(pd.DataFrame(curve_rows)).encode(x=x, color=colour)
        layers.append(base.mark_area(opacity=0.15).encode(y=alt.Y("lo:Q", title=y_title), y2="hi:Q"))
        layers.append(
            base.mark_line(point=True).encode(
                y="value:Q",
                tooltip=["method", "k", alt.Tooltip("value:Q", format=".3f", title=metric), alt.Tooltip("hi:Q", format=".3f", title="mean + std"), "draws"],
            )
        )
    if ref_rows:
        layers.append(
            alt.Chart(pd.DataFrame(ref_rows)).mark_rule(strokeDash=[6, 4], size=2).encode(
                y=alt.Y("value:Q", title=y_title),
                color=alt.Color("method:N", scale=method_colour_scale(r["method"] for r in curve_rows + ref_rows),
                                legend=full_legend("method (dashed: no training)")),
                tooltip=["method", alt.Tooltip("value:Q", format=".3f", title=metric)],
            )
        )
    st.altair_chart(alt.layer(*layers).properties(height=360), width="stretch")
    st.caption("Lines: mean over random training draws; bands: ± one standard deviation; dashed: zero-shot (no examples).")

# -- the error-rate table --------------------------------------------------------------
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
        f"trained {_when(baseline_run['created_at'])} on {baseline_run['settings'].get('device')} "
        f"in {b.get('seconds', 0):.0f}s." + "".join(f" {n}" for n in b.get("notes", []))
    )
ps = (result.get("settings") or {}).get("prompt_set") or {}
c1, c2 = st.columns(2)
c1.download_button("Download the table (CSV)", table.to_csv(), file_name="error_rates.csv", mime="text/csv", key="ev_csv")
c2.download_button(
    "Download the report (HTML)",
    build_report(
        result, baseline_runs, model_key=ctx.key,
        prompt_set=_title("zero_shot", ps) if ps else None, untrained=ctx.active.untrained,
    ),
    file_name="evaluation_report.html",
    mime="text/html",
    key="ev_html",
    help="One self-contained file: opens in any browser without the app.",
)

# -- confusion matrices ----------------------------------------------------------------
st.subheader("Confusion matrices")
if matrices:
    names = list(matrices)
    largest = table.ks[-1] if table.ks else None
    default = [m for m in names if m in table.reference][:1]
    default += [m for m in (table.best.get(largest, []) if largest else []) if m in names and m not in default][:1]
    default += [m for m in names if baseline_run is not None and m not in default and m.startswith(str(baseline_run["results"].get("arch")))]
    # Keyed by the runs shown, so that a new evaluation or baseline brings its own default choice.
    cm_key = f"ev_cm_methods_{run['id']}_{baseline_run['id'] if baseline_run else 'none'}"
    chosen = st.multiselect("Methods", names, default=default or names[:2], key=cm_key)
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
    if picked and picked[0] in chosen:
        name, true_label, predicted = picked
        ids = sorted(
            int(i) for i, p in predictions.get(name, {}).items() if p == predicted and truth.get(int(i)) == true_label
        )
        st.text(f"{name}: true '{true_label}', predicted '{predicted}' - {len(ids)} hold-out image(s)")
        if ids:
            image_grid(ws, ids, key="ev_cell", notes={i: f"true {true_label} → {predicted}" for i in ids}, find_similar=False)
    else:
        st.caption("Click a cell to see its images.")
else:
    st.caption("This evaluation stored no confusion matrix.")

# -- the EfficientNet baseline ---------------------------------------------------------
st.subheader("EfficientNet baseline")
st.caption(
    "Fine-tunes an ImageNet-pretrained EfficientNet (B4 as in the reference study, or B0) on the same training draws "
    "and scores it on the same hold-out. It runs as a background job: you can leave this page."
)
with st.form("ev_baseline_form"):
    b1, b2, b3, b4 = st.columns(4)
    arch = b1.selectbox("Network", list(ARCHS), index=list(ARCHS).index(DEFAULT_ARCH), key="ev_arch",
                        help="tiny = a random-init network for testing the mechanics; its results are not meaningful.")
    b_ks = b2.text_input("k values", ",".join(map(str, DEFAULT_KS)), key="ev_b_ks")
    b_draws = b3.number_input("Draws per k", 1, 20, 5, key="ev_b_draws")
    b_epochs = b4.number_input("Max epochs (0 = default)", 0, 500, 0, key="ev_b_epochs")
    checkpoint = st.text_input("Local weights file (optional)", key="ev_checkpoint",
                               help="A timm checkpoint of the chosen network, when the hub cannot be reached: a file "
                                    "in a model folder ([model] folders in clipcore.toml, default models/).")
    start = st.form_submit_button("Start baseline job", disabled=not ctx.can("start_jobs"))
if start:
    try:
        auth.permit("start_jobs", ctx.entry.name)
        # Only a file inside a configured model folder: the field must not probe the disk.
        weights = str(checked_weights_file(checkpoint.strip(), auth.auth_settings().model_folders)) if checkpoint.strip() else None
        resolve_weights(arch, checkpoint=weights, form=True)  # fails in seconds when offline
        args = ["--arch", arch, "--k", ",".join(map(str, parse_ks(b_ks))), "--draws", str(int(b_draws)), "--split", split_name]
        if b_epochs:
            args += ["--epochs", str(int(b_epochs))]
        if weights:
            args += ["--checkpoint", weights]
        job_id = start_job(ws, "baseline", args)
        st.session_state[WATCHING] = True
        st.success(f"Started baseline job {job_id}.")
    except ClipcoreError as exc:
        context.show_error(exc)


@st.fragment(run_every=2.0)
def _baseline_jobs() -> None:
    jobs = [j for j in list_jobs(ws, limit=10) if j["kind"] == "baseline"]
    active = [j for j in jobs if j["status"] in ("queued", "running")]
    for job in active:
        total = job.get("total") or 0
        st.progress(
            min((job.get("done") or 0) / total, 1.0) if total else 0.0,
            text=f"baseline job {job['id']}: fit {job.get('done') or 0} of {total or '?'} done{_eta(job)}",
        )
    if not active and st.session_state.get(WATCHING):
        st.session_state[WATCHING] = False
        st.rerun()  # a job finished: show its results


if st.session_state.get(WATCHING) or any(
    j["kind"] == "baseline" and j["status"] in ("queued", "running") for j in list_jobs(ws, active_only=True)
):
    st.session_state[WATCHING] = True
    _baseline_jobs()
recent = [j for j in list_jobs(ws, limit=10) if j["kind"] == "baseline"]
if recent and recent[0]["status"] == "failed":
    st.error(f"The last baseline job failed: {md(recent[0]['message'])}", icon="🚫")

# -- embedding map ---------------------------------------------------------------------
st.subheader("Embedding map")
method = st.radio("Projection", ["pca", "tsne"], format_func={"pca": "PCA", "tsne": "t-SNE"}.get, horizontal=True,
                  key="ev_projection", index=["pca", "tsne"].index(default_method(len(matrix.ids))),
                  help="t-SNE keeps classes apart better (measured on clustered vectors); PCA is faster on big collections.")
try:
    ids, xy = resources.embedding_map(ws, ctx.key, method)
except ClipcoreError as exc:
    context.show_error(exc)
    st.stop()
labels = {**ws.ground_truth(), **truth}
test_set = set(split.test_ids) if split else set()
train_set = set(split.train_ids) if split else set()
records = ws.images([int(i) for i in ids])
frame = pd.DataFrame(
    {
        "x": xy[:, 0],
        "y": xy[:, 1],
        "class": [labels.get(int(i), "(no label)") for i in ids],
        "part": ["hold-out" if int(i) in test_set else "train" if int(i) in train_set else "not in split" for i in ids],
        "file": [r.path for r in records],
    }
)
tooltip = ["class", "part", "file"]
if len(records) <= MAP_THUMBNAILS_MAX:
    frame["image"] = [resources.small_thumbnail(p) for p in thumbnail_paths(ws, records)]
    tooltip = ["image", *tooltip]
else:
    st.caption(f"{len(records):,} images: the map's tooltips show no thumbnails above {MAP_THUMBNAILS_MAX:,}.")
st.altair_chart(
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
    .properties(height=480)
    .interactive(),
    width="stretch",
)
st.caption("Each point is an image, coloured by its label; diamonds are hold-out images. Hover for the thumbnail.")
