"""Home in Chromium: the "Embedded" figure follows a running embed job, not only its end.

The job is a row marked running with this test's own (live) process id, so the page treats
it as running for as long as the test wants; the test embeds the images itself, batch by
batch as a job would, and the figure must move while the job still shows its bar."""

from __future__ import annotations

import json
import os
import shutil

from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace, utc_now
from clipcore.embedding.pipeline import embed_workspace

from tests.e2e.conftest import start_streamlit, stop_streamlit

WAIT_MS = 90_000


def _embedded(page) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Embedded")
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_embedded_figure_moves_while_the_embed_job_runs(page, demo_dir, tiny_model, tmp_path):
    src = tmp_path / "imgs"
    shutil.copytree(demo_dir, src)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, src, labels_from_folders=True)  # catalogued, nothing embedded
    now = utc_now()
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, args, status, done, total, pid, started_at, updated_at) "
            "VALUES ('fakejob00001', 'embed', ?, 'running', 0, 32, ?, ?, ?)",
            (json.dumps(["--model", "tiny"]), os.getpid(), now, now),
        )
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(
        '[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n'
        f'[workspaces.main]\npath = "{ws.root}"\n'
    )
    proc, url = start_streamlit(cfg, log=tmp_path / "streamlit.log")
    try:
        page.goto(url)
        page.get_by_text("0 of 32 images").first.wait_for(timeout=WAIT_MS)  # the job's bar
        assert _embedded(page) == "0%"
        embed_workspace(ws, tiny_model, batch_size=16)  # what the job writes, batch by batch
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.includes('Embedded') && m.innerText.includes('100%'))""",
            timeout=WAIT_MS,
        )
        assert page.get_by_text("0 of 32 images").count() >= 1  # the job still runs: no page rerun did it
    finally:
        stop_streamlit(proc)
        ws.close()


def test_home_first_screen_shows_the_figures_and_a_sample_of_the_collection(streamlit_server, browser):
    """Journey 1 (the stakeholder demo): Home's first screen at 1440x900 says what the
    collection is: the figures and a sample of its pages, not forms below which the
    sample waited three screens down."""
    from tests.gridview import TILE_IDS_JS, grid_frame

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{streamlit_server}/?annotator=lead")
        page.wait_for_function(TILE_IDS_JS, timeout=WAIT_MS)  # the sample's images have loaded
        page.get_by_text("Update the collection").first.wait_for(timeout=WAIT_MS)
        assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
        images = page.locator('[data-testid="stMetric"]').filter(has_text="Images").first.bounding_box()
        first = grid_frame(page).locator("figure[data-image-id]").first.bounding_box()
        assert images["y"] + images["height"] < 900, images
        assert first["y"] + first["height"] < 900, first  # the whole first tile, without scrolling
    finally:
        context.close()
