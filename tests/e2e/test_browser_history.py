"""The Label page's History and Review views in Chromium: a batch is reverted from its own
row, and a lead walks the review queue (accepts one batch, corrects a tile of another)."""

from __future__ import annotations


import pytest

from tests.e2e.conftest import choose, wait_until

from clipcore.catalog import labels as lbl
from clipcore.team import review as rv
from tests.gridview import EXCLUDED_JS, TILE_IDS_JS, grid_frame
from tests.helpers import app_workspace


def _wait(predicate, what: str, timeout: float = 90.0):
    return wait_until(predicate, what, timeout)


def _tiles(page, previous: str = "") -> list[int]:
    handle = page.wait_for_function(
        f"(prev) => {{ const ids = ({TILE_IDS_JS})(); return ids && ids !== prev ? ids : null; }}",
        arg=previous, polling="raf", timeout=90_000,
    )
    return [int(i) for i in handle.json_value().split(",")]


@pytest.mark.e2e
def test_revert_from_the_row_then_review_the_queue(streamlit_server, page, app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    keep = lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text", "query": "a cover"})
    undo = lbl.record_batch(ws, "map", ids[3:5], annotator="bob", source={"kind": "text", "query": "a map"})
    fix = lbl.record_batch(ws, "text", ids[5:9], annotator="bob", source={"kind": "text", "query": "a text page"})

    page.goto(f"{streamlit_server}/label?annotator=lead")
    page.get_by_text("History", exact=True).click()
    # Streamlit draws a button with help text twice (one copy hidden, zero width): the visible one.
    row = page.locator(f".st-key-label_revert_row-{undo} button >> visible=true")
    row.wait_for(timeout=90_000)
    assert page.locator('[class*="st-key-label_revert_row-"] button >> visible=true').count() == 3  # one a row (the lead is admin)
    row.click()
    _wait(lambda: lbl.list_batches(ws)[1]["reverted_by"] == "lead", "the row's revert")
    page.locator(f".st-key-label_revert_row-{undo}").wait_for(state="detached", timeout=90_000)
    assert not any(b["reverted_at"] for b in lbl.list_batches(ws) if b["batch_id"] != undo)  # only that row

    page.get_by_text("Review", exact=True).click()
    assert _tiles(page) == ids[5:9]  # newest waiting batch first (the reverted one is not queued)
    grid_frame(page).get_by_role("button", name="Apply review").click()  # every tile still marked right: accept
    _wait(lambda: rv.reviews(ws).get(fix), "the acceptance")
    assert _tiles(page, ",".join(map(str, ids[5:9]))) == ids[:3]
    grid_frame(page).locator("figure[data-image-id]").nth(1).click()  # mark alice's second tile wrong
    page.wait_for_function(f"() => ({EXCLUDED_JS})() === 1", timeout=90_000)
    choose(page, "Right class for the tiles marked wrong", "illustration")
    grid_frame(page).get_by_role("button", name="Apply review").click()
    got = _wait(lambda: rv.reviews(ws).get(keep), "the correction")
    assert got["verdict"] == "corrected" and lbl.current_labels(ws)[ids[1]] == "illustration"
    assert lbl.current_labels(ws)[ids[0]] == "cover"
    page.get_by_text("Nothing waiting for review").wait_for(timeout=90_000)
