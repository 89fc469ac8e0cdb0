"""The Label page's Browse view in Chromium: the sidebar's counts equal SQL counts, a chosen
value shows exactly its images, and the URL carries the filter (opened again from it)."""

from __future__ import annotations

import re

import pytest

from clipcore.catalog import labels as lbl
from tests.e2e.conftest import choose, until_it_lands
from tests.e2e.test_browser_history import _tiles
from tests.helpers import app_workspace


def _options(page, label: str) -> list[str]:
    """The options of the sidebar's multiselect ``label``, read from its open list (opened
    again if a rerun closed it, as conftest.choose does)."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(has=page.get_by_text(label, exact=True))
    options = page.get_by_role("option")
    until_it_lands(page, box.click, lambda: options.first.wait_for(timeout=5_000), undo=lambda: _close(page))
    got = sorted(t for t in options.all_inner_texts() if t != "Select all")  # Streamlit's own first option
    _close(page)
    return got


def _close(page) -> None:
    """Close an open dropdown by clicking elsewhere (after Escape the next box needs two clicks)."""
    page.locator('[data-testid="stSidebar"]').get_by_text("Filters", exact=True).click()
    page.get_by_role("option").first.wait_for(state="detached", timeout=30_000)


@pytest.mark.e2e
def test_filter_counts_equal_sql_counts_and_the_url_keeps_the_filter(streamlit_server, page, app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:5], annotator="alice", source={"kind": "text"})
    lbl.record_batch(ws, "text", ids[3:9], annotator="bob", source={"kind": "text"})  # 3, 4 relabelled by bob
    current = {
        int(r[0]): (r[1], r[2]) for r in ws.query(
            "SELECT e.image_id, e.label, e.annotator, MAX(e.id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            "WHERE e.kind = 'assign' AND b.reverted_at IS NULL GROUP BY e.image_id")
    }
    by_label = {r[0]: r[1] for r in ws.query(
        "SELECT label, COUNT(*) FROM (SELECT e.image_id, e.label, MAX(e.id) FROM label_events e JOIN label_batches b "
        "ON b.id = e.batch_id WHERE e.kind = 'assign' AND b.reverted_at IS NULL GROUP BY e.image_id) GROUP BY label")}
    gt = {r[0]: r[1] for r in ws.query("SELECT label, COUNT(*) FROM ground_truth GROUP BY label")}

    page.goto(f"{streamlit_server}/label?annotator=lead")
    page.get_by_text("Browse", exact=True).click()
    side = page.locator('[data-testid="stSidebar"]')
    side.get_by_text("Counts over the whole collection (32 images).").wait_for(timeout=90_000)
    assert _options(page, "Label") == sorted(f"{k} ({v})" for k, v in by_label.items()) == ["cover (3)", "text (6)"]
    assert _options(page, "Ground truth") == sorted(f"{k} ({v})" for k, v in gt.items())
    assert _options(page, "Annotator") == ["alice (3)", "bob (6)"]
    side.get_by_text(f"Unlabelled ({len(ids) - len(current)})").wait_for(timeout=30_000)

    all_tiles = _tiles(page)
    assert all_tiles == ids  # nothing chosen: the whole collection
    choose(page, "Label", "text (6)", kind="stMultiSelect")
    _close(page)
    shown = _tiles(page, ",".join(map(str, all_tiles)))
    assert shown == sorted(i for i, (c, _) in current.items() if c == "text")
    page.wait_for_url(re.compile(r"f_label=text"), timeout=90_000)

    assert "view=Browse" in page.url
    page.goto(page.url)  # the shared link: a new session opens the same view and filter
    page.get_by_text("6 images match").wait_for(timeout=90_000)
    assert _tiles(page) == shown

    # A colleague labels meanwhile (a relabel and a new class): the next run updates the
    # labels part from the newer events only, and the counts equal SQL counts again.
    lbl.record_batch(ws, "map", ids[8:11], annotator="alice", source={"kind": "text"})
    by_label = {r[0]: r[1] for r in ws.query(
        "SELECT label, COUNT(*) FROM (SELECT e.image_id, e.label, MAX(e.id) FROM label_events e JOIN label_batches b "
        "ON b.id = e.batch_id WHERE e.kind = 'assign' AND b.reverted_at IS NULL GROUP BY e.image_id) GROUP BY label")}
    page.goto(f"{streamlit_server}/label?annotator=lead&view=Browse")
    side.get_by_text(f"Unlabelled ({len(ids) - len(current) - 2})").wait_for(timeout=90_000)
    assert _options(page, "Label") == sorted(f"{k} ({v})" for k, v in by_label.items()) == ["cover (3)", "map (3)", "text (5)"]
    assert _options(page, "Ground truth") == sorted(f"{k} ({v})" for k, v in gt.items())
    assert _options(page, "Annotator") == ["alice (6)", "bob (5)"]
