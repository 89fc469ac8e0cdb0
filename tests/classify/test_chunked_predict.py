"""Chunked scoring (memory-mapped vectors read a chunk at a time) equals the in-memory
result. Untrained tiny model: the numbers mean nothing, only their agreement."""

from __future__ import annotations

import numpy as np

from clipcore.catalog.labels import record_batch
from clipcore.classify.fewshot import predict_unlabelled
from clipcore.classify.prompts import save_prompt_set
from clipcore.classify.zeroshot import build_classifier, classify_matrix

PROMPTS = {"cover": ["a book cover"], "text": ["a page of printed text"], "map": ["an old map"]}


def test_chunked_zero_shot_equals_in_memory(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    clf = build_classifier(tiny_model, save_prompt_set(workspace, "s", PROMPTS))
    whole = clf.predict_proba(np.asarray(matrix.vectors))
    seen = []
    chunked = classify_matrix(clf, matrix, chunk=5, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(chunked.proba, whole, rtol=1e-6, atol=1e-7)
    assert seen[-1] == (len(matrix.ids), len(matrix.ids)) and len(seen) == -(-len(matrix.ids) // 5)


def test_chunked_few_shot_equals_one_chunk(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    ids = [int(i) for i in matrix.ids]
    record_batch(workspace, "a", ids[:4], annotator="t", source={"kind": "test"})
    record_batch(workspace, "b", ids[4:8], annotator="t", source={"kind": "test"})
    one = predict_unlabelled(workspace, matrix, method="logreg", source="labels", chunk=10_000)
    seen = []
    small = predict_unlabelled(workspace, matrix, method="logreg", source="labels", chunk=3, progress=lambda d, t: seen.append(d))
    assert np.array_equal(one.ids, small.ids) and not set(ids[:8]) & set(one.ids.tolist())
    np.testing.assert_allclose(small.proba, one.proba, rtol=1e-6, atol=1e-7)
    assert seen[-1] == len(one.ids) and len(seen) == -(-len(one.ids) // 3)
