"""The navigation workaround: every page URL goes through app.py's st.navigation."""

from __future__ import annotations

import streamlit as st

_left_pages_folder_mode = False


def leave_pages_folder_mode() -> None:
    """Run the page through app.py's st.navigation, also on a server's very first request.

    Streamlit sees a ``pages/`` folder beside app.py and, until some run has called
    st.navigation, serves a URL such as /search the old way: the page script alone, with
    a file-name sidebar and without app.py. Leaving that mode and rerunning once per
    process makes the same URL go through app.py (its navigation, titles and layout).
    Once per process, because AppTest resets the mode on every run by design.
    """
    global _left_pages_folder_mode
    if _left_pages_folder_mode:
        return
    _left_pages_folder_mode = True
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to undo
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


_home = None


def register_home(page) -> None:
    """Remember app.py's Home page (an ``st.Page``) so other pages can link to it."""
    global _home
    _home = page


def home_link() -> None:
    """A link to Home, where ingest and embed are started."""
    if _home is not None:
        st.page_link(_home, label="Go to Home", icon=":material/home:")
