"""One way to put a user's string into anything Streamlit renders as markdown.

Class names, prompt-set names, annotator names, batch ids, paths and remote metadata can
hold markdown (``[link](http://...)``, ``![img](http://...)``), HTML or LaTeX. Every
markdown-rendering call (st.markdown, st.caption, st.warning/info/error/success, st.toast,
widget labels and help) gets user strings through :func:`md` first.
"""

from __future__ import annotations

import html
import re

# Markdown, Streamlit's extensions (:colour[...], :material/icon:, $latex$) and HTML.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$>])")


def md(text: object) -> str:
    """``text`` as literal text inside markdown: every markdown character backslash-escaped,
    ``<``/``&`` as entities, newlines folded to spaces (a string cannot open a block)."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = html.escape(s, quote=False)
    return _SPECIAL.sub(r"\\\1", s)


def code(text: object) -> str:
    """``text`` as inline code: backticks removed so it cannot close the span early."""
    s = str(text).replace("\r", " ").replace("\n", " ").replace("`", "'")
    return f"`{s}`" if s else "``"
