"""AppTest: imported IIIF books in the app: Search's book and page filters, the required
attribution shown with the images (escaped), book/page in the image details; Evaluate keeps
books whole by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.gridview import grid_ids, grids, tile_info
from tests.helpers import app_workspace
from tests.sources.iiif_server import add_books

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def with_books(app_config, tmp_path, tiny_model):
    ws = app_workspace(app_config)
    meta = add_books(ws, tmp_path / "books", tiny_model)
    ws.close()
    return meta


def test_book_and_page_filters_credits_and_details(with_books):
    meta = with_books
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/search.py")
    at.run()
    assert not at.exception
    book = at.selectbox(key="search_book")
    ehon = next(m["book"] for m in meta.values() if m["book_label"].startswith("Ehon"))
    assert "Ehon <i>yamato</i> hiji (4 pages)" in book.options
    book.set_value(ehon)
    at.text_input(key="search_query").input("a page").run()
    assert not at.exception
    shown = grid_ids(at)
    assert sorted(shown) == sorted(i for i, m in meta.items() if m["book"] == ehon)
    credits = [h.value for h in at.get("html") if "cc-credit" in h.value]
    assert len(credits) == 1
    # Markup from the remote title is escaped (shown as text, never rendered).
    assert "Ehon &lt;i&gt;yamato&lt;/i&gt; hiji: Provided by Example Library" in credits[0] and "<i>" not in credits[0]

    at.number_input(key="search_page_no").set_value(3).run()
    assert [meta[i]["page"] for i in grid_ids(at)] == [3]
    texts = tile_info(at, 1)  # what the lightbox shows for the image
    assert "book: Ehon <i>yamato</i> hiji, p. 3" in texts
    assert "attribution: Provided by Example Library (https://creativecommons.org/publicdomain/mark/1.0/)" in texts
    assert "Shelfmark: MS B3" in texts  # the manifest's metadata pairs
    assert grids(at)[0]["tiles"][0]["link"] == "https://library.example/item/b3"  # the item in the library's viewer


def test_captions_tell_pages_of_different_books_apart(with_books):
    """Every book has a 0001.jpg: with several books among the results, a repeated file name
    carries its book and page in the caption; a unique one stays bare."""
    meta = with_books
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/search.py")
    at.run()
    at.selectbox(key="search_page_size").set_value(96)
    at.text_input(key="search_query").input("a page").run()
    assert not at.exception
    (grid,) = grids(at)
    captions = {t["id"]: t["caption"].split(" · ", 1)[1] for t in grid["tiles"]}
    names = [c.split(" · ")[0] for c in captions.values()]
    repeated = {i for i, c in captions.items() if names.count(c.split(" · ")[0]) > 1}
    assert repeated & set(meta), "the fixture should show pages of two books with the same file name"
    for i in repeated & set(meta):
        m = meta[i]
        assert captions[i].endswith(f" · {m['book_label']}, {m['page_label'] or 'p. ' + str(m['page'])}")
    assert all(" · " not in c for i, c in captions.items() if i not in repeated)


def test_evaluate_offers_to_keep_books_whole_by_default(with_books):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/evaluate.py")
    at.run()
    assert not at.exception
    assert at.radio(key="fh_group_by").value == "group"
