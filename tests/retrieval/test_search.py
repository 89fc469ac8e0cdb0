"""Search: filters, query composition, image queries, paging of the ranking."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.errors import InputError
from clipcore.catalog.images import load_query_image
from clipcore.catalog.labels import record_batch, revert_batch
from clipcore.retrieval.search import (
    SearchFilters,
    combine_vectors,
    filter_ids,
    image_vector,
    query_image_vector,
    top_k,
)


def test_no_filter_means_every_image(workspace):
    assert filter_ids(workspace, SearchFilters()) is None


def test_ground_truth_filter_keeps_one_class(workspace):
    truth = workspace.ground_truth()
    ids = filter_ids(workspace, SearchFilters(truth_class="cover"))
    assert ids.dtype == np.int64
    assert sorted(ids.tolist()) == sorted(i for i, c in truth.items() if c == "cover")
    assert filter_ids(workspace, SearchFilters(truth_class="no such class")).size == 0


def test_hide_labelled_and_label_filter_follow_current_labels(workspace):
    all_ids = workspace.image_ids().tolist()
    batch = record_batch(workspace, "cover", all_ids[:3], annotator="ann", source={"kind": "test"})
    record_batch(workspace, "text", all_ids[3:5], annotator="ann", source={"kind": "test"})

    hidden = filter_ids(workspace, SearchFilters(hide_labelled=True)).tolist()
    assert hidden == all_ids[5:]
    assert filter_ids(workspace, SearchFilters(label="cover")).tolist() == all_ids[:3]
    # Ground truth and label filters combine (intersection).
    truth = workspace.ground_truth()
    both = filter_ids(workspace, SearchFilters(label="cover", truth_class=truth[all_ids[0]])).tolist()
    assert all_ids[0] in both and set(both) <= set(all_ids[:3])

    revert_batch(workspace, batch, annotator="ann")
    assert filter_ids(workspace, SearchFilters(hide_labelled=True)).tolist() == all_ids[:3] + all_ids[5:]
    assert filter_ids(workspace, SearchFilters(label="cover")).size == 0


def test_filtered_search_returns_only_allowed_ids(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    allowed = filter_ids(workspace, SearchFilters(truth_class="text"))
    q = tiny_model.encode_texts(["printed text"])[0]
    hits = top_k(matrix, q, k=50, restrict_to=allowed)
    assert sorted(h.id for h in hits) == sorted(allowed.tolist())


def test_pages_of_the_ranking_never_repeat(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    q = tiny_model.encode_texts(["woodblock landscape"])[0]
    full = [h.id for h in top_k(matrix, q, k=len(matrix.ids))]
    pages = [[h.id for h in top_k(matrix, q, k=10, offset=o)] for o in (0, 10, 20, 30)]
    assert sum(pages, []) == full
    assert len(set(full)) == len(full) == 32


def test_negative_term_pushes_results_away(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    pos, neg = tiny_model.encode_texts(["woodblock landscape", "printed text"])
    q = combine_vectors([pos, neg], [1.0, -1.0])
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-5)
    # Every image's score moves by the (negative) similarity to the negative term.
    expected = (matrix.vectors @ pos - matrix.vectors @ neg) / np.linalg.norm(pos - neg)
    got = {h.id: h.score for h in top_k(matrix, q, k=len(matrix.ids))}
    assert [got[int(i)] for i in matrix.ids] == pytest.approx(expected.tolist(), abs=1e-4)
    with pytest.raises(InputError, match="cancel"):
        combine_vectors([pos, pos], [1.0, -1.0])


def test_uploaded_copy_of_an_image_finds_that_image(workspace, tiny_model, demo_dir):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    src = sorted((demo_dir / "illustration").iterdir())[2]
    vec = query_image_vector(tiny_model, load_query_image(src.read_bytes()))
    assert vec.shape == (tiny_model.info.embed_dim,) and vec.dtype == np.float32
    best = top_k(matrix, vec, k=1)[0]
    assert workspace.paths([best.id])[best.id].endswith(src.name)
    assert best.score == pytest.approx(float(image_vector(matrix, best.id) @ vec), abs=1e-5)
    assert best.score > 0.99
    with pytest.raises(InputError, match="cannot be used as an image"):
        load_query_image(b"GIF89a broken")
