"""The Label page's ZIP export: the class-folder export built by a job (``export-zip``)
into the workspace's ``exports/`` folder, named after the collection, then downloaded from
there. Originals leave the server, so building and downloading both need the
``export_files`` permission."""

from __future__ import annotations

import streamlit as st

from clipcore.catalog import labels as lbl
from clipcore.catalog.exportzip import DEFAULT_MAX_MB, list_zips

from ui.widgets.jobs import job_panel, start_job_from_ui

SHOWN = 3


def zip_export(ctx) -> None:
    """Build a ZIP (a job with progress), then the newest ones as downloads."""
    if not ctx.can("export_files"):
        return
    ws = ctx.ws
    st.subheader("Download the images as a ZIP of class folders")
    st.caption(f"Every labelled original in a folder named after its class, up to {DEFAULT_MAX_MB:,} MB in all; "
               "built in the background, then offered here.")
    nothing = not lbl.current_label_arrays(ws).counts()
    if st.button("Build the ZIP", key="label_zip_build", disabled=nothing,
                 help="Nothing is labelled yet: label some images first." if nothing else None):
        start_job_from_ui(ws, ctx.entry.name, "export-zip", key="label_zip", name=ctx.entry.name, max_mb=DEFAULT_MAX_MB)
    job_panel(ws, ctx.entry.name, "export-zip", key="label_zip", on_end=lambda job: None)
    for k, path in enumerate(list_zips(ws)[:SHOWN]):
        size = path.stat().st_size
        st.download_button(
            f"Download {path.name} ({size / 1e6:,.1f} MB)", path.read_bytes(), file_name=path.name,
            mime="application/zip", key=f"label_zip_download_{k}", type="primary" if k == 0 else "secondary",
        )
