"""AppTest of the Label page's Browse view: filters with counts equal to SQL counts, the
filter in the URL (a shared link opens the same view), views saved by name, and Assign."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.team import facets as fc
from tests.gridview import assign_tiles, grid_ids
from tests.helpers import app_workspace

ROOT = Path(__file__).resolve().parents[2]


def _browse(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params["annotator"] = "lead"
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page("app_pages/label.py")
    at.run()
    at.radio(key="label_view").set_value("Browse").run()
    assert not at.exception, at.exception
    return at


def _label_sql(ws) -> dict[int, str]:
    rows = ws.query(
        "SELECT e.image_id, e.label, MAX(e.id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
        "WHERE e.kind = 'assign' AND b.reverted_at IS NULL GROUP BY e.image_id"
    )
    return {int(r[0]): r[1] for r in rows}


def test_counts_equal_sql_and_a_filter_shows_its_images(app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:5], annotator="alice", source={"kind": "text"})
    lbl.record_batch(ws, "text", ids[5:8], annotator="bob", source={"kind": "text"})
    at = _browse()
    assert any("over the whole collection (32 images)" in c.value for c in at.sidebar.caption)
    labels = _label_sql(ws)
    assert at.sidebar.multiselect(key="browse_label").options == ["cover (5)", "text (3)"]
    gt = {r[0]: int(r[1]) for r in ws.query("SELECT label, COUNT(*) FROM ground_truth GROUP BY label")}
    assert sorted(at.sidebar.multiselect(key="browse_ground_truth").options) == sorted(f"{k} ({v})" for k, v in gt.items())
    assert at.sidebar.multiselect(key="browse_annotator").options == ["alice (5)", "bob (3)"]
    assert at.sidebar.checkbox(key="browse_unlabelled").label == f"Unlabelled ({len(ids) - len(labels)})"

    at.sidebar.multiselect(key="browse_label").select("cover").run()
    assert grid_ids(at) == sorted(i for i, c in labels.items() if c == "cover")
    assert at.query_params["f_label"] in ("cover", ["cover"])  # the filter is in the URL
    at.sidebar.multiselect(key="browse_label").unselect("cover").run()
    at.sidebar.checkbox(key="browse_unlabelled").check().run()
    assert grid_ids(at) == [i for i in ids if i not in labels][:48]

    at.sidebar.text_input(key="browse_save_name").input("todo").run()
    at.sidebar.button(key="browse_save").click().run()
    assert fc.saved_views(ws) == {"todo": {"filters": {}, "flags": ["unlabelled"]}}


def test_a_shared_link_opens_the_same_filter_and_assign_labels_the_selection(app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:5], annotator="alice", source={"kind": "text"})
    at = _browse(f_annotator="alice")
    assert at.sidebar.multiselect(key="browse_annotator").value == ["alice"]
    assert grid_ids(at) == ids[:5]
    at.selectbox(key="browse_class").set_value("text").run()
    assign_tiles(at)  # every tile still selected in the browser, then the grid's Assign
    assert not at.exception
    assert lbl.current_labels(ws) == {i: "text" for i in ids[:5]}
    newest = lbl.list_batches(ws)[0]
    assert (newest["annotator"], newest["source"]["kind"], newest["source"]["filters"]) == ("lead", "filter", {"annotator": ["alice"]})
    assert grid_ids(at) == []  # alice's labels are now lead's: nothing matches
    assert any("No image matches" in i.value for i in at.info)


def test_the_link_opens_the_browse_view(app_config):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"annotator": "lead", "view": "Browse", "f_unlabelled": "1"})
    at.switch_page("app_pages/label.py")
    at.run()
    assert at.radio(key="label_view").value == "Browse"
    assert at.sidebar.checkbox(key="browse_unlabelled").value is True
    at.radio(key="label_view").set_value("History").run()
    assert "view" not in at.query_params


def test_a_text_query_ranks_the_matches_and_the_counts_say_so(app_config):
    from clipcore.embedding.models import load_model
    from clipcore.retrieval.search import top_k

    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:5], annotator="alice", source={"kind": "text"})
    at = _browse()
    at.text_input(key="browse_text").input("a book cover").run()
    assert not at.exception
    assert any("over the first 32 results of the text query" in c.value for c in at.sidebar.caption)
    model = load_model("tiny", precision="fp32", device="cpu")
    ranked = [h.id for h in top_k(ws.load_embeddings(model.info.key), model.encode_texts(["a book cover"])[0], 1000)]
    at.sidebar.checkbox(key="browse_unlabelled").check().run()
    assert grid_ids(at) == [i for i in ranked if i not in ids[:5]][:48]  # rank order, filtered
    assert at.query_params["f_text"] in ("a book cover", ["a book cover"])
