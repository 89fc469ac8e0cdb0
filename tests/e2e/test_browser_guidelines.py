"""A class's guideline with its example images on the Label page in Chromium: the
thumbnails the lead picked are drawn beside the text (loaded images, no error box)."""

from __future__ import annotations

import pytest

from clipcore.team.guidelines import save_guideline, save_guideline_examples
from tests.e2e.conftest import IDLE, wait_until
from tests.helpers import app_workspace


@pytest.mark.e2e
def test_the_annotator_sees_the_example_thumbnails_beside_the_guideline(streamlit_server, page, app_config, tmp_path):
    ws = app_workspace(app_config)
    truth = ws.ground_truth()
    for label in set(truth.values()):  # whichever class the page starts with has a guideline
        save_guideline(ws, label, f"What a {label} page looks like.")
        save_guideline_examples(ws, label, sorted(i for i in truth if truth[i] == label)[:3])
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{streamlit_server}/label?annotator=alice")
    page.get_by_text("Guideline for", exact=False).first.wait_for(timeout=90_000)
    images = page.locator('[data-testid="stImage"] img')
    loaded = wait_until(
        lambda: images.count() == 3 and images.evaluate_all("els => els.every(e => e.complete && e.naturalWidth > 0)"),
        "the three example thumbnails to load", timeout=90,
    )
    assert loaded
    boxes = [images.nth(i).bounding_box() for i in range(3)]
    assert all(b and b["width"] <= 80 for b in boxes)  # small thumbnails, not the images at full size
    assert page.get_by_text("Component Error").count() == 0 and page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "label-guideline.png"))


@pytest.mark.e2e
def test_a_long_guideline_leaves_the_grid_on_the_first_screen(streamlit_server, page, app_config):
    """A guideline may hold 2,000 characters: shown whole, it pushed the grid a screen down
    (its first tile began at y = 1,755 px at 1440x900). The Label view shows its opening and
    folds the whole text into an expander."""
    from tests.gridview import TILE_IDS_JS, grid_frame

    ws = app_workspace(app_config)
    truth = ws.ground_truth()
    sentence = "Count a page blank unless a printed mark is on this side, whatever shows through from the back. "
    text = (sentence * 25)[:1_990].strip()
    for label in set(truth.values()):  # whichever class the page starts with
        save_guideline(ws, label, text)
        save_guideline_examples(ws, label, sorted(i for i in truth if truth[i] == label)[:3])
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{streamlit_server}/label?annotator=alice")
    page.get_by_text("Guideline for", exact=False).first.wait_for(timeout=90_000)
    page.wait_for_function(TILE_IDS_JS, timeout=90_000)
    page.wait_for_function(IDLE, timeout=90_000)
    first = grid_frame(page).locator("figure[data-image-id]").first.bounding_box()
    assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
    assert first["y"] + 80 < 900, first  # the first row of tiles begins on the first screen
    shown = page.locator('[data-testid="stAlert"]').filter(has_text="Guideline for").first.inner_text()
    assert text not in shown and "Count a page blank" in shown
    page.get_by_text("The whole guideline").first.click()
    page.get_by_text(text[-60:].strip(), exact=False).first.wait_for(timeout=30_000)  # all of it, one click away
