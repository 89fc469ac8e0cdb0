"""The Label page's grid in Chromium: its first row on the first screen at 1440x900,
selection in the browser (shift-click ranges, keys) with one Assign that stores exactly
the selection, and the lightbox's keys on a selectable grid."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import choose
from tests.gridview import EXCLUDED_JS, GRID_FIGURES_JS, LIGHTBOX, TILE_IDS_JS, assign_button, grid_frame
from tests.helpers import app_workspace

from clipcore.catalog import labels as lbl


def _tiles(page, previous: str = "") -> list[int]:
    handle = page.wait_for_function(
        f"(prev) => {{ const ids = ({TILE_IDS_JS})(); return ids && ids !== prev ? ids : null; }}",
        arg=previous, polling="raf", timeout=90_000,
    )
    return [int(i) for i in handle.json_value().split(",")]


def _excluded_ids(page) -> list[int]:
    return page.evaluate(
        "() => (%s).filter(f => f.classList.contains('cc-off')).map(f => Number(f.getAttribute('data-image-id')))" % GRID_FIGURES_JS
    )


@pytest.mark.e2e
def test_label_first_screen_shows_the_first_row_of_tiles(streamlit_server, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{streamlit_server}/label?annotator=ada")
        _tiles(page)
        page.get_by_text("untrained model").first.wait_for(timeout=60_000)  # the banner is there too
        assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
        frame = page.locator('[data-testid="stMain"] iframe[title*="clipcore_grid"]').first
        top = frame.bounding_box()["y"]
        first = grid_frame(page).locator("figure[data-image-id]").first.bounding_box()
        assert first["y"] + first["height"] < 900, (top, first)  # the whole first tile, without scrolling
    finally:
        context.close()


@pytest.mark.e2e
def test_shift_click_ranges_keys_and_one_assign_store_exactly_the_selection(streamlit_server, browser, app_config):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{streamlit_server}/label?annotator=ada")
        first = _tiles(page)
        choose(page, "Per page", "12")
        shown = _tiles(page, ",".join(map(str, first)))
        assert len(shown) == 12
        tiles = grid_frame(page).locator("figure[data-image-id]")

        # Click tile 2 off, shift-click tile 5: tiles 2-5 are off (the range takes tile 2's state).
        tiles.nth(1).click()
        tiles.nth(4).click(modifiers=["Shift"])
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 4", timeout=30_000)
        assert _excluded_ids(page) == shown[1:5]
        grid_frame(page).get_by_text("8 of 12 selected").wait_for(timeout=30_000)
        # A plain click puts tile 4 back.
        tiles.nth(3).click()
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 3", timeout=30_000)

        # S selects all and D none, with the focus in the grid; then the arrows and Space.
        tiles.nth(0).focus()
        page.keyboard.press("d")
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 12", timeout=30_000)
        page.keyboard.press("s")
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 0", timeout=30_000)
        page.keyboard.press("ArrowRight")
        page.keyboard.press(" ")  # tile 2 off
        page.keyboard.press("ArrowDown")  # tile 8 (6 columns)
        page.keyboard.press(" ")
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 2", timeout=30_000)
        assert _excluded_ids(page) == [shown[1], shown[7]]

        # The lightbox on this grid: Enter opens it, → moves on, Space excludes that image,
        # Esc closes, and the tile shows it.
        tiles.nth(2).focus()
        page.keyboard.press("Enter")
        box = page.locator(LIGHTBOX)
        box.wait_for(timeout=30_000)
        assert box.get_attribute("data-image-id") == str(shown[2])
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => document.querySelector('{LIGHTBOX}')?.dataset.imageId === '{shown[3]}'", timeout=30_000)
        page.keyboard.press(" ")
        page.wait_for_function(f"() => document.querySelector('{LIGHTBOX} [data-cc-state]')?.dataset.ccState === 'off'", timeout=30_000)
        page.keyboard.press("Escape")
        box.wait_for(state="detached", timeout=30_000)
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 3", timeout=30_000)
        kept = [i for i in shown if i not in (shown[1], shown[3], shown[7])]

        # A on the page (focus outside the grid) assigns: one value, the store gets exactly it.
        page.locator('[data-testid="stMain"] h1').first.click()
        page.keyboard.press("a")
        ws = app_workspace(app_config)
        deadline = time.monotonic() + 90
        while not lbl.list_batches(ws) and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting for the assign to land, not timing it
        (batch,) = lbl.list_batches(ws)
        current = lbl.current_labels(ws)
        assert sorted(current) == sorted(kept) and batch["annotator"] == "ada"
        cls = current[kept[0]]
        assert lbl.rejected_for(ws, cls) == {shown[1], shown[3], shown[7]}
        after = _tiles(page, ",".join(map(str, shown)))
        assert not set(after) & set(shown)  # the next page, all selected again
        page.wait_for_function(f"() => ({EXCLUDED_JS})() === 0", timeout=30_000)
        assert assign_button(page).is_visible()
    finally:
        context.close()
