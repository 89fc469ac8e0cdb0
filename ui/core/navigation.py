"""Links between pages: app.py registers its Home page here so any page can link to it."""

from __future__ import annotations

import streamlit as st

_home = None


def register_home(page) -> None:
    """Remember app.py's Home page (an ``st.Page``) so other pages can link to it."""
    global _home
    _home = page


def home_link() -> None:
    """A link to Home, where ingest and embed are started."""
    if _home is not None:
        st.page_link(_home, label="Go to Home", icon=":material/home:")
