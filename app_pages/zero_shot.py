"""Zero-shot: describe each class in words, read the predictions, improve the prompts.

Prompt sets live in the workspace with versions; the editor holds a draft that is
classified on every change, and saved as a new version only when asked.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from clipcore.errors import ClipcoreError
from clipcore.classify.prompts import PromptSet, classes_from_rows, save_prompt_set, validate_classes, validate_templates
from clipcore.classify.zeroshot import build_classifier, classify_matrix
from clipcore.parallel import heavy_slot

from ui.core import auth
from ui.core import classifier_cache
from ui.core import context
from ui.core import state
from ui.widgets.prediction_jobs import render_prediction_jobs
from ui.core.text import md
from ui.zero_shot import editor
from ui.zero_shot.prompt_lab import render_prompt_lab
from ui.zero_shot.view import render_accuracy, render_compare, render_predictions, render_try
from ui.widgets.model_compare import render_zero_shot_comparison

ctx = context.page_context()
ws = ctx.ws
# Drafts are scored in the page: on every image of a small collection, on a spread sample of
# a large one (every image's scores of a saved set then come from a `predict` job).
matrix, truth, sampled = classifier_cache.scoring_scope(ws, ctx.key, ctx.matrix)
view_ctx = replace(ctx, matrix=matrix)
editor.start_editor(ws, ctx.entry.name)

st.title("Zero-shot classification")
editor.show_flash()

# -- stored prompt sets ----------------------------------------------------------------
editor.render_stored_sets(ctx)

# -- the editor ------------------------------------------------------------------------
edited, use_templates, templates_text, set_name, save = editor.render_editor(ctx)

rows = classes_from_rows(edited[["class", "prompt"]].itertuples(index=False, name=None))
if len([c for c in rows if c]) < 2 and not save:
    # A new or emptied set: nothing to score yet, which is no error.
    st.info("Write at least two classes, each with a prompt, to score them on this collection.")
    result = None
else:
    try:
        classes = validate_classes(rows)
        templates = validate_templates(templates_text.splitlines()) if use_templates else []
        draft = PromptSet(set_name.strip() or "draft", classes, templates)
        if save:
            auth.permit("edit_prompts", ctx.entry.name)
            saved = save_prompt_set(ws, set_name, classes, templates)
            if saved.created:
                editor.after_save(saved.name, saved.version)
            st.info(f"Nothing changed since {md(saved.name)} version {saved.version}, so no new version was saved.")
        # The draft is scored on every edit, for every visitor: under the server's cap on heavy
        # in-process work, like prompt suggestions and model comparisons.
        with heavy_slot("scoring the draft prompts", wait_s=classifier_cache.HEAVY_WAIT_S):
            classifier = build_classifier(ctx.model, draft)
            result = classify_matrix(classifier, matrix)
    except ClipcoreError as exc:
        context.show_error(exc)
        result = None

if sampled:
    st.caption(
        f"This collection has {len(ctx.matrix.ids):,} images: the prompts are scored on a sample of {len(matrix.ids):,} "
        f"spread over it ({len(truth):,} with ground truth)."
    )
    render_prediction_jobs(ctx, zero_shot_ready=classifier_cache.zero_shot_probabilities(ws, ctx.key) is not None,
                           few_shot_ready=classifier_cache.few_shot_probabilities(ws, ctx.key, out_of_fold=False) is not None)
tab_metrics, tab_table, tab_compare, tab_models, tab_lab, tab_try = st.tabs(
    ["Accuracy", "Predictions", "Compare versions", "Compare models", "Prompt lab", "Try a prompt"]
)

# -- accuracy and confusion matrix -----------------------------------------------------
with tab_metrics:
    render_accuracy(ws, result, truth, sampled)

# -- predictions table -----------------------------------------------------------------
with tab_table:
    render_predictions(ws, result, set_name.strip() or "draft")

# -- compare two versions --------------------------------------------------------------
with tab_compare:
    render_compare(view_ctx, truth)

# -- the same prompts on every embedded model --------------------------------------------
with tab_models:
    render_zero_shot_comparison(ctx, draft if result is not None else None)

# -- prompt lab ------------------------------------------------------------------------
with tab_lab:
    render_prompt_lab(view_ctx, st.session_state.get(state.ZS_LOADED), editor.after_save)

# -- try one prompt --------------------------------------------------------------------
with tab_try:
    render_try(ctx)
