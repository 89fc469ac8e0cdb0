"""The real app in Chromium: search, see result images load, page to more results."""

from __future__ import annotations

import pytest

from tests.gridview import GRID_FIGURES_JS, TILE_IDS_JS, grid_frame

GRID_READY = """([query, n]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return false;
  const texts = [...main.querySelectorAll('[data-testid="stText"]')].map(e => e.innerText);
  if (!texts.some(t => t.includes('Query: "' + query + '"'))) return false;
  const ids = (%s)();
  return ids !== null && ids.split(',').length === n;
}""" % TILE_IDS_JS

# The first caption line of every tile (score · file name), in grid order.
CAPTIONS = """() => (%s).map(f => f.querySelector('figcaption').innerText)""" % GRID_FIGURES_JS


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
    first = page.evaluate(CAPTIONS)
    assert page.get_by_text("Results 1–24 of 32, best first").is_visible()

    page.get_by_role("button", name="more results").click()
    page.get_by_text("Results 25–32 of 32, best first").wait_for(timeout=30_000)
    page.wait_for_function(GRID_READY, arg=["woodblock landscape", 8], timeout=30_000)
    second = page.evaluate(CAPTIONS)
    names = lambda texts: {t.split(" · ", 1)[1] for t in texts if " · " in t}  # noqa: E731
    assert len(names(first)) == 24 and len(names(second)) == 8
    assert not names(first) & names(second)

    # A tile click opens that tile's view (a dialog) once.
    tiles = grid_frame(page).locator("figure[data-image-id]")
    name = second[0].split(" · ", 1)[1]
    tiles.first.click()
    dialog = page.locator('[role="dialog"]')
    dialog.get_by_text("path: ").first.wait_for(timeout=30_000)
    assert name in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached", timeout=30_000)

    # A new query: new results, nothing picked carries over (no dialog comes back).
    box.fill("printed text")
    box.press("Enter")
    page.wait_for_function(GRID_READY, arg=["printed text", 24], timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator('[role="dialog"]').count() == 0

    # A tile's "similar" button asks for similar images: the query becomes that image.
    tiles.nth(2).locator("button.cc-act").click()
    page.get_by_text("Finding images similar").wait_for(timeout=30_000)
