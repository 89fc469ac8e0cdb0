"""The Label page's Browse view in Chromium: "Select all N matching" with a filter on asks
first (N, the class, a sample), then labels exactly those N images as one batch, and the
page's counts follow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clipcore.catalog import labels as lbl
from tests.e2e.conftest import choose, type_option, wait_until
from tests.e2e.test_browser_filters import _close
from tests.e2e.test_browser_history import _tiles
from tests.gridview import tiles_now
from tests.helpers import app_workspace


@pytest.mark.e2e
def test_select_all_matching_labels_exactly_the_filtered_images_in_one_batch(streamlit_server, page, app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    truth = {int(r[0]): r[1] for r in ws.query("SELECT image_id, label FROM ground_truth")}
    cls = max(sorted(set(truth.values())), key=lambda c: sum(1 for i, t in truth.items() if t == c and i not in ids[:3]))
    want = sorted(i for i, t in truth.items() if t == cls and i not in ids[:3])
    assert 1 < len(want) < len(ids) - 3  # the filter leaves images out on both sides
    unlabelled = len(ids) - 3

    page.goto(f"{streamlit_server}/label?annotator=lead")
    page.get_by_text("Browse", exact=True).click()
    side = page.locator('[data-testid="stSidebar"]')
    side.get_by_text(f"Unlabelled ({unlabelled})").click()  # the checkbox
    choose(page, "Ground truth", f"{cls} (", exact=False, kind="stMultiSelect")
    _close(page)
    page.get_by_text(f"{len(want)} images match").wait_for(timeout=90_000)
    # the grid stays on the page: its frame draws the filtered tiles a moment after the page settles
    wait_until(lambda: tiles_now(page) == want, f"the grid to show the {len(want)} matching images", timeout=90)

    button = page.get_by_role("button", name=f"Select all {len(want)} matching")
    assert button.is_disabled()  # no class chosen yet
    type_option(page, "Class to assign", "chosen")
    button.wait_for(timeout=60_000)
    page.wait_for_function("(b) => !b.disabled", arg=button.element_handle(), timeout=90_000)
    button.click()

    confirm = page.locator(".st-key-browse_all_confirm_box")
    confirm.get_by_text(f"to all {len(want)} images").wait_for(timeout=90_000)
    assert "chosen" in confirm.inner_text()
    # the sample (its images arrive after the text: wait for them, do not count at once)
    expect(confirm.locator("img")).to_have_count(min(6, len(want)), timeout=60_000)
    assert len(lbl.list_batches(ws)) == 1  # nothing written before the confirmation
    confirm.get_by_role("button", name=f"Label all {len(want)} as chosen").click()

    page.get_by_text("No image matches these filters.").wait_for(timeout=90_000)
    side.get_by_text(f"Unlabelled ({unlabelled - len(want)})").wait_for(timeout=90_000)  # the counts follow
    batches = lbl.list_batches(ws)
    assert len(batches) == 2 and batches[0]["class"] == "chosen" and batches[0]["size"] == len(want)
    assert batches[0]["annotator"] == "lead"
    assert sorted(i for i, c in lbl.current_labels(ws).items() if c == "chosen") == want
    assert {i: c for i, c in lbl.current_labels(ws).items() if c != "chosen"} == {i: "cover" for i in ids[:3]}


@pytest.mark.e2e
def test_a_class_chosen_after_the_grid_is_drawn_brings_the_grids_assign_and_keeps_the_selection(streamlit_server, page, app_config):
    from tests.gridview import EXCLUDED_JS, assign_button, grid_frame

    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    page.goto(f"{streamlit_server}/label?annotator=lead&view=Browse")
    assert _tiles(page) == ids
    assert grid_frame(page).get_by_role("button", name="Assign selected").count() == 0  # no class yet
    grid_frame(page).locator("figure[data-image-id]").first.click()  # exclude the first tile
    page.wait_for_function(f"() => ({EXCLUDED_JS})() === 1", polling="raf", timeout=60_000)
    type_option(page, "Class to assign", "chosen")
    assign_button(page).wait_for(timeout=90_000)  # the same grid now offers Assign
    assert page.evaluate(f"({EXCLUDED_JS})()") == 1  # and kept the selection made before
    assign_button(page).click()
    page.get_by_text("Labelled 31 as 'chosen'", exact=False).wait_for(timeout=90_000)
    assert lbl.current_labels(ws) == {i: "chosen" for i in ids[1:]}
