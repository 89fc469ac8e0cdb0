"""Label arrays: the same labels as the dict forms, without a dict of every id; the
ranking's few-shot suggestions are identical from either form (untrained tiny model)."""

from __future__ import annotations

import numpy as np

from clipcore.catalog.labels import current_label_arrays, current_labels, ground_truth_arrays, record_batch, revert_batch
from clipcore.team.ranking import few_shot_probabilities


def _as_dict(arrays) -> dict[int, str]:
    return {int(i): arrays.classes[int(c)] for i, c in zip(arrays.ids, arrays.codes)}


def test_arrays_match_the_dict_forms(workspace):
    ids = sorted(workspace.ground_truth())
    assert _as_dict(ground_truth_arrays(workspace)) == workspace.ground_truth()
    assert len(current_label_arrays(workspace)) == 0 and current_label_arrays(workspace).counts() == {}
    record_batch(workspace, "b", ids[:5], annotator="x", source={"kind": "test"})
    record_batch(workspace, "a", ids[3:8], annotator="y", source={"kind": "test"})  # relabels 3, 4
    undone = record_batch(workspace, "c", ids[6:9], annotator="x", source={"kind": "test"})
    revert_batch(workspace, undone, annotator="x")  # 6, 7 go back to "a"; 8 has no label
    arrays = current_label_arrays(workspace)
    assert _as_dict(arrays) == current_labels(workspace)
    assert arrays.counts() == {"a": 5, "b": 3} and arrays.classes == ["a", "b"]
    assert np.array_equal(arrays.codes_of(np.asarray([ids[0], ids[8], ids[3]])), [1, -1, 0])


def test_ranking_gives_the_same_suggestions_from_arrays(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    ids = [int(i) for i in matrix.ids]
    record_batch(workspace, "a", ids[:6], annotator="x", source={"kind": "test"})
    record_batch(workspace, "b", ids[6:12], annotator="x", source={"kind": "test"})
    from_dict = few_shot_probabilities(matrix, current_labels(workspace), out_of_fold=True)
    from_arrays = few_shot_probabilities(matrix, current_label_arrays(workspace), out_of_fold=True)
    assert from_arrays.classes == from_dict.classes and from_arrays.honest == from_dict.honest
    np.testing.assert_allclose(from_arrays.proba, from_dict.proba)


def test_the_label_loop_learns_and_plans_the_same_from_arrays(workspace, tiny_model):
    """fit_class_scorer and plan_auto_accept (the Label page's learn-as-you-go and
    auto-accept) give the same answer from LabelArrays as from the dict form."""
    from clipcore.catalog.labels import annotator_stats, label_progress
    from clipcore.team.ranking import fit_class_scorer, plan_auto_accept

    truth = workspace.ground_truth()
    by: dict[str, list[int]] = {}
    for i, c in sorted(truth.items()):
        by.setdefault(c, []).append(i)
    for c, members in by.items():
        record_batch(workspace, c, members[:5], annotator="ada" if c < "m" else "bob", source={"kind": "test"})
    matrix = workspace.load_embeddings(tiny_model.info.key)
    arrays, mapping = current_label_arrays(workspace), current_labels(workspace)
    rejected = [by["cover"][6]]
    a = fit_class_scorer(matrix, arrays, "cover", rejected)
    b = fit_class_scorer(matrix, mapping, "cover", rejected)
    x = np.asarray(matrix.vectors, dtype=np.float32)
    np.testing.assert_allclose(a.score(x), b.score(x), rtol=1e-6)
    probs = few_shot_probabilities(matrix, arrays, out_of_fold=True)
    plans_a = plan_auto_accept(probs, arrays, 0.5, min_support=1)
    plans_b = plan_auto_accept(probs, mapping, 0.5, min_support=1)
    assert [(p.label, p.threshold, p.image_ids) for p in plans_a] == [(p.label, p.threshold, p.image_ids) for p in plans_b]
    assert label_progress(workspace, total=len(truth))["per_class"] == {c: 5 for c in by}
    held = {s["annotator"]: s["current"] for s in annotator_stats(workspace)}
    assert held == {"ada": 5 * sum(c < "m" for c in by), "bob": 5 * sum(c >= "m" for c in by)}
