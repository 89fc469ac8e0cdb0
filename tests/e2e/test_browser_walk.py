"""The real app in Chromium: open every page from the sidebar, click every tab, and fail on
any error element ("Component Error", an exception box) or a console error."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import IDLE
from tests.gridview import assign_button

ERRORS = """() => {
  const out = [];
  for (const e of document.querySelectorAll('[data-testid="stException"]')) out.push('exception: ' + e.innerText.slice(0, 300));
  const text = document.body.innerText;
  if (text.includes('Component Error')) out.push('Component Error: ' + text.slice(text.indexOf('Component Error'), text.indexOf('Component Error') + 300));
  for (const f of document.querySelectorAll('iframe')) {
    try {
      const t = f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : '';
      if (t.includes('Component Error') || t.includes('Minified React error')) out.push('in a component: ' + t.slice(0, 300));
    } catch (e) { /* cross-origin frame: its console errors are still caught */ }
  }
  return out;
}"""

# sidebar link -> the page's title
PAGES = {
    "Search": "Search",
    "Zero-shot": "Zero-shot classification",
    "Few-shot": "Few-shot",
    "Label": "Label",
    "Evaluate": "Evaluate",
    "Present": "what CLIP does with this collection",
    "Home": "demo",  # the collection's name (app_config's workspace)
}
TABBED = {"Zero-shot"}


def _settle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE, timeout=90_000)
    page.wait_for_timeout(700)  # components (grids, charts) mount after the script run ends
    page.wait_for_function(IDLE, timeout=90_000)


@pytest.mark.e2e
def test_every_page_and_tab_opens_without_an_error(streamlit_server, page):
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.goto(streamlit_server)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=90_000)
    _settle(page)
    visited = []
    for title, heading in PAGES.items():
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        page.locator('[data-testid="stMain"] h1', has_text=heading).first.wait_for(timeout=90_000)
        _settle(page)
        if title == "Label":
            name = page.locator('[data-testid="stSidebar"] input[aria-label="Your name"]')
            name.fill("Ada")
            name.press("Enter")
            assign_button(page).wait_for(timeout=90_000)
            _settle(page)
        found = page.evaluate(ERRORS)
        assert not found, (title, found)
        tabs = page.locator('[data-testid="stMain"] [data-testid="stTab"]')
        if title in TABBED:
            tabs.first.wait_for(timeout=90_000)
        names = [tabs.nth(i).inner_text() for i in range(tabs.count())]
        for i, name in enumerate(names):
            tabs.nth(i).click()
            _settle(page)
            found = page.evaluate(ERRORS)
            assert not found, (title, name, found)
        views = page.locator('[data-testid="stMain"] [data-testid="stRadio"]').first.locator('[role="radiogroup"] label')
        for i in range(views.count() if title == "Label" else 0):  # the Label page's views
            views.nth(i).click()
            _settle(page)
            found = page.evaluate(ERRORS)
            assert not found, (title, views.nth(i).inner_text(), found)
        visited.append((title, names))
        assert not console, (title, console)
    assert len(visited) == len(PAGES)
    zero_shot_tabs = dict(visited)["Zero-shot"]
    assert "Predictions" in zero_shot_tabs
