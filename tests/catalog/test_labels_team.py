"""Two annotators at once: no silent overwrite of a colleague's labels, an annotator
reverts only their own batches, and conflicts are settled in bulk."""

from __future__ import annotations

import pytest

from clipcore.catalog import labels as lbl
from clipcore.errors import PermissionDenied


def _ids(ws, n):
    return [int(i) for i in ws.image_ids()][:n]


def test_page_drawn_before_a_colleague_labelled_skips_those_images(workspace):
    ids = _ids(workspace, 6)
    drawn = lbl.label_events_version(workspace)[0]  # alice's page is drawn now
    lbl.record_batch(workspace, "map", ids[:3], annotator="bob", source={"kind": "text"})
    res = lbl.assign_page(workspace, "cover", ids[:5], rejected_ids=ids[5:], annotator="alice", source={"kind": "text"}, drawn_at=drawn)
    assert set(res.skipped) == set(ids[:3]) and set(res.skipped.values()) == {"bob"}
    assert res.skipped_message() == "3 images were labelled by bob since this page was drawn"
    assert (res.assigned, res.rejected) == (2, 1)
    current = lbl.current_labels(workspace)
    assert [current[i] for i in ids[:3]] == ["map"] * 3 and [current[i] for i in ids[3:5]] == ["cover"] * 2


def test_explicit_overwrite_and_own_labels_are_not_skipped(workspace):
    ids = _ids(workspace, 4)
    drawn = lbl.label_events_version(workspace)[0]
    lbl.record_batch(workspace, "map", ids[:2], annotator="bob", source={"kind": "text"})
    lbl.record_batch(workspace, "map", ids[2:3], annotator="alice", source={"kind": "text"})
    res = lbl.assign_page(workspace, "cover", ids, annotator="alice", source={}, drawn_at=drawn)
    assert set(res.skipped) == set(ids[:2])  # her own earlier label is hers to change
    res = lbl.assign_page(workspace, "cover", ids, annotator="alice", source={}, drawn_at=drawn, overwrite=True)
    assert res.skipped == {} and res.assigned == 4
    assert set(lbl.current_labels(workspace).values()) == {"cover"}


def test_everything_skipped_writes_no_batch(workspace):
    ids = _ids(workspace, 2)
    drawn = lbl.label_events_version(workspace)[0]
    lbl.record_batch(workspace, "map", ids, annotator="bob", source={})
    before = len(lbl.list_batches(workspace))
    res = lbl.assign_page(workspace, "cover", ids, annotator="alice", source={}, drawn_at=drawn)
    assert res.batch_id is None and len(res.skipped) == 2
    assert len(lbl.list_batches(workspace)) == before


def test_a_reverted_colleague_batch_does_not_block(workspace):
    ids = _ids(workspace, 2)
    drawn = lbl.label_events_version(workspace)[0]
    b = lbl.record_batch(workspace, "map", ids, annotator="bob", source={})
    lbl.revert_batch(workspace, b, annotator="bob")
    assert lbl.assign_page(workspace, "cover", ids, annotator="alice", source={}, drawn_at=drawn).skipped == {}


def test_only_own_refuses_a_colleagues_batch(workspace):
    ids = _ids(workspace, 2)
    b = lbl.record_batch(workspace, "map", ids, annotator="bob", source={})
    with pytest.raises(PermissionDenied, match="only an admin"):
        lbl.revert_batch(workspace, b, annotator="alice", only_own=True)
    assert lbl.current_labels(workspace) == {i: "map" for i in ids}
    assert lbl.revert_batch(workspace, b, annotator="bob", only_own=True) == 2


def _three_way(ws):
    ids = _ids(ws, 3)
    # image 0: alice map, bob cover, carol cover -> majority cover, latest cover
    # image 1: alice map, bob cover              -> tie: latest (cover) wins both
    # image 2: bob cover, then alice map         -> latest map; majority tie -> map (later)
    lbl.record_batch(ws, "map", ids[:2], annotator="alice", source={})
    lbl.record_batch(ws, "cover", ids[:3], annotator="bob", source={})
    lbl.record_batch(ws, "cover", ids[:1], annotator="carol", source={})
    lbl.record_batch(ws, "map", ids[2:3], annotator="alice", source={})
    return ids


def test_conflicts_know_their_latest_and_majority(workspace):
    ids = _three_way(workspace)
    by_id = {c.image_id: c for c in lbl.find_conflicts(workspace)}
    assert (by_id[ids[0]].latest, by_id[ids[0]].majority) == ("cover", "cover")
    assert (by_id[ids[2]].latest, by_id[ids[2]].majority) == ("map", "map")


@pytest.mark.parametrize(
    "strategy,label,expected",
    [("latest", None, ["cover", "cover", "map"]), ("majority", None, ["cover", "cover", "map"]), ("class", "map", ["map"] * 3)],
)
def test_bulk_resolution_settles_every_conflict_at_once(workspace, strategy, label, expected):
    ids = _three_way(workspace)
    done = lbl.resolve_in_bulk(workspace, strategy, label=label, annotator="lead")
    assert sum(n for _, n in done.values()) == 3
    assert lbl.find_conflicts(workspace) == []
    current = lbl.current_labels(workspace)
    assert [current[i] for i in ids] == expected
    assert all(b["source"]["kind"] == lbl.RESOLUTION_SOURCE for b in lbl.list_batches(workspace) if b["annotator"] == "lead")


def test_rename_annotator_keeps_a_persons_batches_under_a_new_identity(workspace):
    """Issue 19: a team moving [auth] identity from email to the provider's sub keeps owners."""
    ids = _ids(workspace, 4)
    mine = lbl.record_batch(workspace, "map", ids[:2], annotator="alice@lab.org", source={})
    bobs = lbl.record_batch(workspace, "cover", ids[2:], annotator="bob", source={})
    lbl.revert_batch(workspace, bobs, annotator="alice@lab.org")
    lbl.claim_images(workspace, ids[2:], 2, annotator="alice@lab.org")
    moved = lbl.rename_annotator(workspace, "alice@lab.org", "sub-alice")
    assert moved == {"batches": 1, "events": 2, "reverts": 1, "claims": 2}
    assert lbl.last_batch(workspace, "sub-alice")["batch_id"] == mine
    assert lbl.revert_batch(workspace, mine, annotator="sub-alice", only_own=True) == 2
    with pytest.raises(PermissionDenied):
        lbl.revert_batch(workspace, bobs, annotator="alice@lab.org", only_own=True)
    assert lbl.rename_annotator(workspace, "alice@lab.org", "sub-alice")["batches"] == 0  # idempotent
    with pytest.raises(lbl.InputError, match="merge two histories"):
        lbl.rename_annotator(workspace, "bob", "sub-alice")
