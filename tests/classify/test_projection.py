"""2-D projections for the embedding map."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.classify.projection import project_2d


def test_project_2d_pca_recovers_the_main_axis_and_is_deterministic():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    x = np.outer(t, [3.0, 0, 0, 0]) + np.outer(rng.normal(size=200), [0, 1.0, 0, 0]) + 0.01 * rng.normal(size=(200, 4))
    xy = project_2d(x.astype(np.float32))
    assert xy.shape == (200, 2) and xy.dtype == np.float32
    assert abs(np.corrcoef(xy[:, 0], t)[0, 1]) > 0.99
    assert np.array_equal(xy, project_2d(x.astype(np.float32)))
    assert xy[:, 0].var() > xy[:, 1].var()


def test_project_2d_tsne_and_bad_input():
    from clipcore.errors import InputError

    x = np.random.default_rng(1).normal(size=(30, 8)).astype(np.float32)
    assert project_2d(x, "tsne").shape == (30, 2)
    with pytest.raises(InputError):
        project_2d(x, "umap")
    with pytest.raises(InputError):
        project_2d(x[:1])


def test_tsne_keeps_clustered_classes_apart_better_than_pca():
    from clipcore.classify.projection import clustered_vectors, default_method, measure_projections

    x, y = clustered_vectors(n_classes=4, per_class=40, dim=64, spread=2.0, seed=0)
    m = measure_projections(x, y, k=5)
    assert m["tsne"]["knn_class_agreement"] > m["pca"]["knn_class_agreement"]
    assert 0.0 <= m["pca"]["trustworthiness"] <= 1.0
    assert default_method(200) == "tsne" and default_method(1_000_000) == "pca"
