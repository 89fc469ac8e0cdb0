"""The real app in Chromium: choose a collection in the sidebar, move to Search through the
sidebar, see that collection's images, reload, and still be there."""

from __future__ import annotations

import shutil
import pytest

from tests.e2e.conftest import choose, start_streamlit, stop_streamlit
from tests.e2e.test_browser_search import CAPTIONS, GRID_READY, search_box


@pytest.fixture
def two_collection_server(app_config, demo_dir, tiny_model, tmp_path):
    """The app with the demo workspace and a second, smaller collection ("Letters", 6 images)."""
    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.store import Workspace
    from clipcore.embedding.pipeline import embed_workspace

    src = tmp_path / "letters"
    for cls in sorted(p.name for p in demo_dir.iterdir() if p.is_dir())[:2]:
        (src / cls).mkdir(parents=True)
        for f in sorted((demo_dir / cls).iterdir())[:3]:
            shutil.copy(f, src / cls / f"letter-{f.name}")
    ws = Workspace(tmp_path / "letters-ws")
    ingest_folder(ws, src, labels_from_folders=True)
    embed_workspace(ws, tiny_model, batch_size=8)
    ws.close()
    app_config.write_text(
        app_config.read_text() + f'\n[workspaces.Letters]\npath = "{tmp_path / "letters-ws"}"\nsource = "{src}"\n'
    )
    proc, url = start_streamlit(app_config, log=tmp_path / "streamlit.log")
    try:
        yield url
    finally:
        stop_streamlit(proc)


def _search(page, query: str, n: int) -> list[str]:
    box = search_box(page)
    box.wait_for(timeout=60_000)
    box.fill(query)
    box.press("Enter")
    page.wait_for_function(GRID_READY, arg=[query, n], timeout=60_000)
    return [t.split(" · ", 1)[1] for t in page.evaluate(CAPTIONS)]


def _sidebar_collection(page) -> str:
    return page.locator('[data-testid="stSidebar"] input[aria-label="Collection"]').input_value()


@pytest.mark.e2e
def test_chosen_collection_follows_to_search_and_survives_a_reload(two_collection_server, page, tmp_path):
    page.goto(two_collection_server)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("untrained").first.wait_for(timeout=90_000)  # the model caption: the app is up
    assert _sidebar_collection(page) == "demo"

    choose(page, "Collection", "Letters")  # once the page is settled (a rerun can close the list under the click)
    page.wait_for_url("**/?ws=Letters", timeout=30_000)
    page.get_by_role("heading", name="Letters").wait_for(timeout=30_000)

    sidebar.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Search").click()
    page.wait_for_url("**/search?ws=Letters", timeout=30_000)
    names = _search(page, "a letter", 6)
    assert len(names) == 6 and all(n.startswith("letter-") for n in names), names
    page.screenshot(path=str(tmp_path / "search-letters.png"), full_page=True)

    page.reload()
    assert page.url.endswith("/search?ws=Letters")
    names = _search(page, "a letter", 6)
    assert all(n.startswith("letter-") for n in names), names
    assert _sidebar_collection(page) == "Letters"
