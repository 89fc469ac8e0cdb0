"""The labelling loop's next page without Streamlit: what it leaves out, learn as you go,
claims, and a query through the index."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.catalog import labels as lbl
from clipcore.errors import InputError
from clipcore.team.loop import PageRequest, next_page


def _scores(matrix, ids_first):
    """Class scores that rank ``ids_first`` on top, in that order."""
    scores = np.zeros(len(matrix.ids), dtype=np.float32)
    for rank, i in enumerate(ids_first):
        scores[int(np.flatnonzero(matrix.ids == i)[0])] = 1.0 - rank / 100
    return scores


def test_next_page_leaves_out_labelled_rejected_skipped_and_claimed(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    ids = [int(i) for i in matrix.ids]
    top = ids[:12]
    lbl.record_batch(workspace, "cover", top[:2], annotator="ada", source={})  # labelled
    lbl.assign_page(workspace, "cover", [top[2]], annotator="ada", source={}, rejected_ids=[top[3]],
                    drawn_at=lbl.label_events_version(workspace)[0])  # 2 labelled, 3 rejected
    lbl.claim_images(workspace, [top[5]], 1, annotator="bob")  # held by someone else
    scores = _scores(matrix, top)
    labels = lbl.current_label_arrays(workspace)
    page = next_page(workspace, matrix, labels, PageRequest("cover", 4, class_scores=scores, skipped=[top[4]]),
                     annotator="ada")
    assert page.ids == [top[5], top[6], top[7], top[8]] and not page.reranked  # without claims bob's image shows
    claimed = next_page(workspace, matrix, labels, PageRequest("cover", 4, class_scores=scores, claim=True,
                                                               skipped=[top[4]]), annotator="ada")
    assert claimed.ids == [top[6], top[7], top[8], top[9]]
    assert set(lbl.claimed_by_others(workspace, "bob")) == set(claimed.ids)  # now ada's: others skip them
    assert set(page.scores) == set(page.ids)


def test_learn_as_you_go_reranks_once_there_are_positives_and_negatives(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    truth = workspace.ground_truth()
    ids = [int(i) for i in matrix.ids]
    labels = lbl.current_label_arrays(workspace)
    scores = _scores(matrix, ids)
    assert not next_page(workspace, matrix, labels, PageRequest("cover", 5, class_scores=scores, learn=True),
                         annotator="ada").reranked  # nothing labelled: nothing to learn from
    covers = [i for i in ids if truth[i] == "cover"][:3]
    others = [i for i in ids if truth[i] != "cover"][:3]
    lbl.record_batch(workspace, "cover", covers, annotator="ada", source={})
    lbl.record_batch(workspace, "text", others, annotator="ada", source={})
    labels = lbl.current_label_arrays(workspace)
    page = next_page(workspace, matrix, labels, PageRequest("cover", 5, class_scores=scores, learn=True), annotator="ada")
    assert page.reranked and len(page.ids) == 5 and not set(page.ids) & set(covers + others)


def test_a_query_goes_through_the_index(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    first = int(matrix.ids[0])
    query = np.asarray(matrix.vectors[0], dtype=np.float32)
    page = next_page(workspace, matrix, lbl.current_label_arrays(workspace), PageRequest("cover", 3, query=query),
                     annotator="ada")
    assert page.ids[0] == first and len(page.ids) == 3
    with pytest.raises(InputError, match="not both or neither"):
        next_page(workspace, matrix, lbl.current_label_arrays(workspace), PageRequest("cover", 3), annotator="ada")
