"""The real app in Chromium: search, see result images load, page to more results."""

from __future__ import annotations

import pytest

from tests.gridview import GRID_FIGURES_JS, LIGHTBOX, TILE_IDS_JS, grid_frame

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

    # Ranks continue across pages: the second page starts at 25.
    ranks = page.evaluate("() => (%s).map(f => f.querySelector('.cc-rank').innerText)" % GRID_FIGURES_JS)
    assert ranks[0] == "25" and ranks[-1] == "32"

    # A tile click opens the lightbox over the app: that image, its lines, its bounded preview.
    tiles = grid_frame(page).locator("figure[data-image-id]")
    ids = page.evaluate("() => (%s).map(f => f.getAttribute('data-image-id'))" % GRID_FIGURES_JS)
    name = second[0].split(" · ", 1)[1]
    tiles.first.click()
    box_ = page.locator(LIGHTBOX)
    box_.wait_for(timeout=30_000)
    assert box_.get_attribute("data-image-id") == ids[0] and name in box_.inner_text()
    page.wait_for_function(  # the thumbnail at once, then the bounded preview (one rerun)
        "() => { const i = document.querySelector('[data-cc-lightbox] img'); return i && i.dataset.preview === 'yes' && i.complete; }",
        timeout=60_000,
    )
    fitted = box_.locator("img").bounding_box()
    assert fitted["height"] <= 1000 and fitted["y"] >= 0  # fitted to the screen (1400x1000 here)
    # → shows the next image in the result order, ← goes back, Esc closes.
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => document.querySelector('{LIGHTBOX}')?.dataset.imageId === '{ids[1]}'", timeout=30_000)
    assert "2 / 8" in box_.inner_text()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"() => document.querySelector('{LIGHTBOX}')?.dataset.imageId === '{ids[0]}'", timeout=30_000)
    page.keyboard.press("Escape")
    box_.wait_for(state="detached", timeout=30_000)

    # A new query: new results, nothing picked carries over (no lightbox comes back).
    box.fill("printed text")
    box.press("Enter")
    page.wait_for_function(GRID_READY, arg=["printed text", 24], timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.locator(LIGHTBOX).count() == 0

    # "More like this" in the lightbox reruns the search with that image as the query.
    target = page.evaluate("() => (%s)[3].getAttribute('data-image-id')" % GRID_FIGURES_JS)
    tiles.nth(3).click()
    box_.wait_for(timeout=30_000)
    box_.get_by_role("button", name="more like this").click()
    page.get_by_text("More like this: ").wait_for(timeout=60_000)
    page.wait_for_function(
        f"() => {{ const figs = ({GRID_FIGURES_JS}); return figs && figs[0].getAttribute('data-image-id') === '{target}'; }}",
        timeout=60_000,
    )
    assert page.locator(LIGHTBOX).count() == 0

    # A tile's own "more like this" button does the same.
    other = page.evaluate("() => (%s)[2].getAttribute('data-image-id')" % GRID_FIGURES_JS)
    tiles.nth(2).locator("button.cc-act").click()
    page.wait_for_function(
        f"() => {{ const figs = ({GRID_FIGURES_JS}); return figs && figs[0].getAttribute('data-image-id') === '{other}'; }}",
        timeout=60_000,
    )
