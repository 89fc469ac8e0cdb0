"""AppTest of the Label page with the tiny model: the full loop (query, deselect, assign,
next page, undo), the history/conflicts/export views, and two annotators in claim mode."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.helpers import app_workspace

from tests.gridview import assign_tiles, click_tile, grid_ids, grids

from clipcore import UNTRAINED_WARNING
from clipcore.catalog import labels as lbl

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/label.py"


def _open(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(PAGE)
    at.run()
    assert any("Type your name" in i.value for i in at.info)
    at.sidebar.text_input(key="annotator_name").input(name).run()
    assert not at.exception
    return at


def _epoch(at: AppTest) -> int:
    """The selectable grid's epoch: a new one starts a fresh selection (every tile selected) in the browser."""
    (grid,) = grids(at)
    assert grid["mode"] == "select" and grid["assign"] == "Assign selected"
    return grid["epoch"]


def _tile_ids(at: AppTest) -> list[int]:
    return grid_ids(at)


_workspace = app_workspace


def test_full_labelling_loop(app_config):
    at = _open("alice")
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    at.selectbox(key="label_class").set_value("cover")
    at.selectbox(key="label_kind").set_value("text")
    at.selectbox(key="label_n").set_value(12)
    at.text_input(key="label_text").input("a book cover").run()
    first = _tile_ids(at)
    assert len(first) == 12
    epoch = _epoch(at)

    dropped = first[:2]
    # Tiles 1 and 2 clicked off in the browser (no rerun), then Assign: one value.
    assign_tiles(at, exclude=(1, 2))
    assert not at.exception
    ws = _workspace(app_config)
    assert lbl.current_labels(ws) == {i: "cover" for i in first[2:]}
    assert lbl.rejected_for(ws, "cover") == set(dropped)
    (batch,) = lbl.list_batches(ws)
    assert batch["annotator"] == "alice" and batch["source"]["kind"] == "text" and batch["source"]["query"] == "a book cover"
    second = _tile_ids(at)
    assert len(second) == 12 and not set(second) & set(first)  # labelled and rejected never come back
    assert _epoch(at) != epoch  # the new page starts selected again
    assert any("Labelled 10" in t.value for t in at.toast)

    at.button(key="label_next").click().run()
    third = _tile_ids(at)
    assert len(third) == 8 and not set(third) & (set(first) | set(second))  # 32 - 12 - 12
    assert len(lbl.list_batches(ws)) == 1  # skipping a page records nothing

    at.button(key="label_undo").click().run()
    assert not at.exception
    assert lbl.current_labels(ws) == {} and lbl.rejected_for(ws, "cover") == set()
    assert lbl.list_batches(ws)[0]["reverted_by"] == "alice"
    assert sorted(_tile_ids(at)) == sorted(first)  # the undone images are back at the top
    assert any("Undid batch" in t.value for t in at.toast)


def test_history_revert_conflicts_and_export_views(app_config):
    ws = _workspace(app_config)
    ids = [int(i) for i in ws.image_ids()][:4]
    keep = lbl.record_batch(ws, "text", ids[:3], annotator="bob", source={"kind": "text", "query": "<b>x</b>"})
    undo_me = lbl.record_batch(ws, "cover", ids[:1], annotator="carol", source={"kind": "cli"})
    at = _open("alice")

    at.radio(key="label_view").set_value("History").run()
    assert not at.exception
    at.text_input(key="label_revert_id-").input(undo_me).run()
    at.button(key="label_revert").click().run()
    assert not at.exception
    assert lbl.current_labels(ws) == {i: "text" for i in ids[:3]}
    assert lbl.list_batches(ws)[0]["reverted_by"] == "alice"

    lbl.record_batch(ws, "cover", ids[:1], annotator="carol", source={"kind": "cli"})
    at.radio(key="label_view").set_value("Conflicts").run()
    assert not at.exception
    assert at.dataframe[0].value["id"].tolist() == [ids[0]]
    at.multiselect(key="label_resolve_ids").set_value([ids[0]])
    at.selectbox(key="label_resolve_class").set_value("text").run()
    at.button(key="label_resolve").click().run()
    assert lbl.find_conflicts(ws) == [] and lbl.current_labels(ws)[ids[0]] == "text"

    at.radio(key="label_view").set_value("Export").run()
    assert not at.exception and keep
    assert at.get("download_button")  # CSV download offered
    # Folder export goes under the workspace, whatever the name says.
    at.text_input(key="label_export_dir").input("../../etc/evil name").run()
    at.button(key="label_export_folders").click().run()
    assert not at.exception
    target = ws.root / "exports" / "etc-evil-name"
    assert sorted(p.name for p in target.iterdir()) == ["text"] and len(list((target / "text").iterdir())) == 3


def test_two_annotators_in_claim_mode_get_different_pages(app_config):
    pages = []
    for name in ("alice", "bob"):
        at = _open(name)
        at.selectbox(key="label_n").set_value(12)
        at.toggle(key="label_claim").set_value(True).run()
        assert not at.exception
        pages.append(_tile_ids(at))
    assert len(pages[0]) == len(pages[1]) == 12
    assert not set(pages[0]) & set(pages[1])


def test_more_like_this_on_a_tile_queries_by_that_image_without_typing_an_id(app_config):
    at = _open("carol")
    at.selectbox(key="label_class").set_value("cover")
    at.selectbox(key="label_kind").set_value("text")
    at.selectbox(key="label_n").set_value(12)
    at.text_input(key="label_text").input("a book cover").run()
    picked = _tile_ids(at)[4]
    epoch = _epoch(at)
    click_tile(at, 5, "similar")  # the tile's "more like this" button
    assert not at.exception
    assert at.selectbox(key="label_kind").value == "image"
    assert at.number_input(key="label_image_id").value == picked
    assert _tile_ids(at)[0] == picked  # the image itself is the most similar (cosine 1)
    assert _epoch(at) != epoch  # a new page: every tile selected


def _cover_pages(at: AppTest) -> None:
    at.selectbox(key="label_class").set_value("cover")
    at.selectbox(key="label_kind").set_value("text")
    at.selectbox(key="label_n").set_value(12)
    at.text_input(key="label_text").input("a book cover").run()


def test_next_page_to_the_end_says_how_many_were_skipped_and_brings_them_back(app_config):
    at = _open("alice")
    _cover_pages(at)
    seen = []
    for _ in range(3):  # 12 + 12 + 8 = the 32 images, passed over
        seen += _tile_ids(at)
        at.button(key="label_next").click().run()
    assert not at.exception
    assert len(set(seen)) == 32 and _tile_ids(at) == []
    assert any("apart from the 32 you passed over" in i.value for i in at.info), [i.value for i in at.info]
    at.button(key="label_unskip").click().run()
    assert not at.exception
    assert len(_tile_ids(at)) == 12
    assert not any("No unlabelled images left" in i.value for i in at.info)


def test_an_annotator_is_told_when_a_colleague_relabelled_their_images(app_config):
    ws = _workspace(app_config)
    ids = sorted(ws.ground_truth())[:5]
    lbl.record_batch(ws, "cover", ids, annotator="alice", source={"kind": "cli"})
    lbl.record_batch(ws, "text", ids[:3], annotator="bob", source={"kind": "cli"})
    lbl.record_batch(ws, "cover", ids[3:], annotator="carol", source={"kind": "cli"})  # the same class: not an overwrite
    at = _open("alice")
    assert any("bob relabelled 3 of your images" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not any("carol" in w.value for w in at.warning)
    at.run()
    assert any("bob relabelled 3" in w.value for w in at.warning)  # stays until dismissed
    at.button(key="label_notice_dismiss").click().run()
    assert not any("relabelled" in w.value for w in at.warning)
    lbl.record_batch(ws, "text", ids[3:4], annotator="bob", source={"kind": "cli"})
    at.run()  # the next run of alice's page: only the new overwrite
    assert any("bob relabelled 1 of your image" in w.value for w in at.warning), [w.value for w in at.warning]
    bob = _open("bob")
    assert not any("relabelled" in w.value for w in bob.warning)


def test_opening_label_writes_no_prompt_set_yet_ranks_by_the_one_zero_shot_would_open_with(app_config):
    """Opening a page writes nothing (issue 18: a read-only workspace must open): with no saved
    prompt set, the zero-shot query ranks by the draft Zero-shot opens with (the reference
    study's prompts on the demo), and the batch says it was that unsaved draft."""
    from clipcore.classify.prompts import list_prompt_sets

    ws = _workspace(app_config)
    assert list_prompt_sets(ws) == []
    at = _open("alice")
    assert "Most confident zero-shot" in at.selectbox(key="label_kind").options
    at.selectbox(key="label_class").set_value("cover")
    at.selectbox(key="label_kind").set_value("zero-shot").run()
    assert not at.exception and len(_tile_ids(at)) > 0
    assert list_prompt_sets(ws) == [] and ws.query("SELECT COUNT(*) FROM prompt_sets")[0][0] == 0
    assign_tiles(at)
    assert not at.exception
    (batch,) = lbl.list_batches(ws)
    assert batch["source"]["prompt_set"] == "reference study" and batch["source"]["prompt_set_version"] is None
    assert "unsaved" in lbl.describe_source(batch["source"]) and "None" not in lbl.describe_source(batch["source"])
    assert list_prompt_sets(ws) == []
