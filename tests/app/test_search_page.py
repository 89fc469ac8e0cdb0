"""AppTest of the Search page with the tiny model: query, paging, similar, filters, upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import app_workspace

from tests.gridview import grid_tiles, grids, pick_tile, tile_info

from clipcore import UNTRAINED_WARNING

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/search.py"


def _open(app_config) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(PAGE)
    return at.run()


def _tile_names(at: AppTest) -> list[str]:
    """File names under the tiles, in grid order (each tile's caption is 'score · name')."""
    return [line.split(" · ", 1)[1] for _, line in grid_tiles(at)]


def _scores(at: AppTest) -> list[float]:
    return [float(line.split(" · ", 1)[0]) for _, line in grid_tiles(at)]


def test_query_shows_ranked_results_and_pages_without_repeats(app_config):
    at = _open(app_config)
    assert not at.exception
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    assert any("Type a query" in i.value for i in at.info)

    at.selectbox(key="search_page_size").set_value(12)
    at.text_input(key="search_query").input("woodblock landscape").run()
    assert not at.exception
    first = _tile_names(at)
    scores = _scores(at)
    assert len(first) == 12
    assert scores == sorted(scores, reverse=True)
    assert any("Results 1–12 of 32" in c.value for c in at.caption)

    at.button(key="search_more").click().run()
    second = _tile_names(at)
    assert len(second) == 12
    assert not set(first) & set(second)
    assert max(_scores(at)) <= min(scores) + 1e-6
    at.button(key="search_more").click().run()
    third = _tile_names(at)
    assert len(third) == 8  # 32 images: 12 + 12 + 8
    assert len(set(first) | set(second) | set(third)) == 32
    assert at.button(key="search_more").disabled

    at.button(key="search_prev").click().run()
    assert _tile_names(at) == second


def test_find_similar_ranks_the_image_itself_first(app_config):
    at = _open(app_config)
    at.text_input(key="search_query").input("printed text").run()
    target = _tile_names(at)[3]
    pick_tile(at, 4, "similar")
    assert not at.exception
    assert at.text_input(key="search_query").value == ""
    assert _tile_names(at)[0] == target
    assert _scores(at)[0] == pytest.approx(1.0, abs=1e-3)
    assert any(t.value.endswith(target) and t.value.startswith("More like this: ") for t in at.text)


def test_ground_truth_filter_and_negative_term(app_config):
    at = _open(app_config)
    at.text_input(key="search_query").input("book cover").run()
    base = _tile_names(at)
    at.selectbox(key="search_truth_class").set_value("cover").run()
    assert not at.exception
    names = _tile_names(at)
    assert len(names) == 8  # 8 covers in the fixture
    assert any("of 8" in c.value for c in at.caption)

    at.selectbox(key="search_truth_class").set_value("(any)").run()
    at.session_state["search_terms"] = {
        "edited_rows": {},
        "added_rows": [{"term": "printed text", "weight": -2.0}],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert any("-2" in t.value and "printed text" in t.value for t in at.text)
    assert _tile_names(at) != base


def test_upload_query_and_bad_upload(app_config, demo_dir):
    at = _open(app_config)
    src = sorted((demo_dir / "cover").iterdir())[0]
    uploader = at.file_uploader[0]
    uploader.upload(src.name, src.read_bytes(), "image/jpeg").run()
    assert not at.exception
    names = _tile_names(at)
    assert names[0] == src.name  # the same picture is in the workspace
    assert any("uploaded image" in t.value for t in at.text)

    at.file_uploader[0].upload("broken.png", b"not an image at all", "image/png").run()
    assert not at.exception
    assert any("cannot be used as an image" in e.value for e in at.error)


def test_overlong_query_is_a_message(app_config):
    at = _open(app_config)
    at.text_input(key="search_query").input("x" * 2001).run()
    assert not at.exception
    assert any("2001 characters" in e.value for e in at.error)


def test_the_lightbox_lines_name_the_image_its_path_and_label(app_config):
    from clipcore.catalog import labels as lbl
    at = _open(app_config)
    at.text_input(key="search_query").input("printed text").run()
    first_id, line = grid_tiles(at)[0]
    ws = app_workspace(app_config)
    lbl.record_batch(ws, "<b>text</b>", [first_id], annotator="tester", source={"kind": "test"})
    at.run()
    texts = tile_info(at, 1)
    assert texts[0].endswith(line.split(" · ", 1)[1])  # the path, ending with the caption's file name
    assert "label: <b>text</b>" in texts  # set as text by the component, never markup
    assert any(t.startswith("class (ground truth): ") for t in texts)


def test_the_lightbox_gets_the_bounded_preview_once_and_not_in_new_results(app_config):
    import base64
    import io

    from PIL import Image

    at = _open(app_config)
    at.text_input(key="search_query").input("printed text").run()
    assert grids(at)[0]["preview"] is None
    pick_tile(at, 3, "preview")  # the lightbox, open on image 3, asks for its preview
    assert not at.exception
    (grid,) = grids(at)
    preview = grid["preview"]
    assert preview["id"] == grid["tiles"][2]["id"] and preview["url"].startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(preview["url"].split(",", 1)[1])))
    assert max(img.size) <= 1024  # the bounded copy, never the original
    at.run()  # kept while these results are shown
    assert grids(at)[0]["preview"]["id"] == preview["id"]
    at.text_input(key="search_query").input("a landscape with mountains").run()
    assert not at.exception
    (grid,) = grids(at)
    assert grid["preview"] is None or grid["preview"]["id"] in {t["id"] for t in grid["tiles"]}
