"""Zero-shot: describe each class in words, read the predictions, improve the prompts.

Prompt sets live in the workspace with versions; the editor holds a draft that is
classified on every change, and saved as a new version only when asked.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from clipcore.errors import ClipcoreError
from clipcore.classify.prompts import (
    DEFAULT_TEMPLATES,
    MAX_SET_NAME_CHARS,
    REFERENCE_PROMPT_SET_NAME,
    PromptSet,
    classes_from_rows,
    duplicate_prompt_set,
    list_prompt_sets,
    load_prompt_set,
    prompt_set_versions,
    rename_prompt_set,
    rows_from_classes,
    save_prompt_set,
    starting_prompt_set,
    validate_classes,
    validate_templates,
)
from clipcore.classify.zeroshot import build_classifier, cell_image_ids, classify_matrix, evaluate_result
from clipcore.parallel import heavy_slot

from ui.core import auth
from ui.core import classifier_cache
from ui.core import context
from ui.core import resources
from ui.core import state
from ui.widgets.charts import confusion_chart
from ui.widgets.grid import image_grid, more_like_this_on_search
from ui.widgets.prediction_jobs import render_prediction_jobs
from ui.core.text import app_text, md, plural
from ui.zero_shot.prompt_lab import render_prompt_lab
from ui.zero_shot.view import COMPARE_KEYS, render_compare, render_predictions, summary_matrix
from ui.widgets.model_compare import render_zero_shot_comparison

FLASH = "zs_flash"
NAME = "zs_name"
USE_TEMPLATES = "zs_use_templates"
TEMPLATES = "zs_templates"
SET_CHOICE = "zs_set"
VERSION_CHOICE = "zs_version"
PENDING_LOAD = "zs_pending_load"
EDITOR_COLLECTION = "zs_editor_collection"  # the collection whose prompts the editor holds
DRAFT_ORIGIN = "zs_draft_origin"  # where an unsaved starting draft came from (a caption)
# The editor's state belongs to one collection: switching collection starts it again.
PER_COLLECTION = (state.ZS_EDITOR_ROWS, state.ZS_LOADED, SET_CHOICE, VERSION_CHOICE, PENDING_LOAD, DRAFT_ORIGIN,
                  NAME, USE_TEMPLATES, TEMPLATES, FLASH, "zs_rename_to", "zs_duplicate_as", *COMPARE_KEYS)

ctx = context.page_context()
ws = ctx.ws
# Drafts are scored in the page: on every image of a small collection, on a spread sample of
# a large one (every image's scores of a saved set then come from a `predict` job).
matrix, truth, sampled = classifier_cache.scoring_scope(ws, ctx.key, ctx.matrix)
view_ctx = replace(ctx, matrix=matrix)
if st.session_state.get(EDITOR_COLLECTION) != ctx.entry.name:
    for _key in PER_COLLECTION:
        st.session_state.pop(_key, None)
    st.session_state[EDITOR_COLLECTION] = ctx.entry.name


def _load_into_editor(prompt_set: PromptSet | None, *, saved: bool = True) -> None:
    """Put a set (or an empty draft) into the editor widgets (call before they exist);
    ``saved=False``: a starting draft that is not in the store (opening the page writes nothing)."""
    rows = rows_from_classes(prompt_set.classes) if prompt_set else [("", "")]
    st.session_state[state.ZS_EDITOR_ROWS] = rows
    st.session_state[state.ZS_LOADED] = (prompt_set.name, prompt_set.version) if prompt_set and saved else None
    st.session_state.pop(DRAFT_ORIGIN, None)
    if prompt_set and not saved:
        st.session_state[DRAFT_ORIGIN] = prompt_set.name
    st.session_state[state.ZS_EDITOR_GEN] = st.session_state.get(state.ZS_EDITOR_GEN, 0) + 1
    st.session_state[NAME] = prompt_set.name if prompt_set else "my prompts"
    st.session_state[USE_TEMPLATES] = bool(prompt_set and prompt_set.templates)
    st.session_state[TEMPLATES] = "\n".join(prompt_set.templates if prompt_set and prompt_set.templates else DEFAULT_TEMPLATES)
    if prompt_set and saved:
        st.session_state[SET_CHOICE] = prompt_set.name
        st.session_state[VERSION_CHOICE] = prompt_set.version


def _flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def _draft_differs(prompt_set: PromptSet) -> bool:
    """Whether the editor holds anything but ``prompt_set`` as saved (another set, or unsaved edits)."""
    if st.session_state.get(state.ZS_LOADED) != (prompt_set.name, prompt_set.version):
        return True
    edits = st.session_state.get(f"zs_editor_{st.session_state.get(state.ZS_EDITOR_GEN, 0)}") or {}
    templates = "\n".join(prompt_set.templates or DEFAULT_TEMPLATES)
    return (any(edits.get(k) for k in ("edited_rows", "added_rows", "deleted_rows"))
            or st.session_state.get(NAME) != prompt_set.name
            or st.session_state.get(USE_TEMPLATES) != bool(prompt_set.templates)
            or st.session_state.get(TEMPLATES) != templates)


def _on_load() -> None:
    try:
        loaded = load_prompt_set(ws, st.session_state[SET_CHOICE], st.session_state.get(VERSION_CHOICE))
    except ClipcoreError as exc:
        _flash("error", app_text(exc))
        return
    # Said every time: a press that changes no visible row (the editor held this version
    # already) still says what the editor holds now.
    what = f"{loaded.name!r} version {loaded.version}"  # the flash is escaped where it is shown
    if _draft_differs(loaded):
        n_prompts = sum(len(p) for p in loaded.classes.values())
        _flash("success", f"Loaded {what} into the editor: {plural(len(loaded.classes), 'class')}, "
                          f"{plural(n_prompts, 'prompt')}.")
    else:
        _flash("success", f"The editor already holds {what} as it was saved; nothing to load.")
    _load_into_editor(loaded)


def _on_rename() -> None:
    old, new = st.session_state[SET_CHOICE], st.session_state.get("zs_rename_to", "")
    try:
        auth.permit("edit_prompts", ctx.entry.name)  # callbacks run before the page's own check
        n = rename_prompt_set(ws, old, new)
        loaded = st.session_state.get(state.ZS_LOADED)
        if loaded and loaded[0] == old:
            st.session_state[state.ZS_LOADED] = (new.strip(), loaded[1])
            st.session_state[NAME] = new.strip()
        st.session_state[SET_CHOICE] = new.strip()
        _flash("success", f"Renamed {old!r} to {new.strip()!r} ({plural(n, 'version')}).")
    except ClipcoreError as exc:
        _flash("error", app_text(exc))


def _on_duplicate() -> None:
    name, new = st.session_state[SET_CHOICE], st.session_state.get("zs_duplicate_as", "")
    try:
        auth.permit("edit_prompts", ctx.entry.name)
        copy = duplicate_prompt_set(ws, name, new, st.session_state.get(VERSION_CHOICE))
        _load_into_editor(copy)
        _flash("success", f"Copied {name!r} version {copy.version} as {copy.name!r}.")
    except ClipcoreError as exc:
        _flash("error", app_text(exc))


def _on_new_set() -> None:
    _load_into_editor(None)
    st.session_state[NAME] = "new set"
    _flash("success", "A new, empty set: write classes and prompts, then save it under a name.")


def _after_save(name: str, version: int) -> None:
    """Reload the editor from the store on the next run; Compare starts again with the two newest."""
    st.session_state[PENDING_LOAD] = (name, version)
    for key in COMPARE_KEYS:
        st.session_state.pop(key, None)
    _flash("success", f"Saved {name!r} version {version}. Its accuracy is on the Accuracy tab.")  # escaped where shown
    st.rerun()


if PENDING_LOAD in st.session_state:  # a save in the previous run: reload the editor from the store
    _load_into_editor(load_prompt_set(ws, *st.session_state.pop(PENDING_LOAD)))
elif state.ZS_EDITOR_ROWS not in st.session_state:
    _start, _saved = starting_prompt_set(ws, resources.catalogue_summary(ws)["per_class"])
    _load_into_editor(_start, saved=_saved)

st.title("Zero-shot classification")
# One slot, filled or not: a message above the expander must not shift it to a new place in
# the page (Streamlit would draw it anew, closed, under the user's hand after Load or Rename).
flash_slot = st.empty()
if FLASH in st.session_state:
    kind, message = st.session_state.pop(FLASH)
    (flash_slot.success if kind == "success" else flash_slot.error)(md(message))

# -- stored prompt sets ----------------------------------------------------------------
sets = list_prompt_sets(ws)
with st.expander("Prompt sets stored in this workspace", expanded=not sets):
    if not sets:
        st.info("No prompt set is stored yet: write classes and prompts below and save them.")
    else:
        names = [s.name for s in sets]
        if st.session_state.get(SET_CHOICE) not in names:
            st.session_state[SET_CHOICE] = names[0]
        c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
        chosen = c1.selectbox("Prompt set", names, key=SET_CHOICE)
        versions = [v.version for v in prompt_set_versions(ws, chosen)]
        if st.session_state.get(VERSION_CHOICE) not in versions:
            st.session_state[VERSION_CHOICE] = versions[0]
        c2.selectbox("Version", versions, key=VERSION_CHOICE, help="Every save is a new version; older ones are kept.")
        c3.button("Load into editor", on_click=_on_load, key="zs_load", width="stretch")
        c4.button("New set", on_click=_on_new_set, key="zs_new_set", width="stretch", help="Start an empty set.")
        r1, r2, r3, r4 = st.columns([2, 1, 2, 1])
        r1.text_input("Rename the set to", key="zs_rename_to", max_chars=MAX_SET_NAME_CHARS)
        r2.button("Rename", on_click=_on_rename, key="zs_rename", width="stretch", disabled=not ctx.can("edit_prompts"))
        r3.text_input("Duplicate this version as", key="zs_duplicate_as", max_chars=MAX_SET_NAME_CHARS)
        r4.button("Duplicate", on_click=_on_duplicate, key="zs_duplicate", width="stretch", disabled=not ctx.can("edit_prompts"))

# -- the editor ------------------------------------------------------------------------
loaded = st.session_state.get(state.ZS_LOADED)
st.subheader("Classes and prompts")
origin = st.session_state.get(DRAFT_ORIGIN)
if loaded:
    editing = f"Editing {md(repr(loaded[0]))} version {loaded[1]}"
elif origin == REFERENCE_PROMPT_SET_NAME:
    editing = "Editing a draft from the reference study's prompts (not saved yet)"
elif origin:
    editing = "Editing a draft made of this collection's class names (not saved yet)"
else:
    editing = "Editing a new set"
st.caption(
    editing
    + ". One row per prompt; a class with several prompts gets several rows. "
    "A class embedding is the re-normalised mean of its prompts' embeddings."
)
edited = st.data_editor(
    pd.DataFrame(st.session_state[state.ZS_EDITOR_ROWS], columns=["class", "prompt"]),
    num_rows="dynamic",
    key=f"zs_editor_{st.session_state[state.ZS_EDITOR_GEN]}",
    column_config={
        "class": st.column_config.TextColumn("class", required=True),
        "prompt": st.column_config.TextColumn("prompt", width="large"),
    },
    hide_index=True,
    width="stretch",
)
t1, t2 = st.columns([1, 3])
use_templates = t1.checkbox("Template ensemble", key=USE_TEMPLATES, help="Wrap every prompt in each template and average.")
templates_text = t2.text_area("Templates, one per line ({} = the prompt)", key=TEMPLATES, height=110, disabled=not use_templates)
s1, s2 = st.columns([3, 1])
set_name = s1.text_input("Save as (name)", key=NAME)
save = s2.button("Save as new version", type="primary", key="zs_save", width="stretch", disabled=not ctx.can("edit_prompts"))

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
                _after_save(saved.name, saved.version)
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
    summary = evaluate_result(result, truth) if result is not None else None
    if result is None:
        st.info("Fix the prompts above to see predictions.")
    elif summary is None:
        st.info(
            "No image has a ground-truth class that is one of these classes, so there is nothing to score. "
            "The Predictions tab still lists every image."
        )
    else:
        st.caption(
            f"Scored on the {summary['n']:,} images with a known class that is one of these classes"
            + (" in the sample" if sampled else "") + ", the hold-out included (the Compare models tab scores "
            "the hold-out only; the Prompt lab the labelled images outside it)."
        )
        m1, m2, m3 = st.columns(3)
        m1.metric("Accuracy", f"{summary['accuracy']:.1%}")
        m2.metric("Balanced accuracy", f"{summary['balanced_accuracy']:.1%}")
        m3.metric("Images scored", f"{summary['n']:,}")
        if summary["left_out"]:
            st.caption(
                "Not scored (ground-truth class not in this set): "
                + ", ".join(f"{md(label)} ({n})" for label, n in summary["left_out"].items())
            )
        left, right = st.columns([1, 1])
        with left:
            cell = confusion_chart(
                summary_matrix(summary),
                key="zs_confusion",
                title="true class vs prediction (click a cell)",
            )
        with right:
            st.dataframe(
                pd.DataFrame(summary["per_class"]).style.format({"precision": "{:.1%}", "recall": "{:.1%}", "f1": "{:.1%}"}),
                hide_index=True,
            )
        if cell is not None:
            ids = cell_image_ids(result, truth, *cell)
            st.text(f"{len(ids)} images of class {cell[0]} predicted as {cell[1]} (most confident first)")
            conf = dict(zip(result.ids.tolist(), result.confidence.tolist()))
            cell_grid = image_grid(ws, ids[:48], key="zs-cell", scores={i: conf[i] for i in ids[:48]})
            if cell_grid.similar_to is not None:
                more_like_this_on_search(cell_grid.similar_to)

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
    render_prompt_lab(view_ctx, st.session_state.get(state.ZS_LOADED), _after_save)

# -- try one prompt --------------------------------------------------------------------
with tab_try:
    prompt = st.text_input("One prompt", key="zs_try", placeholder="e.g. book binding", help="See at once which images it ranks highest.")
    if prompt.strip():
        try:
            hits = resources.vector_index(ws, ctx.key).search(resources.text_vector(ctx.key, prompt), 12).hits
            try_grid = image_grid(ws, [h.id for h in hits], key="zs-try", scores={h.id: h.score for h in hits})
            if try_grid.similar_to is not None:
                more_like_this_on_search(try_grid.similar_to)
        except ClipcoreError as exc:
            context.show_error(exc)
