"""The real app in Chromium: search, see result images load, page to more results."""

from __future__ import annotations

import pytest

GRID_READY = """([query, n]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return false;
  const texts = [...main.querySelectorAll('[data-testid="stText"]')].map(e => e.innerText);
  if (!texts.some(t => t.includes('Query: "' + query + '"'))) return false;
  const imgs = [...main.querySelectorAll('.cc-tile img')];
  return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


CAPTIONS = '[data-testid="stMain"] .cc-tile figcaption:first-of-type'


def search_box(page):
    return page.locator('input[aria-label="Describe what you are looking for"]')


@pytest.mark.e2e
def test_search_shows_result_images_and_pages(streamlit_server, page):
    page.goto(f"{streamlit_server}/search")
    box = search_box(page)
    box.wait_for(timeout=60_000)
    # The first request of a fresh server, straight to /search, still gets app.py's navigation.
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Zero-shot" in nav and "Home" in nav and "zero shot" not in nav
    box.fill("woodblock landscape")
    box.press("Enter")
    page.wait_for_function(GRID_READY, arg=["woodblock landscape", 24], timeout=60_000)
    first = page.eval_on_selector_all(CAPTIONS, "els => els.map(e => e.innerText)")
    assert page.get_by_text("Results 1–24 of 32, best first").is_visible()

    page.get_by_role("button", name="more results").click()
    page.get_by_text("Results 25–32 of 32, best first").wait_for(timeout=30_000)
    page.wait_for_function(GRID_READY, arg=["woodblock landscape", 8], timeout=30_000)
    second = page.eval_on_selector_all(CAPTIONS, "els => els.map(e => e.innerText)")
    names = lambda texts: {t.split(" · ", 1)[1] for t in texts if " · " in t}  # noqa: E731
    assert len(names(first)) == 24 and len(names(second)) == 8
    assert not names(first) & names(second)

    # Pick tile 1 and ask for similar images: the picked image comes back first, at cosine ~1.
    page.locator('[data-testid="stButtonGroup"] button').first.click()
    page.get_by_role("button", name="Similar").click()
    page.get_by_text("Finding images similar").wait_for(timeout=30_000)
