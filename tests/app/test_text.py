"""ui.text.md: a user string renders as the same literal text, with no link, image or HTML."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

HOSTILE = [
    "[click](http://evil.example/x)",
    "![img](http://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ `code` $x^2$ :red[red] :material/home:",
    "a\n# heading\n- item",
]


def _render(text: str) -> AppTest:
    def script(value: str) -> None:
        import streamlit as st

        from ui.text import md

        st.markdown(md(value))

    at = AppTest.from_function(script, args=(text,))
    at.run()
    return at


def test_md_escapes_every_markdown_construct():
    from ui.text import md

    for text in HOSTILE:
        out = md(text)
        assert "](" not in out.replace("\\]\\(", "")
        assert "<img" not in out
        assert "\n" not in out


def test_md_renders_in_a_page_without_error():
    for text in HOSTILE:
        at = _render(text)
        assert not at.exception
        assert at.markdown[0].value.count("\\[") == text.count("[")
