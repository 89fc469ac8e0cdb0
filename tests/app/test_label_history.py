"""AppTest of the Label page's History (a Revert button on each row, for whoever may) and
Review views (a lead accepts or corrects a colleague's batch), signed in with OIDC roles."""

from __future__ import annotations

import base64

from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.config import load_settings
from clipcore.team import review as rv
from clipcore.team.audit import read_actions
from tests.app.test_roles import ALICE, BOB, GUEST, LEAD, _app, _user, team  # noqa: F401 (fixture)
from tests.gridview import assign_tiles, can_assign, grid_ids
from tests.helpers import app_workspace


def _history(at: AppTest) -> AppTest:
    at.radio(key="label_view").set_value("History").run()
    assert not at.exception, at.exception
    return at


def _row_buttons(at: AppTest) -> set[str]:
    return {b.key.removeprefix("label_revert_row-") for b in at.button if b.key and b.key.startswith("label_revert_row-")}


def test_each_row_has_a_revert_button_for_whoever_may(team):
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()]
    alices = lbl.record_batch(ws, "cover", ids[:3], annotator=ALICE, source={"kind": "text"})
    bobs = lbl.record_batch(ws, "map", ids[3:6], annotator=BOB, source={"kind": "text"})

    at = _history(_app(_user(ALICE), "app_pages/label.py"))
    assert _row_buttons(at) == {alices}  # an annotator: her own rows only
    at.button(key=f"label_revert_row-{alices}").click().run()
    assert not at.exception
    assert lbl.current_labels(ws) == {i: "map" for i in ids[3:6]}
    assert any("Reverted batch" in t.value for t in at.toast)
    assert _row_buttons(at) == set()  # a reverted row has no button any more
    assert read_actions(load_settings(config_path=team).app_data) == []  # one's own undo is not an admin action

    at = _history(_app(_user(LEAD), "app_pages/label.py"))
    assert _row_buttons(at) == {bobs}  # an admin: anyone's (alice's is reverted already)
    at.button(key=f"label_revert_row-{bobs}").click().run()
    assert lbl.current_labels(ws) == {}
    (entry,) = read_actions(load_settings(config_path=team).app_data)
    assert (entry["who"], entry["action"], entry["details"]) == (LEAD, "revert", {"batch_id": bobs, "labels": 3})


def test_history_filters_by_person_and_hides_reverted(team):
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()]
    a = lbl.record_batch(ws, "cover", ids[:2], annotator=ALICE, source={"kind": "text"})
    b = lbl.record_batch(ws, "map", ids[2:4], annotator=BOB, source={"kind": "text"})
    lbl.revert_batch(ws, b, annotator=BOB)
    at = _history(_app(_user(LEAD), "app_pages/label.py"))
    assert any("2 of 2 batches" in c.value for c in at.caption)
    at.toggle(key="label_history_hide").set_value(True).run()
    assert any("1 of 2 batches" in c.value for c in at.caption) and _row_buttons(at) == {a}
    at.selectbox(key="label_history_who").set_value(BOB).run()
    assert any("0 of 2 batches" in c.value for c in at.caption)


def _review(at: AppTest) -> AppTest:
    at.radio(key="label_view").set_value("Review").run()
    assert not at.exception, at.exception
    return at


def test_a_lead_accepts_one_batch_and_corrects_another(team):
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()]
    first = lbl.record_batch(ws, "cover", ids[:4], annotator=ALICE, source={"kind": "text"})
    second = lbl.record_batch(ws, "map", ids[4:10], annotator=BOB, source={"kind": "text"})

    at = _review(_app(_user(ALICE), "app_pages/label.py"))
    assert any("A lead (admin) reviews" in i.value for i in at.info)  # an annotator does not review
    assert not can_assign(at)

    at = _review(_app(_user(LEAD), "app_pages/label.py"))
    assert grid_ids(at) == ids[4:10]  # newest first: bob's batch
    assign_tiles(at)  # Apply with every tile still marked right: accepted
    assert rv.reviews(ws)[second]["verdict"] == "accepted"
    assert grid_ids(at) == ids[:4]  # then alice's
    assign_tiles(at, exclude=(2, 3))  # the lead marks two tiles wrong but chose no class yet
    assert any("2 tiles marked wrong: choose the right class" in e.value for e in at.error)
    assert first not in rv.reviews(ws)
    at.selectbox(key="label_review_class").set_value("map").run()
    assign_tiles(at, exclude=(2, 3))
    assert not at.exception
    got = rv.reviews(ws)[first]
    assert got["verdict"] == "corrected"
    fix = lbl.list_batches(ws)[0]
    assert (fix["batch_id"], fix["annotator"], fix["class"]) == (got["correction_batch"], LEAD, "map")
    assert lbl.current_labels(ws)[ids[1]] == "map" and lbl.current_labels(ws)[ids[2]] == "map"
    assert lbl.current_labels(ws)[ids[0]] == "cover"
    assert any("Nothing waiting for review" in s.value for s in at.success)
    actions = [(e["action"], e["details"]["batch_id"]) for e in read_actions(load_settings(config_path=team).app_data)]
    assert actions == [("review_correct", first), ("review_accept", second)]


def test_team_figures_show_progress_people_and_agreement(team):
    from clipcore.team.agreement import annotator_agreement

    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:4], annotator=ALICE, source={"kind": "text"})
    lbl.record_batch(ws, "cover", ids[:2], annotator=BOB, source={"kind": "text"})
    lbl.record_batch(ws, "text", ids[2:4], annotator=BOB, source={"kind": "text"})
    at = _history(_app(_user(LEAD), "app_pages/label.py"))
    progress, people, agreement = [t.value for t in at.dataframe][-3:]  # the team figures (user strings: no st.table)
    progress, people, agreement = (t.to_dict("index") for t in (progress, people, agreement))
    covers = sum(1 for v in ws.ground_truth().values() if v == "cover")
    assert progress["text"]["labelled"] == 2 and progress["cover"]["labelled"] == 2 and progress["cover"]["of"] == covers
    assert people[ALICE]["current labels"] == 0 and people[BOB]["current labels"] == 4  # bob's are the latest
    (pair,) = annotator_agreement(ws)
    row = agreement[f"{ALICE} · {BOB}"]
    assert (row["shared images"], row["agree"], row["Cohen's kappa"]) == (4, "50%", f"{pair['kappa']:.2f}")


def test_a_lead_writes_a_guideline_and_the_annotator_sees_it_while_labelling(team):
    from clipcore.team.guidelines import read_guidelines

    ws = app_workspace(team)
    at = _review(_app(_user(LEAD), "app_pages/label.py"))
    at.selectbox(key="label_guideline_class").set_value("cover").run()
    at.text_area(key="label_guideline_text").input("The front board, title visible.").run()
    at.button(key="label_guideline_save").click().run()
    assert not at.exception and read_guidelines(ws) == {"cover": "The front board, title visible."}

    at = _app(_user(ALICE), "app_pages/label.py")
    at.selectbox(key="label_class").set_value("cover").run()
    assert any("Guideline for cover" in i.value and "title visible" in i.value for i in at.info)
    at.selectbox(key="label_class").set_value("text").run()
    assert not any("Guideline for" in i.value for i in at.info)
    at = _review(_app(_user(ALICE), "app_pages/label.py"))
    assert not [b for b in at.button if b.key == "label_guideline_save"]  # annotators do not write them


def _thumbnail_captions(at: AppTest) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def test_a_lead_picks_example_images_the_annotator_sees_them_and_a_viewer_cannot(team):
    from clipcore.team.guidelines import read_guideline_examples

    ws = app_workspace(team)
    truth = ws.ground_truth()
    covers = [i for i in sorted(truth) if truth[i] == "cover"]
    names = ws.paths(covers)
    at = _review(_app(_user(LEAD), "app_pages/label.py"))
    at.selectbox(key="label_guideline_class").set_value("cover").run()
    picker = at.multiselect(key="label_guideline_examples")
    assert set(picker.options) == {names[i] for i in covers}  # the images of that class, by file name
    picker.set_value([covers[1], covers[0]]).run()
    assert _thumbnail_captions(at) == [names[covers[1]].rsplit("/", 1)[-1], names[covers[0]].rsplit("/", 1)[-1]]
    at.button(key="label_guideline_save").click().run()
    assert not at.exception and read_guideline_examples(ws) == {"cover": [covers[1], covers[0]]}

    at = _app(_user(ALICE), "app_pages/label.py")
    at.selectbox(key="label_class").set_value("cover").run()
    assert any("Examples of cover" in i.value for i in at.info)  # no text written: the examples alone
    (shown,) = at.get("image")
    thumbs = [ws.thumbnail_path(r.content_hash).read_bytes() for r in ws.images([covers[1], covers[0]])]
    assert shown.value == [f"data:image/jpeg;base64,{base64.b64encode(t).decode()}" for t in thumbs]  # never an original
    at.selectbox(key="label_class").set_value("text").run()
    assert not any("Examples of" in i.value for i in at.info) and not at.get("image")

    at = _review(_app(_user(GUEST), "app_pages/label.py"))
    assert not [w for w in at.multiselect if w.key == "label_guideline_examples"]
    assert not [b for b in at.button if b.key == "label_guideline_save"]
