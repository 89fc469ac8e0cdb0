"""clipcore dashboard: ``streamlit run app.py``.

Page set-up, navigation and the Home page (workspace status). Page scripts live in
app_pages/ (registered here with st.Page(path): not a folder named pages/, so Streamlit's
own pages-folder mode never starts); their sections in ui/<page>/, what they share in
ui/core/ and ui/widgets/, the work in clipcore/.
"""

import logging
import uuid
from pathlib import Path

import streamlit as st

from clipcore.errors import ClipcoreError
from ui.core import auth
from ui.core.context import select_workspace
from ui.core.first_launch import run_first_launch_chores
from ui.home.summary import render_home
from ui.core.navigation import register_home
from ui.core.text import md

logger = logging.getLogger("clipcore.app")

st.set_page_config(page_title="clipcore: CLIP image collections", page_icon="🖼️", layout="wide")

# Sign-in first: a visitor who is not signed in gets the sign-in page and nothing else;
# mode "none" on a non-loopback address serves nobody (docs/SECURITY.md).
try:
    _auth = auth.auth_settings()
except ClipcoreError as exc:
    st.error(md(exc), icon="🚫")
    st.stop()
_refusal = auth.startup_refusal(_auth)
if _refusal:
    logger.error("refusing to serve: %s", _refusal)
    st.error(md(_refusal), icon="🚫")
    st.stop()

PAGES = [
    ("app_pages/search.py", "Search", "search", ":material/search:"),
    ("app_pages/zero_shot.py", "Zero-shot", "zero_shot", ":material/auto_awesome:"),
    ("app_pages/few_shot.py", "Few-shot", "few_shot", ":material/model_training:"),
    ("app_pages/label.py", "Label", "label", ":material/label:"),
    ("app_pages/evaluate.py", "Evaluate", "evaluate", ":material/analytics:"),
    ("app_pages/present.py", "Present", "present", ":material/slideshow:"),
]
_here = Path(__file__).parent

if auth.current_user(_auth) is None:
    # Every page's URL leads to the sign-in page (no "page not found"), and no menu.
    def _sign_in() -> None:
        auth.sign_in_page(_auth)

    st.navigation(
        [st.Page(_sign_in, title="Sign in", url_path="sign-in", default=True)]
        + [st.Page(_sign_in, title="Sign in", url_path=url) for _, _, url, _ in PAGES],
        position="hidden",
    ).run()
    st.stop()

home = st.Page(render_home, title="Home", icon=":material/home:", default=True)
register_home(home)
navigation = st.navigation(
    [home]
    + [
        st.Page(path, title=title, url_path=url, icon=icon)
        for path, title, url, icon in PAGES
        if (_here / path).exists()
    ]
)
select_workspace()  # sidebar on every page: the active collection (?ws=NAME) and its model
run_first_launch_chores()  # the demo build, a new collection's first embed: here once, not in each page
try:
    navigation.run()
except Exception:
    # client.showErrorDetails = "none": the browser gets a short id, the log the traceback.
    error_id = uuid.uuid4().hex[:8]
    logger.exception("unexpected error %s", error_id)
    st.error(f"Something went wrong (error id {error_id}). The details are in the server log.", icon="🚫")
    raise
