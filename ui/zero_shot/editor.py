"""The Zero-shot page's prompt editor: its session state (one collection's draft), the stored
sets' panel with its callbacks (load, rename, duplicate, new set), the editor widgets, and the
one message slot above them.

Callbacks run before the next script run, so they may set widget state; what they need of the
page (the workspace, the collection's name) comes as arguments, and they report through
``flash``. Every write checks the role first (``ui.core.auth.permit``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clipcore.classify.prompts import (
    DEFAULT_TEMPLATES,
    MAX_SET_NAME_CHARS,
    REFERENCE_PROMPT_SET_NAME,
    PromptSet,
    duplicate_prompt_set,
    list_prompt_sets,
    load_prompt_set,
    prompt_set_versions,
    rename_prompt_set,
    rows_from_classes,
    starting_prompt_set,
)
from clipcore.errors import ClipcoreError

from ui.core import auth
from ui.core import resources
from ui.core import state
from ui.core.text import app_text, md, plural
from ui.zero_shot.view import COMPARE_KEYS

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


def start_editor(ws, collection: str) -> None:
    """Before any widget: a new collection starts the editor again; a save in the previous run
    reloads it from the store; a first visit fills it with the starting set."""
    if st.session_state.get(EDITOR_COLLECTION) != collection:
        for key in PER_COLLECTION:
            st.session_state.pop(key, None)
        st.session_state[EDITOR_COLLECTION] = collection
    if PENDING_LOAD in st.session_state:
        load_into_editor(load_prompt_set(ws, *st.session_state.pop(PENDING_LOAD)))
    elif state.ZS_EDITOR_ROWS not in st.session_state:
        start, saved = starting_prompt_set(ws, resources.catalogue_summary(ws)["per_class"])
        load_into_editor(start, saved=saved)


def load_into_editor(prompt_set: PromptSet | None, *, saved: bool = True) -> None:
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


def flash(kind: str, message: str) -> None:
    """A message (``"success"`` or ``"error"``) for the slot above the stored sets, next run."""
    st.session_state[FLASH] = (kind, message)


def show_flash() -> None:
    """The message slot: one slot, filled or not, so that a message above the expander does not
    shift it to a new place in the page (Streamlit would draw it anew, closed, under the user's
    hand after Load or Rename)."""
    slot = st.empty()
    if FLASH in st.session_state:
        kind, message = st.session_state.pop(FLASH)
        (slot.success if kind == "success" else slot.error)(md(message))


def draft_differs(prompt_set: PromptSet) -> bool:
    """Whether the editor holds anything but ``prompt_set`` as saved (another set, or unsaved edits)."""
    if st.session_state.get(state.ZS_LOADED) != (prompt_set.name, prompt_set.version):
        return True
    edits = st.session_state.get(f"zs_editor_{st.session_state.get(state.ZS_EDITOR_GEN, 0)}") or {}
    templates = "\n".join(prompt_set.templates or DEFAULT_TEMPLATES)
    return (any(edits.get(k) for k in ("edited_rows", "added_rows", "deleted_rows"))
            or st.session_state.get(NAME) != prompt_set.name
            or st.session_state.get(USE_TEMPLATES) != bool(prompt_set.templates)
            or st.session_state.get(TEMPLATES) != templates)


def on_load(ws) -> None:
    try:
        loaded = load_prompt_set(ws, st.session_state[SET_CHOICE], st.session_state.get(VERSION_CHOICE))
    except ClipcoreError as exc:
        flash("error", app_text(exc))
        return
    # Said every time: a press that changes no visible row (the editor held this version
    # already) still says what the editor holds now.
    what = f"{loaded.name!r} version {loaded.version}"  # the flash is escaped where it is shown
    if draft_differs(loaded):
        n_prompts = sum(len(p) for p in loaded.classes.values())
        flash("success", f"Loaded {what} into the editor: {plural(len(loaded.classes), 'class')}, "
                         f"{plural(n_prompts, 'prompt')}.")
    else:
        flash("success", f"The editor already holds {what} as it was saved; nothing to load.")
    load_into_editor(loaded)


def on_rename(ws, collection: str) -> None:
    old, new = st.session_state[SET_CHOICE], st.session_state.get("zs_rename_to", "")
    try:
        auth.permit("edit_prompts", collection)  # callbacks run before the page's own check
        n = rename_prompt_set(ws, old, new)
        loaded = st.session_state.get(state.ZS_LOADED)
        if loaded and loaded[0] == old:
            st.session_state[state.ZS_LOADED] = (new.strip(), loaded[1])
            st.session_state[NAME] = new.strip()
        st.session_state[SET_CHOICE] = new.strip()
        flash("success", f"Renamed {old!r} to {new.strip()!r} ({plural(n, 'version')}).")
    except ClipcoreError as exc:
        flash("error", app_text(exc))


def on_duplicate(ws, collection: str) -> None:
    name, new = st.session_state[SET_CHOICE], st.session_state.get("zs_duplicate_as", "")
    try:
        auth.permit("edit_prompts", collection)
        copy = duplicate_prompt_set(ws, name, new, st.session_state.get(VERSION_CHOICE))
        load_into_editor(copy)
        flash("success", f"Copied {name!r} version {copy.version} as {copy.name!r}.")
    except ClipcoreError as exc:
        flash("error", app_text(exc))


def on_new_set() -> None:
    load_into_editor(None)
    st.session_state[NAME] = "new set"
    flash("success", "A new, empty set: write classes and prompts, then save it under a name.")


def after_save(name: str, version: int) -> None:
    """Reload the editor from the store on the next run; Compare starts again with the two newest."""
    st.session_state[PENDING_LOAD] = (name, version)
    for key in COMPARE_KEYS:
        st.session_state.pop(key, None)
    flash("success", f"Saved {name!r} version {version}. Its accuracy is on the Accuracy tab.")  # escaped where shown
    st.rerun()


def render_stored_sets(ctx) -> None:
    """The expander of the workspace's prompt sets: choose a set and version, load, start a new
    set, rename, duplicate."""
    ws = ctx.ws
    sets = list_prompt_sets(ws)
    with st.expander("Prompt sets stored in this workspace", expanded=not sets):
        if not sets:
            st.info("No prompt set is stored yet: write classes and prompts below and save them.")
            return
        names = [s.name for s in sets]
        if st.session_state.get(SET_CHOICE) not in names:
            st.session_state[SET_CHOICE] = names[0]
        c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
        chosen = c1.selectbox("Prompt set", names, key=SET_CHOICE)
        versions = [v.version for v in prompt_set_versions(ws, chosen)]
        if st.session_state.get(VERSION_CHOICE) not in versions:
            st.session_state[VERSION_CHOICE] = versions[0]
        c2.selectbox("Version", versions, key=VERSION_CHOICE, help="Every save is a new version; older ones are kept.")
        c3.button("Load into editor", on_click=on_load, args=(ws,), key="zs_load", width="stretch")
        c4.button("New set", on_click=on_new_set, key="zs_new_set", width="stretch", help="Start an empty set.")
        r1, r2, r3, r4 = st.columns([2, 1, 2, 1])
        r1.text_input("Rename the set to", key="zs_rename_to", max_chars=MAX_SET_NAME_CHARS)
        r2.button("Rename", on_click=on_rename, args=(ws, ctx.entry.name), key="zs_rename", width="stretch",
                  disabled=not ctx.can("edit_prompts"))
        r3.text_input("Duplicate this version as", key="zs_duplicate_as", max_chars=MAX_SET_NAME_CHARS)
        r4.button("Duplicate", on_click=on_duplicate, args=(ws, ctx.entry.name), key="zs_duplicate", width="stretch",
                  disabled=not ctx.can("edit_prompts"))


def render_editor(ctx) -> tuple[pd.DataFrame, bool, str, str, bool]:
    """The editor: what it holds, the class/prompt rows, the template ensemble and the save row.

    Returns (edited rows, use templates, templates text, set name, save pressed)."""
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
    return edited, use_templates, templates_text, set_name, save
