"""The real app in Chromium with imported IIIF books: filter a search to one book, see its
pages and its attribution under them, with the remote title's markup shown as text."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import choose
from tests.gridview import TILE_IDS_JS
from tests.helpers import app_workspace
from tests.sources.iiif_server import add_books

TILES_READY = """(n) => { const ids = (%s)(); return ids !== null && ids.split(',').length === n; }""" % TILE_IDS_JS


@pytest.fixture
def books(app_config, tmp_path, tiny_model):
    ws = app_workspace(app_config)
    meta = add_books(ws, tmp_path / "books", tiny_model)
    ws.close()
    return meta


@pytest.mark.e2e
def test_search_one_book_shows_its_pages_and_credit(books, streamlit_server, page):
    page.goto(f"{streamlit_server}/search")
    page.locator('input[aria-label="Describe what you are looking for"]').wait_for(timeout=60_000)
    choose(page, "Book", "Ehon <i>yamato</i> hiji (4 pages)")
    box = page.locator('input[aria-label="Describe what you are looking for"]')
    box.fill("a page with a picture")
    box.press("Enter")
    page.wait_for_function(TILES_READY, arg=4, timeout=60_000)
    credit = page.locator(".cc-credit")
    credit.wait_for(timeout=30_000)
    text = credit.inner_text()
    assert "Ehon <i>yamato</i> hiji: Provided by Example Library" in text  # markup shown as text
    assert credit.locator("i").count() == 0 and credit.locator("a").count() == 0
