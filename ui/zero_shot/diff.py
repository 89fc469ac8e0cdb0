"""Zero-shot's "Compare versions", the other half: what changed between the two prompt-set
versions (prompts per class) and the images whose prediction flipped, as a grid
(``clipcore.classify.promptdiff``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.classify.promptdiff import diff_prompt_sets, diff_templates, flipped_predictions
from clipcore.classify.prompts import PromptSet
from clipcore.classify.zeroshot import ZeroShotResult

from ui.core.text import md
from ui.widgets.grid import image_grid

MAX_FLIP_TILES = 48
KIND_WORDS = {
    None: "All",
    "fixed": "Fixed by B (A wrong, B right)",
    "broken": "Broken by B (A right, B wrong)",
    "changed": "Changed otherwise (no ground truth, or wrong both times)",
}
STATUS_WORDS = {"added": "only in B", "removed": "only in A", "changed": "changed", "same": "same"}


def render_prompt_diff(ws, a: PromptSet, b: PromptSet, ra: ZeroShotResult, rb: ZeroShotResult, truth: dict) -> None:
    """The prompt diff per class, then the flipped images (filter by fixed / broken)."""
    st.subheader("What changed in the prompts")
    diffs = diff_prompt_sets(a, b)
    changed = [d for d in diffs if d.status != "same"]
    t_removed, t_added = diff_templates(a, b)
    if not changed and not t_removed and not t_added:
        st.caption("The two versions have the same prompts and templates.")
    else:
        show_same = st.toggle("Show unchanged classes too", key="zs_diff_same")
        # A plain table (HTML, not the canvas grid): a diff is read, copied and searched as text.
        # st.table renders markdown in its cells: class names and prompts are the user's, so escaped.
        st.table(
            pd.DataFrame(
                [
                    {
                        "class": md(d.name),
                        "change": STATUS_WORDS[d.status],
                        "removed (A only)": " · ".join(map(md, d.removed)),
                        "added (B only)": " · ".join(map(md, d.added)),
                        "kept": " · ".join(map(md, d.kept)),
                    }
                    for d in (diffs if show_same else changed)
                ],
                columns=["class", "change", "removed (A only)", "added (B only)", "kept"],
            ).set_index("class")
        )
        if t_removed or t_added:
            st.text(f"Templates removed: {' · '.join(t_removed) or 'none'}; added: {' · '.join(t_added) or 'none'}")
    flips = flipped_predictions(ra, rb, truth)
    st.subheader("Images whose prediction changed")
    counts = flips.counts()
    if not len(flips.ids):
        st.caption(f"None: both versions predict the same class for all {flips.compared:,} images compared.")
        return
    st.caption(
        f"{len(flips.ids):,} of {flips.compared:,} images changed class from A to B: {counts['fixed']:,} fixed, "
        f"{counts['broken']:,} broken, {counts['changed']:,} changed otherwise. Most confident in B first."
    )
    kind = st.radio(
        "Show", list(KIND_WORDS), format_func=lambda k: f"{KIND_WORDS[k]} ({len(flips.of_kind(k)):,})",
        horizontal=True, key="zs_flip_kind",
    )
    keep = flips.ids if kind is None else flips.ids[flips.kind == kind]
    shown = [int(i) for i in keep[:MAX_FLIP_TILES]]
    if not shown:
        st.caption("No image of this kind.")
        return
    if len(keep) > len(shown):
        st.caption(f"The first {len(shown)} of {len(keep):,}.")
    where = {int(i): k for k, i in enumerate(flips.ids)}
    notes = {}
    for i in shown:
        k = where[i]
        truth_note = f" (truth {flips.truth[k]})" if flips.truth[k] is not None else ""
        notes[i] = f"A {flips.a[k]} → B {flips.b[k]}{truth_note}"
    image_grid(ws, shown, key="zs-flips", notes=notes, columns=6, similar_label="more like this")
