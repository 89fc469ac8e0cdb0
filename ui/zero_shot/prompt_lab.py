"""The Zero-shot page's prompt lab tab: suggest better prompts from the labelled images
(never the frozen hold-out), and save a suggestion as a new version in one click."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.classify.promptlab import TEMPLATE_BANK, candidate_prompts, lab_images, suggest_prompts
from clipcore.classify.prompts import PromptSet, load_prompt_set, save_prompt_set
from clipcore.classify.splits import training_data_version
from clipcore.classify.zeroshot import build_classifier
from clipcore.errors import ClipcoreError
from clipcore.parallel import heavy_slot

from ui.core import auth
from ui.core import context
from ui.core.text import md

RESULT = "zs_lab_result"
SYNONYMS = "zs_lab_synonyms"


def parse_synonyms(text: str) -> dict[str, list[str]]:
    """ "class: word, other words" per line -> {class: [words]} (lines without a colon are ignored)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        label, words = line.split(":", 1)
        out.setdefault(label.strip(), []).extend(w.strip() for w in words.split(",") if w.strip())
    return out


def _suggest(ctx, stored: PromptSet, synonyms: dict[str, list[str]]):
    X, y, n_held_out = lab_images(ctx.ws, ctx.matrix)
    classifier = build_classifier(ctx.model, stored)
    candidates = candidate_prompts(classifier.labels, synonyms)
    out = suggest_prompts(X, y, classifier.labels, classifier.class_vectors, candidates, ctx.model.encode_texts)
    out.notes.append(f"{n_held_out} hold-out images were left out.")
    return out


def render_prompt_lab(ctx, loaded: tuple[str, int] | None, on_saved) -> None:
    """Suggest prompts for the loaded (saved) set; ``on_saved(name, version)`` after a save."""
    st.caption(
        f"Candidates: {len(TEMPLATE_BANK)} templates x each class name x your synonyms. Each is scored by zero-shot "
        "accuracy on the labelled images outside the hold-out, over 5 folds; the gain over your current prompts "
        "is shown with its standard error. The hold-out accuracy appears only after you save."
    )
    if not auth.can("edit_prompts", ctx.entry.name):
        st.info("Suggesting prompts is for annotators and admins: it scores hundreds of prompts on the server.")
        return
    if not loaded:
        st.info("Save the prompt set first: the lab suggests improvements to a saved version.")
        return
    try:
        stored = load_prompt_set(ctx.ws, *loaded)
    except ClipcoreError as exc:
        context.show_error(exc)
        return
    st.text_area(
        "Your synonyms, one class per line (class: word, other words)",
        key=SYNONYMS,
        placeholder="\n".join(f"{label}: ..." for label in list(stored.classes)[:3]),
        height=90,
    )
    signature = (loaded, training_data_version(ctx.ws), st.session_state.get(SYNONYMS, ""))
    if st.button("Suggest prompts", key="zs_lab_run", type="primary"):
        try:
            auth.permit("edit_prompts", ctx.entry.name)
            with heavy_slot("suggesting prompts"), st.spinner("Scoring candidate prompts on the labelled images..."):
                st.session_state[RESULT] = (signature, _suggest(ctx, stored, parse_synonyms(st.session_state.get(SYNONYMS, ""))))
        except ClipcoreError as exc:
            context.show_error(exc)
            return
    kept = st.session_state.get(RESULT)
    if not kept or kept[0] != signature:
        return
    out = kept[1]
    parts = " + ".join(f"{label} {gain:+.1%}" for label, gain in out.contributions.items())
    st.text(
        f"Current prompts: {out.base_accuracy:.1%} on {out.n_images:,} labelled images outside the hold-out. "
        + (f"Suggested set: {out.suggested_gain_here:+.1%} on these images ({parts}: the \"in the set\" column); "
           if out.contributions else "")
        + f"cross-validated {out.suggested_gain:+.1%} ± {out.suggested_gain_se:.1%} (each class's best prompt chosen on "
        f"{out.n_folds - 1} folds, scored on the fifth). " + " ".join(out.notes)
    )
    rows = [
        {"class": label, "rank": r + 1, "prompt": c.prompt, "accuracy": c.accuracy, "gain alone": c.gain,
         "± (s.e.)": c.gain_se,
         "in the set": out.contributions.get(label) if r == 0 and label in out.contributions else None}
        for label, ranked in out.per_class.items()
        for r, c in enumerate(ranked[:3])
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn(format="percent"),
            "gain alone": st.column_config.NumberColumn(
                format="percent", help="This prompt alone in place of its class's prompts (the other classes unchanged)"),
            "in the set": st.column_config.NumberColumn(
                format="percent", help="This class's share of the suggested set's gain; the shares add up to it"),
            "± (s.e.)": st.column_config.NumberColumn(format="percent"),
        },
    )
    if not out.suggested:
        st.info("No candidate beats the current prompts of any class.")
        return
    changed = ", ".join(md(label) for label in out.suggested)
    if st.button(
        f"Save the suggestion as a new version of {md(stored.name)} (changes {changed})", key="zs_lab_save",
        disabled=not ctx.can("edit_prompts"),
    ):
        suggestion = out.as_prompt_set(stored.name, stored)
        try:
            auth.permit("edit_prompts", ctx.entry.name)
            saved = save_prompt_set(ctx.ws, stored.name, suggestion.classes, [], note="prompt lab suggestion")
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        st.session_state.pop(RESULT, None)
        on_saved(saved.name, saved.version)
