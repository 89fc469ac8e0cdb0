"""The ZIP export in Chromium: "Build the ZIP" starts the job, the page offers the file when
it is done, and the browser downloads a ZIP named after the collection and its content with
one folder per class holding the labelled originals, or (chosen on the page) their
thumbnails as small JPEGs."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from PIL import Image

from clipcore.catalog import labels as lbl
from tests.helpers import app_workspace


@pytest.mark.e2e
def test_build_and_download_the_zip(streamlit_server, browser, app_config, tmp_path):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(ws, "text", ids[3:5], annotator="alice", source={"kind": "text"})
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{streamlit_server}/label?annotator=lead")
        page.get_by_text("Export", exact=True).click()
        saved = _build_and_download(page, "originals", tmp_path)
        page.get_by_text("Thumbnails (small JPEGs", exact=False).click()
        thumbs = _build_and_download(page, "thumbnails", tmp_path)
    finally:
        context.close()
    records = {r.id: r for r in ws.images(ids[:5])}
    with zipfile.ZipFile(saved) as zf:
        names = sorted(zf.namelist())
    assert [n.split("/")[0] for n in names] == ["cover"] * 3 + ["text"] * 2
    assert sorted(n.split("/")[1] for n in names) == sorted(r.abs_path.name for r in records.values())
    with zipfile.ZipFile(thumbs) as zf:
        names = sorted(zf.namelist())
        images = [Image.open(io.BytesIO(zf.read(n))) for n in names]
    assert [n.split("/")[0] for n in names] == ["cover"] * 3 + ["text"] * 2
    assert all(im.format == "JPEG" and max(im.size) <= 256 for im in images)


def _build_and_download(page, content: str, tmp_path):
    page.get_by_role("button", name="Build the ZIP").click(timeout=90_000)
    page.get_by_role("button", name=re.compile(rf"^Prepare demo-labels-{content}-.*\.zip")).first.click(timeout=90_000)
    button = page.get_by_role("button", name=re.compile(rf"^Download demo-labels-{content}-.*\.zip"))
    button.first.wait_for(timeout=90_000)
    with page.expect_download(timeout=90_000) as info:
        button.first.click()
    download = info.value
    assert re.fullmatch(rf"demo-labels-{content}-\d{{8}}-\d{{6}}\.zip", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    return saved
