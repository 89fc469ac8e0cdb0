"""clipcore dashboard: ``streamlit run app.py``.

Page set-up, navigation and the Home page (workspace status). Pages live in pages/;
everything they share lives in ui/ and clipcore/.
"""

from pathlib import Path

import streamlit as st

from ui.context import select_workspace
from ui.home import render_home
from ui.navigation import register_home

st.set_page_config(page_title="clipcore: CLIP image collections", page_icon="🖼️", layout="wide")

PAGES = [
    ("pages/search.py", "Search", "search", ":material/search:"),
    ("pages/zero_shot.py", "Zero-shot", "zero_shot", ":material/auto_awesome:"),
    ("pages/few_shot.py", "Few-shot", "few_shot", ":material/model_training:"),
    ("pages/label.py", "Label", "label", ":material/label:"),
    ("pages/evaluate.py", "Evaluate", "evaluate", ":material/analytics:"),
    ("pages/present.py", "Present", "present", ":material/slideshow:"),
]
_here = Path(__file__).parent

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
navigation.run()
