"""More than one CLIP model on one collection: an admin embeds it with a second model (a
background job), and Zero-shot / Evaluate compare every embedded model side by side on the
same hold-out with the same prompt set, each model encoding the prompts itself."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.jobkinds import ModelChoice
from clipcore.classify.evaluation import ModelEntry, compare_zero_shot, covers_holdout
from clipcore.classify.prompts import PromptSet
from clipcore.classify.splits import Split, get_split
from clipcore.embedding.models import ModelSpec, check_model_choice, embedding_model_specs, known_models
from clipcore.errors import ClipcoreError
from clipcore.parallel import heavy_slot
from ui.core import auth
from ui.core import context
from ui.core import resources
from ui.widgets.jobs import job_panel, start_job_from_ui
from ui.core.text import md

SPLIT = "default"


def model_entries(ctx, *, covering: Split | None = None) -> list[ModelEntry]:
    """Every embedding set of the workspace as a ``ModelEntry``, the active model first;
    with ``covering``, only sets that hold every hold-out image of that split. A set whose
    model cannot be loaded here gets ``model=None`` (its few-shot rows still count)."""
    info = ctx.model.info
    active = ModelSpec(info.key, info.name, info.pretrained, info.checkpoint, info.untrained)
    entries = [ModelEntry(ctx.key, active.label, ctx.matrix, ctx.model, info.untrained)]
    for key, spec in embedding_model_specs(ctx.ws).items():
        if key == ctx.key:
            continue
        try:
            matrix = resources.embeddings(ctx.ws, key)
        except ClipcoreError:
            continue  # a set with no committed vectors yet (its job is still running)
        if covering is not None and not covers_holdout(matrix, covering):
            continue
        model = resources.model_of(spec.name, spec.pretrained, spec.checkpoint)
        entries.append(ModelEntry(key, spec.label, matrix, model, spec.untrained))
    if covering is not None and not covers_holdout(ctx.matrix, covering):
        entries = entries[1:]
    return entries


def render_zero_shot_comparison(ctx, prompt_set: PromptSet | None) -> None:
    """Zero-shot's "Compare models" tab: the prompts in the editor, on every model, one row each."""
    split = get_split(ctx.ws, SPLIT)
    if split is None:
        st.info("Freeze the hold-out on the Evaluate page first: every model is scored on the same hold-out images.")
        return
    if prompt_set is None:
        st.info("Fix the prompts above to compare models.")
        return
    entries = model_entries(ctx, covering=split)
    if len(entries) < 2:
        st.info(
            "Only one model has embedded every hold-out image. An admin can embed the collection with another "
            "model on Home or the Evaluate page (\"Embed with another model\"); it then appears here."
        )
    try:
        with heavy_slot("comparing models", wait_s=30):
            rows = compare_zero_shot(split, entries, prompt_set)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    st.dataframe(comparison_frame(rows), hide_index=True, width="stretch")
    st.caption(
        f"The same prompts ({md(prompt_set.name)}, as in the editor), encoded by each model's own text encoder, "
        f"scored on the same {len(split.test_ids):,} hold-out images. Untrained models are random weights: "
        "their rows show the mechanics, not CLIP."
    )


def comparison_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per model: accuracy, error rate, balanced accuracy, or why it was left out."""
    return pd.DataFrame(
        [
            {
                "model": r["model"],
                "accuracy": f"{r['accuracy']:.1%}" if "accuracy" in r else "",
                "error rate": f"{r['error_rate']:.3f}" if "error_rate" in r else "",
                "balanced accuracy": f"{r['balanced_accuracy']:.1%}" if "balanced_accuracy" in r else "",
                "hold-out images": r["n_test"],
                "note": r.get("skipped", "untrained: not meaningful" if r["untrained"] else ""),
            }
            for r in rows
        ]
    )


def other_model_choice(ctx, split: Split | None) -> list[str]:
    """Evaluate's run form: the other embedding sets to evaluate alongside the active model
    (those that cover the hold-out); returns their keys."""
    if split is None:
        return []
    others = {e.key: e.title for e in model_entries(ctx, covering=split) if e.key != ctx.key}
    if not others:
        st.caption("Other models: none has embedded every hold-out image yet (see \"Embed with another model\").")
        return []
    return st.multiselect(
        "Also evaluate these models", list(others), default=list(others), format_func=others.get, key="ev_models",
        help="Each model scores the same methods, draws and prompt set on the same hold-out: one row per model.",
    )


def render_add_model(ctx, *, follow: bool = True) -> None:
    """Admins: embed the collection with a second model as a background job, with progress
    (on Evaluate and on Home). ``follow=False`` leaves the progress to a job panel of the page
    that already follows embed jobs (Home's)."""
    if not ctx.can("start_jobs"):
        return
    with st.expander("Embed with another model"):
        st.caption(
            "Choose a CLIP architecture with a pretrained tag, or a local weights file in a model folder "
            "([model] folders in clipcore.toml). Only images without its embedding are embedded."
        )
        known = known_models()
        st.selectbox(
            "Known models", known, index=None, key="mc_known", on_change=_fill_known,
            format_func=lambda m: f"{m[0]} · {m[1]}" if m[1] else f"{m[0]} (no weights)",
            placeholder=f"Choose one of {len(known):,} architectures with their pretrained tags, or type below",
            help="Fills in Architecture and Pretrained tag; you can still type any other.",
        )
        with st.form("mc_add_model"):
            c1, c2 = st.columns(2)
            st.session_state.setdefault("mc_arch", "ViT-B-32")  # a default set once, so the list can replace it
            name = c1.text_input("Architecture", key="mc_arch", help="e.g. ViT-B-32, ViT-B-16, tiny")
            tag = c2.text_input("Pretrained tag", key="mc_tag", help="e.g. laion2b_s34b_b79k; empty with a checkpoint")
            checkpoint = st.text_input("Local checkpoint", key="mc_checkpoint",
                                       help="A weights file of this architecture inside a model folder.")
            submitted = st.form_submit_button("Embed with this model")
        if submitted:
            _start_embed(ctx, name, tag, checkpoint)
        if follow:
            job_panel(ctx.ws, ctx.entry.name, "embed", key="mc_embed")


def _fill_known() -> None:
    """A model chosen from the list fills the form's typed fields (still editable)."""
    chosen = st.session_state.get("mc_known")
    if chosen:
        st.session_state["mc_arch"], st.session_state["mc_tag"] = chosen[0], chosen[1]


def _start_embed(ctx, name: str, tag: str, checkpoint: str) -> None:
    try:
        arch, pretrained, ckpt = check_model_choice(name, tag, checkpoint, folders=auth.auth_settings().model_folders)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    info = ctx.model.info
    choice = ModelChoice(arch, pretrained, str(ckpt) if ckpt else None, info.device, info.precision)
    job = start_job_from_ui(ctx.ws, ctx.entry.name, "embed", key="mc_embed", model=choice)
    if job:
        st.success(f"Started embedding with {md(arch)} as job {job}.")
