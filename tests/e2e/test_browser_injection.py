"""Stored markdown injection: class names, prompt-set names, annotator names and typed
batch ids that hold markdown links and images render as text in Chromium, and no request
leaves for their URLs (every request is routed and recorded)."""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from clipcore.catalog import labels as lbl
from clipcore.classify.prompts import save_prompt_set
from tests.gridview import assign_button
from tests.helpers import app_workspace

EVIL_CLASS = "![c](http://evil.test/class.png) [see](http://evil.test/class)"
EVIL_NAME = "![a](http://evil.test/annotator.png)[me](http://evil.test/a)"
EVIL_SET = "![s](http://evil.test/set.png) [set](http://evil.test/set)"
EVIL_BATCH = "![b](http://evil.test/batch.png) [id](http://evil.test/batch)"
LINKS = 'a[href*="evil.test"], img[src*="evil.test"]'


def _text(page, selector: str) -> str:
    """Visible text, without the zero-width spaces ui.core.text.md puts before "://" and "@"."""
    return page.locator(selector).first.inner_text().replace("\u200b", "")


def _settled(page) -> None:
    page.wait_for_function(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m && !m.querySelector('[data-stale=\"true\"]') && document.querySelector('[data-testid=\"stStatusWidget\"]') === null; }",
        timeout=60_000,
    )


@pytest.mark.e2e
def test_user_strings_with_markdown_render_as_text_and_fetch_nothing(streamlit_server, browser, app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, EVIL_CLASS, ids[:2], annotator=EVIL_NAME, source={"kind": "cli"})
    lbl.record_batch(ws, "cover", ids[:1], annotator="bob", source={"kind": "cli"})  # a conflict naming both
    save_prompt_set(ws, EVIL_SET, {EVIL_CLASS: ["a page"], "cover": ["a book cover"]})

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    leaked: list[str] = []

    def refuse(route):
        leaked.append(route.request.url)
        route.abort()

    def to_evil(url: str) -> bool:
        return (urlparse(url).hostname or "").endswith("evil.test")

    context.route(to_evil, refuse)
    context.on("request", lambda r: leaked.append(r.url) if to_evil(r.url) else None)
    page = context.new_page()
    try:
        # Label: the annotator name from the URL (mode none), the class, the assign toast.
        page.goto(f"{streamlit_server}/label?annotator={quote(EVIL_NAME)}")
        assign_button(page).wait_for(timeout=60_000)
        _settled(page)
        sidebar = _text(page, '[data-testid="stSidebar"]')
        assert "http://evil.test/annotator.png" in sidebar  # shown as the literal text it is
        assert "Class to assign: " + EVIL_CLASS in page.locator('[data-testid="stMain"]').inner_text()
        assign_button(page).click()
        # The toast goes by itself after a few seconds: its text is read in the same poll that
        # finds it (read again after the wait, it may be gone on a slow machine).
        toast = page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stToast"]')].map(t => t.innerText)
                       .find(t => /Labelled \\d+ as/.test(t)) || null""",
            timeout=60_000,
        ).json_value().replace("\u200b", "")
        assert "http://evil.test/class" in toast
        assert page.locator(LINKS).count() == 0

        # History: a typed batch id comes back in an error message.
        page.get_by_text("History", exact=True).click()
        box = page.get_by_role("textbox", name="Batch id to revert")
        box.fill(EVIL_BATCH)
        box.press("Enter")
        page.get_by_role("button", name="Revert batch").click()
        page.get_by_text("evil.test/batch.png", exact=False).first.wait_for(timeout=60_000)
        assert page.locator(LINKS).count() == 0

        # Conflicts: the class names in the grid notes and the resolve controls.
        page.get_by_text("Conflicts", exact=True).click()
        page.get_by_role("button", name="Resolve all").wait_for(timeout=60_000)
        _settled(page)
        assert page.locator(LINKS).count() == 0

        # Zero-shot: the prompt-set name in the editor's caption and the set picker.
        page.goto(f"{streamlit_server}/zero_shot")
        page.get_by_text("Editing", exact=False).first.wait_for(timeout=60_000)
        _settled(page)
        assert "http://evil.test/set" in _text(page, '[data-testid="stMain"]')
        assert page.locator(LINKS).count() == 0
    finally:
        context.close()
    assert leaked == []
