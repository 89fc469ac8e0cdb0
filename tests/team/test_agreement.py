"""Team figures (clipcore.team.agreement): progress per class against ground truth, and
agreement between annotators with Cohen's kappa (checked against the formula by hand)."""

from __future__ import annotations

import pytest

from clipcore.catalog import labels as lbl
from clipcore.team.agreement import annotator_agreement, class_progress


def _kappa(la, lb):
    n = len(la)
    po = sum(x == y for x, y in zip(la, lb)) / n
    classes = set(la) | set(lb)
    pe = sum((la.count(c) / n) * (lb.count(c) / n) for c in classes)
    return (po - pe) / (1 - pe)


def test_agreement_on_shared_images_with_kappa(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:4], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "text", ids[4:8], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "cover", ids[:3] + [ids[4]], annotator="bob", source={"kind": "text"})
    lbl.record_batch(workspace, "text", [ids[3]] + ids[5:7], annotator="bob", source={"kind": "text"})
    gone = lbl.record_batch(workspace, "text", ids[:8], annotator="carol", source={"kind": "text"})
    lbl.revert_batch(workspace, gone, annotator="carol")  # reverted: carol shares nothing
    (pair,) = annotator_agreement(workspace)
    la = ["cover"] * 4 + ["text"] * 3
    lb = ["cover"] * 3 + ["text", "cover", "text", "text"]
    assert (pair["a"], pair["b"], pair["images"], pair["agree"]) == ("alice", "bob", 7, 5)
    assert pair["kappa"] == pytest.approx(_kappa(la, lb))


def test_kappa_is_left_out_where_it_does_not_apply(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    lbl.record_batch(workspace, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "cover", ids[:3], annotator="bob", source={"kind": "text"})
    (pair,) = annotator_agreement(workspace)
    assert (pair["agree"], pair["percent"], pair["kappa"]) == (3, 1.0, None)  # one class only


def test_progress_per_class_against_ground_truth(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    truth = workspace.ground_truth()
    covers = [i for i in ids if truth.get(i) == "cover"]
    lbl.record_batch(workspace, "cover", covers[:3], annotator="alice", source={"kind": "text"})
    lbl.record_batch(workspace, "maps", ids[-1:], annotator="alice", source={"kind": "text"})
    got = {r["class"]: (r["labelled"], r["total"]) for r in class_progress(workspace)}
    assert got["cover"] == (3, len(covers)) and got["maps"] == (1, None)
    assert got["text"] == (0, sum(1 for v in truth.values() if v == "text"))


def test_guidelines_are_saved_per_class_and_removed_when_empty(workspace):
    from clipcore.errors import InputError
    from clipcore.team.guidelines import MAX_GUIDELINE_CHARS, read_guidelines, save_guideline

    save_guideline(workspace, "cover", "  The front board, title visible.  ")
    save_guideline(workspace, "text", "Mostly printed text; a small vignette is still text.")
    assert read_guidelines(workspace) == {"cover": "The front board, title visible.",
                                          "text": "Mostly printed text; a small vignette is still text."}
    save_guideline(workspace, "cover", "")
    assert set(read_guidelines(workspace)) == {"text"}
    with pytest.raises(InputError, match="Shorten it"):
        save_guideline(workspace, "text", "x" * (MAX_GUIDELINE_CHARS + 1))


def test_guideline_examples_round_trip_in_order_and_drop_deleted_images(workspace):
    from clipcore.errors import InputError
    from clipcore.team.guidelines import (MAX_GUIDELINE_EXAMPLES, example_candidates, read_guideline_examples,
                                          save_guideline_examples)

    truth = workspace.ground_truth()
    covers = [i for i in sorted(truth) if truth[i] == "cover"]
    assert example_candidates(workspace, "cover") == covers  # nothing labelled yet: the ground truth
    lbl.record_batch(workspace, "cover", [covers[-1]], annotator="alice", source={"kind": "text"})
    assert example_candidates(workspace, "cover")[0] == covers[-1]  # labelled images first
    assert example_candidates(workspace, "cover", limit=2) == [covers[-1], covers[0]]

    save_guideline_examples(workspace, "cover", [covers[2], covers[0], covers[2]])
    save_guideline_examples(workspace, "text", [covers[1]])
    assert read_guideline_examples(workspace) == {"cover": [covers[2], covers[0]], "text": [covers[1]]}
    with workspace.transaction() as conn:  # the file of covers[2] is gone from its folder
        conn.execute("UPDATE images SET missing_since = 'now' WHERE id = ?", (covers[2],))
    assert read_guideline_examples(workspace)["cover"] == [covers[0]]
    with pytest.raises(InputError, match="unknown or missing image"):
        save_guideline_examples(workspace, "cover", [covers[2]])
    with pytest.raises(InputError, match="Keep the clearest"):
        save_guideline_examples(workspace, "cover", covers[: MAX_GUIDELINE_EXAMPLES + 1])
    save_guideline_examples(workspace, "text", [])
    assert set(read_guideline_examples(workspace)) == {"cover"}
