"""The Label page's review views: conflicts (one by one or in bulk) and exports (the
history and the review queue: ``ui.label.history``). Every write checks the role first (``ui.core.auth.permit``)."""

from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.errors import ClipcoreError

from ui.core import auth
from ui.core import context
from ui.core import state
from ui.widgets.grid import image_grid
from ui.label.exports import zip_export
from ui.core.text import md, plural

STRATEGIES = {
    "majority": "Keep the majority (ties: the latest)",
    "latest": "Keep the latest assignment",
    "class": "Settle every conflict that involves one class as that class",
}


NOTICE_ICONS = ("⚠️", "🚫")  # a flash with one of these stays on the page (a notice), others are toasts


def flash(message: str, icon: str = "✅") -> None:
    """A message for the Label page's next run (callbacks cannot draw); it replaces the
    notice on screen, if any."""
    st.session_state.pop(state.LABEL_NOTICE, None)
    st.session_state[state.LABEL_FLASH] = (message, icon)


def notice(message: str, icon: str = "⚠️") -> None:
    """A message that stays on the Label page until dismissed or replaced."""
    st.session_state[state.LABEL_NOTICE] = (message, icon)


def _dismiss() -> None:
    st.session_state.pop(state.LABEL_NOTICE, None)


def show_flash() -> None:
    """Show the message a callback left; user strings in it are escaped. Success and
    information pass as a toast; a warning or an error (images skipped, a refusal) stays
    on the page, with a Dismiss button, until the next action replaces it."""
    if state.LABEL_FLASH in st.session_state:
        message, icon = st.session_state.pop(state.LABEL_FLASH)
        if icon in NOTICE_ICONS:
            notice(message, icon)
        else:
            st.toast(md(message), icon=icon)
    kept = st.session_state.get(state.LABEL_NOTICE)
    if kept:
        message, icon = kept
        text, close = st.columns([12, 1], vertical_alignment="center")
        (text.error if icon == "🚫" else text.warning)(md(message), icon=icon)
        close.button("Dismiss", key="label_notice_dismiss", on_click=_dismiss)


def tell_relabelled(ws, annotator: str) -> None:
    """A persistent notice when colleagues gave other classes to this annotator's images
    since this session last looked (a new session: since the annotator's own last label)."""
    others, latest = lbl.relabelled_by_others(ws, annotator, st.session_state.get(state.LABEL_SEEN_EVENT))
    st.session_state[state.LABEL_SEEN_EVENT] = latest
    if others:
        said = "; ".join(f"{who} relabelled {n} of your image{'s' if n != 1 else ''}" for who, n in others.items())
        notice(f"{said} (see History).", "⚠️")


def new_page() -> None:
    """Forget the page on screen so the next run draws a fresh one."""
    st.session_state.pop(state.LABEL_PAGE, None)


def conflicts_view(ctx, annotator: str) -> None:
    """Images annotators disagree on; admins settle them, one by one or in bulk."""
    ws = ctx.ws
    conflicts = lbl.find_conflicts(ws)
    if not conflicts:
        st.success("No conflicts: no two annotators disagree on any image.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": c.image_id, "path": c.path, "current": c.current, "latest": c.latest, "majority": c.majority,
                    "votes": "; ".join(f"{k} ({', '.join(v)})" for k, v in c.votes.items()),
                }
                for c in conflicts
            ]
        ),
        hide_index=True,
    )
    by_id = {c.image_id: c for c in conflicts}
    shown = list(by_id)[:24]
    image_grid(ws, shown, key="label-conflicts", notes={i: by_id[i].current or "(no label)" for i in shown}, find_similar=False)
    if not ctx.can("resolve_conflicts"):
        st.caption(f"{plural(len(conflicts), 'conflict')}; an admin settles them.")
        return
    options = sorted(set().union(*(c.classes() for c in conflicts)) | set(lbl.current_labels(ws).values()))
    _bulk_resolve(ctx, annotator, options, len(conflicts))
    st.subheader("One by one")
    picked = st.multiselect("Images to resolve", list(by_id), format_func=lambda i: f"#{i} {by_id[i].path}", key="label_resolve_ids")
    label = st.selectbox("Settle on class", options, key="label_resolve_class", accept_new_options=True)
    if st.button("Resolve", key="label_resolve", disabled=not picked or not label):
        try:
            auth.permit("resolve_conflicts", ctx.entry.name)
            lbl.resolve_conflicts(ws, picked, label, annotator=annotator)
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        auth.audit("resolve", ctx.entry.name, image_ids=[int(i) for i in picked], label=label)
        flash(f"Resolved {plural(len(picked), 'conflict')} as {label!r}.")
        st.rerun()


def _bulk_resolve(ctx, annotator: str, options: list[str], n: int) -> None:
    st.subheader(f"All {n} at once")
    c1, c2 = st.columns([2, 1])
    strategy = c1.radio("Rule", list(STRATEGIES), format_func=STRATEGIES.get, key="label_bulk_rule")
    label = c2.selectbox("Class", options, key="label_bulk_class", disabled=strategy != "class")
    if st.button("Resolve all", key="label_bulk_resolve", type="primary"):
        try:
            auth.permit("resolve_conflicts", ctx.entry.name)
            done = lbl.resolve_in_bulk(ctx.ws, strategy, label=label if strategy == "class" else None, annotator=annotator)
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        settled = sum(k for _, k in done.values())
        auth.audit("bulk_resolve", ctx.entry.name, rule=strategy, label=label if strategy == "class" else None,
                   settled=settled, batches=len(done))
        flash(f"Resolved {plural(settled, 'conflict')} ({STRATEGIES[strategy].lower()}) in {plural(len(done), 'batch')}; "
              f"{'each' if len(done) != 1 else 'it'} can be reverted.")
        st.rerun()


def export_view(ctx) -> None:
    """Downloads for everyone; copying images into folders on the server for admins."""
    ws = ctx.ws
    st.subheader("Download")
    c1, c2 = st.columns(2)
    history = c1.toggle("Full history (every event)", key="label_export_history")
    fmt = c2.radio("Format", ["csv", "json"], horizontal=True, key="label_export_fmt")
    data = lbl.labels_csv(ws, history=history) if fmt == "csv" else lbl.labels_json(ws, history=history)
    name = f"labels{'-history' if history else ''}.{fmt}"
    st.download_button(f"Download {name}", data, file_name=name, mime="text/csv" if fmt == "csv" else "application/json", key="label_download")
    zip_export(ctx)
    if not ctx.can("export_files"):
        return
    st.subheader("Copy images into class folders")
    # Only a name under the workspace's exports/ folder: on a shared deployment nobody may
    # make the server write to an arbitrary path (the CLI takes any folder).
    name_in = st.text_input(
        "Export name", key="label_export_dir", value=time.strftime("labels-%Y%m%d-%H%M"),
        help="Images go to <workspace>/exports/NAME/<class>/<file>. Letters, digits, '-', '_' and '.' only.",
    )
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name_in).strip(".-")
    out = str(ws.root / "exports" / safe) if safe else ""
    if safe:
        st.text(f"Target folder: {out}")
    if st.button("Export image folders", key="label_export_folders", disabled=not out.strip()):
        try:
            auth.permit("export_files", ctx.entry.name)
            report = lbl.export_labels(ws, out, "folders")
        except ClipcoreError as exc:
            context.show_error(exc)
            return
        st.success(f"Copied {report['files']} images into {len(report['classes'])} class folders under {md(report['out'])}.")
        if report["skipped"]:
            st.warning(f"{len(report['skipped'])} originals were not copied; first: {md(report['skipped'][0])}")
