"""ui.core.text.md: a user string renders as the same literal text, with no link, image or HTML."""

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

        from ui.core.text import md

        st.markdown(md(value))

    at = AppTest.from_function(script, args=(text,))
    at.run()
    return at


def test_md_escapes_every_markdown_construct():
    from ui.core.text import md

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


def test_md_keeps_bare_urls_and_emails_from_becoming_links():
    from ui.core.text import md

    for text in ("see http://evil.example/x", "www.evil.example", "mail bob@evil.example", "HTTPS://x.y"):
        at = _render(text)
        assert not at.exception
        out = md(text)
        assert "http://" not in out.lower().replace("\\", "") and "www." not in out.replace("\\", "")
        assert "\u200b" in out  # invisible: the text reads the same


def test_human_time_reads_like_a_person_would_say_it():
    from datetime import datetime, timedelta, timezone

    from ui.core.text import human_time

    now = datetime(2026, 11, 27, 15, 0, tzinfo=timezone.utc)
    assert human_time((now - timedelta(seconds=20)).isoformat(), now) == "just now"
    assert human_time((now - timedelta(minutes=5)).isoformat(), now) == "5 min ago"
    assert human_time("2020-01-02T03:04:05+00:00", now).endswith("2020 " + datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc).astimezone().strftime("%H:%M"))
    assert "T" not in human_time("2020-01-02T03:04:05+00:00", now)
    assert human_time("not a time", now) == "not a time"
