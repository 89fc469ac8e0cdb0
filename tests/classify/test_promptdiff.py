"""Prompt versions side by side (clipcore.classify.promptdiff)."""

from __future__ import annotations

import numpy as np

from clipcore.classify.promptdiff import diff_prompt_sets, diff_templates, flipped_predictions
from clipcore.classify.prompts import PromptSet
from clipcore.classify.zeroshot import ZeroShotResult


def test_the_diff_says_per_class_what_was_added_removed_and_kept():
    a = PromptSet("p", {"cover": ["a cover", "a book cover"], "map": ["a map"], "text": ["text"]}, ["a scan of {}"], 1)
    b = PromptSet("p", {"cover": ["a book cover", "a binding"], "map": ["a map"], "blank": ["an empty page"]}, ["a photo of {}"], 2)
    by = {d.name: d for d in diff_prompt_sets(a, b)}
    assert [d.name for d in diff_prompt_sets(a, b)] == ["cover", "map", "text", "blank"]
    assert (by["cover"].status, by["cover"].removed, by["cover"].added, by["cover"].kept) == (
        "changed", ["a cover"], ["a binding"], ["a book cover"])
    assert by["map"].status == "same" and by["map"].added == by["map"].removed == []
    assert (by["text"].status, by["text"].removed) == ("removed", ["text"])
    assert (by["blank"].status, by["blank"].added) == ("added", ["an empty page"])
    assert diff_templates(a, b) == (["a scan of {}"], ["a photo of {}"])


def _result(labels, ids, winners, conf):
    proba = np.full((len(ids), len(labels)), 0.0, np.float32)
    for row, (w, c) in enumerate(zip(winners, conf)):
        proba[row] = (1 - c) / (len(labels) - 1)
        proba[row, labels.index(w)] = c
    return ZeroShotResult(list(labels), np.asarray(ids, np.int64), proba)


def test_flips_are_the_images_whose_prediction_changed_with_fixed_and_broken():
    labels = ["cover", "map", "text"]
    ids = [10, 11, 12, 13, 14]
    a = _result(labels, ids, ["cover", "map", "text", "cover", "map"], [0.9] * 5)
    b = _result(labels, ids, ["map", "map", "cover", "text", "cover"], [0.5, 0.9, 0.8, 0.6, 0.7])
    truth = {10: "map", 12: "text", 13: "map"}  # 10 fixed, 12 broken, 13 wrong both times, 14 no truth
    flips = flipped_predictions(a, b, truth)
    assert flips.ids.tolist() == [12, 14, 13, 10]  # most confident in B first; 11 did not change
    assert dict(zip(flips.ids.tolist(), flips.kind.tolist())) == {10: "fixed", 12: "broken", 13: "changed", 14: "changed"}
    assert flips.counts() == {"fixed": 1, "broken": 1, "changed": 2} and flips.compared == 5
    assert flips.of_kind("fixed").tolist() == [10]
    assert (flips.a.tolist(), flips.b.tolist()) == (["text", "map", "cover", "cover"], ["cover", "cover", "text", "map"])
    # Plain Python, image by image, agrees:
    pa, pb = dict(zip(ids, a.predicted)), dict(zip(ids, b.predicted))
    assert set(flips.ids.tolist()) == {i for i in ids if pa[i] != pb[i]}


def test_only_images_both_scored_count():
    labels = ["cover", "map"]
    a = _result(labels, [1, 2, 3], ["cover", "cover", "map"], [0.9] * 3)
    b = _result(labels, [2, 3, 4], ["map", "map", "cover"], [0.9] * 3)
    flips = flipped_predictions(a, b)
    assert flips.ids.tolist() == [2] and flips.compared == 2 and flips.kind.tolist() == ["changed"]
