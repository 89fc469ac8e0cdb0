"""Two annotators label the demo workspace at the same time in two browsers: nothing is
lost, each batch carries its annotator, and each sees the other's progress."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import choose, wait_until
from tests.gridview import EXCLUDED_JS, TILE_IDS_JS, grid_frame, assign_button
from tests.helpers import app_workspace

from clipcore.catalog import labels as lbl


def _tiles(page, previous: str = "") -> list[int]:
    handle = page.wait_for_function(
        f"(prev) => {{ const ids = ({TILE_IDS_JS})(); return ids && ids !== prev ? ids : null; }}",
        arg=previous, polling="raf", timeout=60_000,
    )
    return [int(i) for i in handle.json_value().split(",")]


def _open(browser, url: str, name: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/label?annotator={name}")
    return context, page


@pytest.mark.e2e
def test_two_annotators_label_at_once_and_nothing_is_lost(streamlit_server, browser, app_config):
    # Claim mode on for both, so that they never get the same page.
    sessions = [_open(browser, streamlit_server, name) for name in ("alice", "bob")]
    try:
        ws = app_workspace(app_config)
        pages = {}
        for name, other, (_, page) in zip(("alice", "bob"), ("bob", "alice"), sessions):
            first = _tiles(page)
            choose(page, "Per page", "12")
            shown = _tiles(page, ",".join(map(str, first)))
            page.get_by_text("Options: learn as you go").click()  # the rarely changed options fold away
            page.get_by_text("Claim pages", exact=True).click()
            # The toggle's outcome: twelve images held for this annotator, and the page shows them.
            claimed = wait_until(lambda: c if len(c := lbl.claimed_by_others(ws, other)) == 12 else None, f"{name}'s claims")
            pages[name] = wait_until(lambda: t if set(t := _tiles(page, "")) == claimed else None, f"{name}'s claimed page")
            assert len(shown) == 12
        assert not set(pages["alice"]) & set(pages["bob"])

        # Both assign at (nearly) the same moment; alice first clicks her tiles 1 and 2 to
        # exclude them, and tile 2 again to take it back: only tile 1 stays excluded.
        _, alice = sessions[0]
        _, bob = sessions[1]
        tiles = grid_frame(alice).locator("figure[data-image-id]")
        tiles.nth(0).click()
        alice.wait_for_function(f"() => ({EXCLUDED_JS})() === 1", timeout=30_000)
        tiles.nth(1).click()
        alice.wait_for_function(f"() => ({EXCLUDED_JS})() === 2", timeout=30_000)
        assert tiles.nth(1).locator(".cc-mark").inner_text() == "excluded"  # a visible mark, not only a colour
        tiles.nth(1).focus()
        tiles.nth(1).press(" ")  # the keyboard toggles too
        alice.wait_for_function(f"() => ({EXCLUDED_JS})() === 1", timeout=30_000)
        grid_frame(alice).get_by_text("11 of 12 selected").wait_for(timeout=30_000)
        assign_button(alice).click()
        assign_button(bob).click()
        deadline = time.monotonic() + 60
        while len(lbl.list_batches(ws)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting for both clicks to land, not timing them
        current = lbl.current_labels(ws)
        batches = {b["annotator"]: b for b in lbl.list_batches(ws)}
        assert set(batches) == {"alice", "bob"}
        assert len(current) == len(pages["alice"]) - 1 + len(pages["bob"])
        assert set(pages["alice"][1:]) | set(pages["bob"]) == set(current)

        # Each sees the other's work: the progress view counts two annotators.
        alice.reload()
        shown = _tiles(alice)
        # The page's shortcuts work with the focus inside the grid: D is "Deselect all".
        grid_frame(alice).locator("figure[data-image-id]").first.focus()
        alice.keyboard.press("d")
        alice.wait_for_function(f"() => ({EXCLUDED_JS})() === {len(shown)}", timeout=30_000)
        alice.get_by_text("2 annotators").first.click()  # the progress line, unfolded
        metric = alice.locator('[data-testid="stMetric"]').filter(has_text="Annotators")
        assert metric.locator('[data-testid="stMetricValue"]').inner_text().strip() == "2"
    finally:
        for context, _ in sessions:
            context.close()
