"""Evaluate page, part 1: method display names, the "Run an evaluation" form (a background
job), its progress, and the choice among stored runs."""

from __future__ import annotations

import streamlit as st

from clipcore.classify.evaluation import DEFAULT_KS, DEFAULT_METHODS
from clipcore.classify.report import MODEL_SEP
from clipcore.classify.fewshot import METHOD_TITLES
from clipcore.classify.prompts import list_prompt_sets, prompt_set_versions
from ui.core import state
from ui.widgets.jobs import job_panel, start_job_from_ui
from ui.widgets.model_compare import other_model_choice
from ui.core.text import human_time

SPLIT = "default"
RUN_CHOICE = "ev_run"


def method_title(method: str, prompt_set: dict | None = None) -> str:
    """Display name of an evaluation method (zero-shot names its prompt set); a row of one
    of several models keeps its `` · <model>`` suffix."""
    base, sep, model = method.partition(MODEL_SEP)
    if sep:
        return method_title(base, prompt_set) + sep + model
    title = METHOD_TITLES.get(method, method)
    if method == "zero_shot" and prompt_set:
        version = prompt_set.get("version")
        title += f": {prompt_set.get('name')}" + (f" v{version}" if version else "")
    return title


def titled(result: dict) -> dict:
    """The stored evaluation with method keys replaced by display names."""
    ps = (result.get("settings") or {}).get("prompt_set")

    def rename(method: object) -> str:
        return method_title(str(method), ps)

    out = dict(result)
    out["error_rates"] = [{**r, "method": rename(r["method"])} for r in result.get("error_rates", [])]
    out["confusion_matrices"] = {rename(m): cm for m, cm in (result.get("confusion_matrices") or {}).items()}
    out["predictions"] = {rename(m): p for m, p in (result.get("predictions") or {}).items()}
    return out


def render_run_form(ctx, split, *, expanded: bool) -> None:
    """Settings of a new evaluation; "Run evaluation" starts `python -m clipcore evaluate` as a job."""
    ws = ctx.ws
    sets = [(s.name, v.version) for s in list_prompt_sets(ws) for v in prompt_set_versions(ws, s.name)]
    with st.expander("Run an evaluation", expanded=expanded):
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
                "Methods", list(DEFAULT_METHODS), default=list(DEFAULT_METHODS), format_func=method_title, key="ev_methods"
            )
            ks = st.multiselect("Examples per class (k)", list(DEFAULT_KS), default=list(DEFAULT_KS), key="ev_ks")
            draws = st.number_input("Random training draws per k", 1, 50, 5, key="ev_draws")
            models = other_model_choice(ctx, split)
            run_clicked = st.form_submit_button(
                "Run evaluation", type="primary", disabled=split is None or not ctx.can("start_jobs"),
                help="Freeze the hold-out split first (above)." if split is None else None,
            )
    if run_clicked:
        _start_evaluation(ctx, chosen_set, methods, ks, int(draws), models)


def _start_evaluation(ctx, chosen_set, methods: list[str], ks: list, draws: int, models: list[str]) -> None:
    start_job_from_ui(ctx.ws, ctx.entry.name, "evaluate", key="ev_eval", model=ctx.model.info, methods=methods, ks=ks,
                      draws=draws, split=SPLIT, prompt_set=tuple(chosen_set) if chosen_set else None, models=models)


def watch_evaluation_jobs(ctx) -> None:
    """A running evaluation job's progress; when it ends, the new run is shown (or its failure)."""
    job_panel(ctx.ws, ctx.entry.name, "evaluate", key="ev_eval", on_end=lambda job: st.session_state.pop(RUN_CHOICE, None))


def choose_run(runs: list[dict]) -> dict:
    """The stored run to show: the newest, or the one chosen in a selector when there are several."""
    run_ids = [r["id"] for r in runs]
    if st.session_state.get(RUN_CHOICE) not in run_ids:
        st.session_state[RUN_CHOICE] = run_ids[0]
    if len(runs) > 1:
        st.selectbox(
            "Stored evaluation",
            run_ids,
            format_func=lambda i: next(
                f"{human_time(r['created_at'])} · {len(r['settings'].get('methods', []))} methods · {r['settings'].get('draws')} draws"
                for r in runs
                if r["id"] == i
            ),
            key=RUN_CHOICE,
        )
    return next(r for r in runs if r["id"] == st.session_state[RUN_CHOICE])
