"""Zero-shot's "Compare versions" in Chromium: the prompt diff per class as text, and the
flipped images as a grid equal to predictions made outside the app, filtered to "fixed"."""

from __future__ import annotations

import pytest

from clipcore.classify.prompts import load_prompt_set, save_prompt_set
from clipcore.classify.zeroshot import build_classifier, classify_matrix
from clipcore.embedding.models import load_model
from tests.e2e.conftest import choose, open_tab, wait_until
from tests.e2e.test_browser_walk import ERRORS
from tests.gridview import tiles_now
from tests.helpers import app_workspace

V1 = {"cover": ["book cover"], "text": ["printed text"], "blank page": ["an empty page"]}
V2 = {"cover": ["book binding", "book cover"], "text": ["cursive Japanese ideograms"], "illustration": ["a woodblock print"]}


@pytest.mark.e2e
def test_prompt_diff_and_flipped_images(streamlit_server, page, app_config):
    ws = app_workspace(app_config)
    save_prompt_set(ws, "mine", V1)
    save_prompt_set(ws, "mine", V2)
    model = load_model("tiny", precision="fp32", device="cpu")
    matrix = ws.load_embeddings(model.info.key)
    pa = dict(zip(matrix.ids.tolist(), classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 1)), matrix).predicted))
    pb = dict(zip(matrix.ids.tolist(), classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 2)), matrix).predicted))
    truth = ws.ground_truth()
    flipped = {i for i in pa if pa[i] != pb[i]}
    fixed = {i for i in flipped if truth.get(i) == pb[i]}
    assert flipped

    page.goto(f"{streamlit_server}/zero_shot")
    open_tab(page, "Compare versions")
    choose(page, "A", "mine · version 1")
    choose(page, "B", "mine · version 2")
    table = page.locator('[data-testid="stTable"]')
    table.get_by_text("cursive Japanese ideograms").wait_for(timeout=90_000)
    row = table.locator("tr", has_text="cover")
    assert "book binding" in row.inner_text() and "changed" in row.inner_text()
    assert "only in B" in table.locator("tr", has_text="illustration").inner_text()

    # The flipped images (the grid may be the one drawn for the versions before: its frame
    # draws the new tiles a moment after the page settles, so wait for them, do not read once).
    wait_until(lambda: set(tiles_now(page)) == flipped, f"the grid to show the {len(flipped)} flipped images", timeout=90)
    page.get_by_text("Fixed by B", exact=False).click()
    if fixed:
        # The click's outcome, the grid showing the fixed images: read on the page as it is
        # drawn, not compared with a "before" read after the click (a fast rerun had drawn
        # the fixed images already, and a grid whose images did not change never differs).
        wait_until(lambda: set(tiles_now(page)) == fixed, f"the grid to show the {len(fixed)} images fixed by B", timeout=90)
    else:
        page.get_by_text("No image of this kind").wait_for(timeout=90_000)


@pytest.mark.e2e
def test_load_into_editor_on_a_large_collection(app_config, request, page, monkeypatch):
    """Issue 18: on a collection above the in-page limit the crawl found "Load into editor"
    changing nothing (the editor held that version already). In Chromium: a press always
    says what the editor holds, and another version's rows replace the editor's."""
    ws = app_workspace(app_config)
    save_prompt_set(ws, "mine", V1)
    save_prompt_set(ws, "mine", V2)
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "16")  # the demo counts as large (the server inherits it)
    url = request.getfixturevalue("streamlit_server")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{url}/zero_shot")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Editing 'mine' version 2", exact=False).first.wait_for(timeout=90_000)
    # The editor's grid is drawn on a canvas: its row count is the header, the rows, the "add" row.
    rows = main.locator('[data-testid="stDataFrame"] [aria-rowcount]').first
    assert rows.get_attribute("aria-rowcount") == "6"  # version 2: four prompts
    main.get_by_text("Prompt sets stored in this workspace").click()
    main.get_by_role("button", name="Load into editor").click()
    main.get_by_text("The editor already holds 'mine' version 2 as it was saved", exact=False).wait_for(timeout=90_000)
    choose(page, "Version", "1")  # the message above did not close the expander under the user's hand
    main.get_by_role("button", name="Load into editor").click()
    main.get_by_text("Loaded 'mine' version 1 into the editor: 3 classes, 3 prompts.").wait_for(timeout=90_000)
    main.get_by_text("Editing 'mine' version 1", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_function("""() => document.querySelector('[data-testid="stDataFrame"] [aria-rowcount]')
                              .getAttribute('aria-rowcount') === '5'""", timeout=30_000)  # version 1: three prompts
    assert page.evaluate(ERRORS) == []
