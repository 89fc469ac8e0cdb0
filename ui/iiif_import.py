"""Home: add books from a digital library (IIIF manifests) to the current workspace, as a job.

The pages are downloaded into ``<workspace>/iiif/<book>/<page>.jpg`` (a folder the app
chooses, never a path typed by a user) and ingested with each book as its group. The job
runs ``import-iiif --ingest``; started from the app it refuses local files and private or
loopback addresses unless ``[iiif]`` in clipcore.toml allows them.
"""

from __future__ import annotations

import urllib.parse

import streamlit as st

from clipcore.catalog.jobs import list_jobs, start_job
from clipcore.catalog.metadata import books
from clipcore.catalog.store import Workspace
from clipcore.errors import ClipcoreError, InputError

from ui import state
from ui.text import md

MAX_SOURCES = 200


def iiif_job_arguments(ws: Workspace, text: str) -> list[str]:
    """``import-iiif`` arguments for the URLs in ``text`` (one a line, ``#`` comments ignored).

    Raises:
        InputError: no URL, too many, or a line that is not an http(s) URL.
    """
    urls = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not urls:
        raise InputError("give at least one IIIF manifest or collection URL, one a line.")
    if len(urls) > MAX_SOURCES:
        raise InputError(f"at most {MAX_SOURCES} URLs per import; got {len(urls)}. Use a collection URL instead.")
    bad = [u for u in urls if urllib.parse.urlsplit(u).scheme not in ("http", "https") or not urllib.parse.urlsplit(u).netloc]
    if bad:
        raise InputError(f"not an http(s) URL: {bad[0][:200]!r}; give manifest or collection URLs.")
    return [*urls, "--out", str(ws.root / "iiif"), "--ingest", "--quiet"]


def render_iiif_import(ws: Workspace) -> None:
    """The form; the job's progress shows in the Home page's jobs panel."""
    held = books(ws)
    title = "Add books from a digital library (IIIF)" + (f" · {len(held)} books here" if held else "")
    with st.expander(title):
        st.caption(
            "Paste IIIF manifest or collection URLs, one a line. Each page is downloaded once, "
            "politely, and each book is kept together as a group for evaluation."
        )
        with st.form("home_iiif_form", border=False):
            text = st.text_area("Manifest or collection URLs", key="home_iiif_urls", height=120)
            submitted = st.form_submit_button("Import and ingest")
        busy = any(j["kind"] in ("import-iiif", "ingest") for j in list_jobs(ws, active_only=True))
        if submitted:
            if busy:
                st.warning("An import or ingest is already running in this workspace; wait for it to finish.")
                return
            try:
                job_id = start_job(ws, "import-iiif", iiif_job_arguments(ws, text))
            except ClipcoreError as exc:
                st.error(md(str(exc)), icon="🚫")  # the message quotes what the user typed
                return
            st.session_state[state.HOME_LAST_JOB] = job_id
            st.rerun()
