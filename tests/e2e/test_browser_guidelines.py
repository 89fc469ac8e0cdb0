"""A class's guideline with its example images on the Label page in Chromium: the
thumbnails the lead picked are drawn beside the text (loaded images, no error box)."""

from __future__ import annotations

import pytest

from clipcore.team.guidelines import save_guideline, save_guideline_examples
from tests.e2e.conftest import wait_until
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
