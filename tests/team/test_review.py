"""The review queue (clipcore.team.review): a lead accepts or corrects a colleague's batches."""

from __future__ import annotations

import pytest

from clipcore.catalog import labels as lbl
from clipcore.errors import InputError
from clipcore.team import review


def _batch(ws, who, label, ids):
    return lbl.record_batch(ws, label, ids, annotator=who, source={"kind": "text", "query": label})


def test_the_queue_holds_colleagues_unreviewed_batches_newest_first(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    a1 = _batch(workspace, "alice", "cover", ids[:3])
    b1 = _batch(workspace, "bob", "map", ids[3:5])
    own = _batch(workspace, "lead", "map", ids[5:6])
    gone = _batch(workspace, "bob", "text", ids[6:7])
    lbl.revert_batch(workspace, gone, annotator="bob")
    queue = review.review_queue(workspace, "lead")
    assert [b["batch_id"] for b in queue] == [b1, a1]  # not the lead's own, not a reverted one
    assert own not in {b["batch_id"] for b in queue}
    assert [b["batch_id"] for b in review.review_queue(workspace, "lead", annotator="alice")] == [a1]
    assert review.batch_images(workspace, a1) == ids[:3]


def test_accepting_records_the_review_and_leaves_the_queue(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    a1 = _batch(workspace, "alice", "cover", ids[:3])
    review.accept_batch(workspace, a1, reviewer="lead")
    assert review.review_queue(workspace, "lead") == []
    got = review.reviews(workspace)[a1]
    assert (got["reviewer"], got["verdict"], got["correction_batch"]) == ("lead", "accepted", None)
    assert lbl.current_labels(workspace) == {i: "cover" for i in ids[:3]}  # accepting changes no label
    with pytest.raises(InputError, match="reviewed already"):
        review.accept_batch(workspace, a1, reviewer="lead")


def test_a_correction_is_a_new_batch_recorded_with_the_review(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    a1 = _batch(workspace, "alice", "cover", ids[:4])
    fix = review.correct_batch(workspace, a1, ids[1:3], "map", reviewer="lead")
    current = lbl.current_labels(workspace)
    assert current == {ids[0]: "cover", ids[1]: "map", ids[2]: "map", ids[3]: "cover"}
    newest = lbl.list_batches(workspace)[0]
    assert (newest["batch_id"], newest["annotator"], newest["class"], newest["size"]) == (fix, "lead", "map", 2)
    assert newest["source"]["kind"] == "review" and newest["source"]["reviews"] == a1
    got = review.reviews(workspace)[a1]
    assert (got["verdict"], got["correction_batch"]) == ("corrected", fix)
    assert review.review_queue(workspace, "other") == []  # neither the batch nor its correction waits
    lbl.revert_batch(workspace, fix, annotator="lead")  # the correction is an ordinary batch: revertible
    assert lbl.current_labels(workspace) == {i: "cover" for i in ids[:4]}


def test_a_failed_review_write_leaves_no_correction_batch(workspace, monkeypatch):
    ids = [int(i) for i in workspace.image_ids()]
    a1 = _batch(workspace, "alice", "cover", ids[:4])
    review.accept_batch(workspace, a1, reviewer="lead")
    # The batch is reviewed already: the review row fails inside the batch's transaction.
    monkeypatch.setattr(review, "_check_reviewable", lambda ws, b, r: {"label": "cover"})
    with pytest.raises(InputError, match="reviewed already"):
        review.correct_batch(workspace, a1, ids[:1], "map", reviewer="lead")
    assert len(lbl.list_batches(workspace)) == 1 and lbl.current_labels(workspace)[ids[0]] == "cover"


def test_bad_reviews_are_refused_with_a_reason(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    a1 = _batch(workspace, "alice", "cover", ids[:3])
    with pytest.raises(InputError, match="your own"):
        review.accept_batch(workspace, a1, reviewer="alice")
    with pytest.raises(InputError, match="not in batch"):
        review.correct_batch(workspace, a1, [ids[10]], "map", reviewer="lead")
    with pytest.raises(InputError, match="accept it instead"):
        review.correct_batch(workspace, a1, ids[:1], "cover", reviewer="lead")
    with pytest.raises(InputError, match="pick the images"):
        review.correct_batch(workspace, a1, [], "map", reviewer="lead")
    with pytest.raises(InputError, match="no label batch"):
        review.accept_batch(workspace, "f" * 32, reviewer="lead")
    lbl.revert_batch(workspace, a1, annotator="alice")
    with pytest.raises(InputError, match="reverted"):
        review.accept_batch(workspace, a1, reviewer="lead")
