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
