"""AppTest of the Label page's Browse view: filters with counts equal to SQL counts, the
filter in the URL (a shared link opens the same view), views saved by name, and Assign."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.team import facets as fc
from tests.gridview import assign_tiles, grid_ids
from tests.helpers import label_view, app_workspace

ROOT = Path(__file__).resolve().parents[2]


def _browse(**query) -> AppTest:
    return label_view("Browse", **query)


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
    # the counts follow the assign (the labels part is updated from the newer events only)
    assert at.sidebar.multiselect(key="browse_label").options == ["text (5)"]
    assert at.sidebar.multiselect(key="browse_annotator").options == ["lead (5)", "alice (0)"]  # alice stays chosen


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


# -- "Select all N matching" --------------------------------------------------------------------


def _unlabelled_of_class(ws, labelled: set[int]) -> tuple[str, list[int]]:
    truth = {int(r[0]): r[1] for r in ws.query("SELECT image_id, label FROM ground_truth")}
    cls = sorted(set(truth.values()))[0]
    return cls, sorted(i for i, c in truth.items() if c == cls and i not in labelled)


def _choose(at: AppTest, truth_class: str, target: str) -> AppTest:
    at.sidebar.multiselect(key="browse_ground_truth").select(truth_class).run()
    at.sidebar.checkbox(key="browse_unlabelled").check().run()
    at.selectbox(key="browse_class").set_value(target).run()
    assert not at.exception, at.exception
    return at


def test_select_all_matching_asks_then_labels_every_match_in_one_batch(app_config):
    from clipcore.config import load_settings
    from clipcore.team.audit import read_actions

    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    cls, want = _unlabelled_of_class(ws, set(ids[:3]))
    at = _choose(_browse(), cls, "illustration")
    button = at.button(key="browse_all")
    assert button.label == f"Select all {len(want)} matching" and not button.disabled
    assert len(lbl.list_batches(ws)) == 1
    button.click().run()
    assert any(f"to all **{len(want)}** images" in m.value and "illustration" in m.value for m in at.markdown)
    sample = at.get("image")
    assert len(sample) == 1 and len(sample[0].proto.imgs) == min(6, len(want))  # a sample of the matches
    assert [i.caption for i in sample[0].proto.imgs] == [f"#{i}" for i in want[:6]]
    assert len(lbl.list_batches(ws)) == 1  # nothing written before the confirmation
    at.button(key="browse_all_ok").click().run()
    assert not at.exception, at.exception
    batches = lbl.list_batches(ws)
    assert len(batches) == 2 and batches[0]["size"] == len(want) and batches[0]["source"]["all_matching"] == len(want)
    now = lbl.current_labels(ws)
    assert sorted(i for i, c in now.items() if c == "illustration") == want
    assert at.sidebar.checkbox(key="browse_unlabelled").label == f"Unlabelled ({len(ids) - 3 - len(want)})"
    assert any("No image matches" in i.value for i in at.info)  # the filter's images are all labelled now
    entry = read_actions(load_settings().app_data)[0]  # newest first
    assert (entry["action"], entry["details"]["images"], entry["details"]["label"]) == ("label_all_matching", len(want), "illustration")


def test_select_all_says_when_the_count_changed_and_writes_only_what_was_confirmed(app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    cls, want = _unlabelled_of_class(ws, set())
    assert len(want) >= 3
    at = _choose(_browse(), cls, "illustration")
    at.button(key="browse_all").click().run()
    lbl.record_batch(ws, "other", want[:2], annotator="bob", source={"kind": "text"})  # a colleague, meanwhile
    at.button(key="browse_all_ok").click().run()  # confirms the count drawn before bob's batch
    assert not at.exception, at.exception
    assert not any(c == "illustration" for c in lbl.current_labels(ws).values())  # nothing written
    assert any(f"{len(want) - 2} images match these filters now, not the {len(want)} you confirmed" in w.value for w in at.warning)
    assert any(f"{len(want) - 2} images match now (it said {len(want)})" in w.value for w in at.warning)
    at.button(key="browse_all_ok").click().run()  # the new count, confirmed
    now = lbl.current_labels(ws)
    assert sorted(i for i, c in now.items() if c == "illustration") == want[2:]
    assert (now[want[0]], now[want[1]]) == ("other", "other")


def test_select_all_refuses_above_the_configured_limit(app_config):
    app_config.write_text(app_config.read_text() + "\n[limits]\nmax_label_all = 3\n")
    ws = app_workspace(app_config)
    at = _browse()
    at.sidebar.checkbox(key="browse_unlabelled").check().run()
    at.selectbox(key="browse_class").set_value("illustration").run()
    at.button(key="browse_all").click().run()
    n = len(ws.image_ids())
    assert any(f"{n} images match these filters; at most 3 can be labelled at once" in e.value for e in at.error)
    assert at.button(key="browse_all_ok").disabled
    assert lbl.list_batches(ws) == []
    at.button(key="browse_all_cancel").click().run()
    assert not [b for b in at.button if b.key == "browse_all_ok"]


def test_select_all_is_for_annotators_and_admins_and_checked_again_at_the_click(app_config):
    from tests.app.test_roles import ALICE, GUEST, TEAM, _user

    app_config.write_text(app_config.read_text() + TEAM)
    ws = app_workspace(app_config)

    def browse(email):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
        at.user = _user(email)
        at.query_params.update({"view": "Browse"})
        at.switch_page("app_pages/label.py")
        at.run()
        assert not at.exception, at.exception
        return at

    viewer = browse(GUEST)
    assert viewer.button(key="browse_all").disabled
    assert not [s for s in viewer.selectbox if s.key == "browse_class"]

    alice = browse(ALICE)
    alice.sidebar.checkbox(key="browse_unlabelled").check().run()
    assert alice.button(key="browse_all").disabled  # no class chosen yet
    alice.selectbox(key="browse_class").set_value("illustration").run()
    alice.button(key="browse_all").click().run()
    assert not alice.button(key="browse_all_ok").disabled
    app_config.write_text(app_config.read_text().replace(f'annotators = ["{ALICE}", ', "annotators = ["))  # alice demoted
    alice.button(key="browse_all_ok").click().run()
    assert lbl.list_batches(ws) == []  # refused: the page is a viewer's now
    assert alice.button(key="browse_all").disabled and not [b for b in alice.button if b.key == "browse_all_ok"]


def test_a_browse_assign_reads_no_aggregate_over_the_whole_catalogue(app_config, monkeypatch):
    """A label action changes only the labels: the rerun it causes reads neither every
    ground-truth row (the classes of the unsaved zero-shot draft) nor every label event
    (the filters' labels part is updated from the newer events)."""
    from clipcore.catalog.store import Workspace

    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:5], annotator="alice", source={"kind": "text"})
    at = _browse(f_annotator="alice")
    at.selectbox(key="browse_class").set_value("text").run()
    calls = []
    real_counts, real_full = Workspace.ground_truth_counts, fc.label_facets
    monkeypatch.setattr(Workspace, "ground_truth_counts", lambda self: calls.append("ground truth") or real_counts(self))
    monkeypatch.setattr(fc, "label_facets", lambda *a: calls.append("labels") or real_full(*a))
    assign_tiles(at)
    assert not at.exception, at.exception
    assert lbl.current_labels(ws) == {i: "text" for i in ids[:5]}
    assert at.sidebar.multiselect(key="browse_label").options == ["text (5)"]
    assert calls == []
