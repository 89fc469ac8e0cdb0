"""The Label page's ZIP export: the class-folder export built by a job (``export-zip``)
into the workspace's ``exports/`` folder, named after the collection and its content, then
downloaded from there. What a role may take away comes from the role table through the job
kind (``clipcore.jobkinds``): the originals need ``export_files`` (admins); the ~256 px
thumbnails, which every role that may view already sees in the grids, need ``view``. Building
and downloading each content need the same permission."""

from __future__ import annotations

import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.catalog.exportzip import DEFAULT_MAX_MB, ZIP_CONTENTS, list_zips
from clipcore.jobkinds import job_kind

from ui.widgets.jobs import job_panel, start_job_from_ui

SHOWN = 3
ZIP_WANTED = "label_zip_wanted"  # the ZIP a person asked to download, for one run
CONTENT_LABELS = {
    "thumbnails": "Thumbnails (small JPEGs, about 256 px)",
    "originals": "Originals (the files as they are)",
}


def _params(ctx, content: str) -> dict:
    return {"name": ctx.entry.name, "max_mb": DEFAULT_MAX_MB, "content": content}


def zip_contents(ctx) -> list[str]:
    """The ZIP contents the signed-in user may build and download here."""
    kind = job_kind("export-zip")
    return [c for c in ZIP_CONTENTS if ctx.can(kind.permission(kind.command_line(**_params(ctx, c))))]


def zip_export(ctx) -> None:
    """Build a ZIP (a job with progress) of the content chosen among those allowed, then the
    newest ones of each allowed content as downloads."""
    contents = zip_contents(ctx)
    if not contents:
        return
    ws = ctx.ws
    st.subheader("Download the images as a ZIP of class folders")
    if len(contents) > 1:
        content = st.radio("Content", contents, format_func=CONTENT_LABELS.get, horizontal=True, key="label_zip_content")
    else:
        content = contents[0]
        if content == "thumbnails":
            st.caption(f"{CONTENT_LABELS[content]}: the originals are for leads (admins) only.")
    st.caption(f"Every labelled image in a folder named after its class, up to {DEFAULT_MAX_MB:,} MB in all; "
               "built in the background, then offered here.")
    nothing = not lbl.current_label_arrays(ws).counts()
    if st.button("Build the ZIP", key="label_zip_build", disabled=nothing,
                 help="Nothing is labelled yet: label some images first." if nothing else None):
        start_job_from_ui(ws, ctx.entry.name, "export-zip", key="label_zip", **_params(ctx, content))
    job_panel(ws, ctx.entry.name, "export-zip", key="label_zip", on_end=lambda job: None)
    # A ZIP is read into the server's memory (Streamlit's downloads are held there) only for
    # the one a person asks for, and only until their next click: not every ZIP on every rerun.
    wanted = st.session_state.pop(ZIP_WANTED, None)
    for c in contents:
        for k, path in enumerate(list_zips(ws, c)[:SHOWN]):
            label = f"{path.name} ({path.stat().st_size / 1e6:,.1f} MB)"
            if wanted == path.name:
                st.download_button(
                    f"Download {label}", path.read_bytes(), file_name=path.name, mime="application/zip",
                    key=f"label_zip_download_{c}_{k}", type="primary", on_click="ignore",
                )
            else:
                st.button(f"Prepare {label}", key=f"label_zip_prepare_{c}_{k}", on_click=_want, args=(path.name,),
                          help="Reads the ZIP for your download; the Download button that follows stays until your next click.")


def _want(name: str) -> None:
    st.session_state[ZIP_WANTED] = name
