"""Frozen hold-out splits: stored, disjoint, stratified or grouped, and training draws."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from clipcore.errors import InputError
from clipcore.classify.splits import (
    draw_training_sets,
    freeze_split,
    get_split,
    labelled_images,
    near_duplicates,
    split_drift,
    usable_ks,
)
from clipcore.catalog.store import EmbeddingMatrix, utc_now


def _add_label_batch(ws, batch_id: str, labels: dict[int, str], reverted: bool = False) -> None:
    now = utc_now()
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO label_batches (id, label, annotator, created_at, source, size, reverted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (batch_id, "mixed", "tester", now, "test", len(labels), now if reverted else None),
        )
        conn.executemany(
            "INSERT INTO label_events (batch_id, image_id, label, kind, annotator, at) VALUES (?, ?, ?, 'assign', 'tester', ?)",
            [(batch_id, i, lbl, now) for i, lbl in labels.items()],
        )


def test_split_is_frozen_stored_disjoint_and_stratified(workspace):
    truth = workspace.ground_truth()
    split = freeze_split(workspace, seed=3)
    assert set(split.train_ids).isdisjoint(split.test_ids)
    assert set(split.train_ids) | set(split.test_ids) == set(truth)
    assert split.labels == truth
    # 8 images per class at 18%: one per class held out, every class on both sides.
    assert split.test_counts() == {c: 1 for c in set(truth.values())}
    assert set(split.train_counts().values()) == {7}
    # Asking again (even with other settings) returns the stored split unchanged.
    again = freeze_split(workspace, seed=99, test_fraction=0.5)
    assert again.test_ids == split.test_ids and again.seed == 3
    assert get_split(workspace).test_ids == split.test_ids
    assert get_split(workspace, "other") is None


def test_another_seed_or_name_gives_another_split(workspace):
    a = freeze_split(workspace, name="a", seed=0, test_fraction=0.5)
    b = freeze_split(workspace, name="b", seed=1, test_fraction=0.5)
    assert len(a.test_ids) == 16 and len(b.test_ids) == 16
    assert a.test_ids != b.test_ids


def test_grouped_split_keeps_each_group_on_one_side(workspace):
    truth = workspace.ground_truth()
    # Four "volumes" per class, two images each.
    by_class: dict[str, list[int]] = {}
    for i in sorted(truth):
        by_class.setdefault(truth[i], []).append(i)
    groups = {i: f"{c}-vol{n // 2}" for c, ids in by_class.items() for n, i in enumerate(ids)}
    workspace.set_ground_truth(truth, "test", groups)
    split = freeze_split(workspace, name="grouped", group_by="folder", test_fraction=0.25)
    side = {}
    for part, ids in (("train", split.train_ids), ("test", split.test_ids)):
        for i in ids:
            side.setdefault(groups[i], set()).add(part)
    assert all(len(parts) == 1 for parts in side.values())
    assert set(split.test_counts()) == set(truth.values())  # every class still held out
    assert get_split(workspace, "grouped").group_by == "folder"


def test_grouped_split_with_one_group_per_class_is_refused(workspace):
    # Flat class folders: the folder of every image is its class, so no class can be on both sides.
    with pytest.raises(InputError, match="grouped split"):
        freeze_split(workspace, name="g", group_by="folder")


def test_degenerate_labels_are_refused(workspace):
    truth = workspace.ground_truth()
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM ground_truth")
    with pytest.raises(InputError, match="no labelled images"):
        freeze_split(workspace)
    workspace.set_ground_truth({i: "text" for i in truth}, "test")
    with pytest.raises(InputError, match="at least 2 classes"):
        freeze_split(workspace)
    first = min(truth)
    workspace.set_ground_truth({first: "cover"}, "test")
    with pytest.raises(InputError, match=r"\['cover'\] have only one labelled image"):
        freeze_split(workspace)
    assert get_split(workspace) is None
    with pytest.raises(InputError, match="test_fraction"):
        freeze_split(workspace, test_fraction=1.5)


def test_label_sources(workspace):
    truth = workspace.ground_truth()
    ids = sorted(truth)
    _add_label_batch(workspace, "b1", {ids[0]: "cover", ids[1]: "cover"})
    _add_label_batch(workspace, "b2", {ids[1]: "text"})
    _add_label_batch(workspace, "b3", {ids[2]: "illustration"}, reverted=True)
    assert labelled_images(workspace, "labels") == {ids[0]: "cover", ids[1]: "text"}
    both = labelled_images(workspace, "both")
    assert both[ids[0]] == "cover" and both[ids[1]] == "text" and both[ids[2]] == truth[ids[2]]
    assert len(both) == len(truth)
    with pytest.raises(InputError, match="label source"):
        labelled_images(workspace, "guesses")


def test_drift_after_freezing_is_reported(workspace):
    truth = workspace.ground_truth()
    late = max(truth)
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM ground_truth WHERE image_id = ?", (late,))
    split = freeze_split(workspace)
    assert late not in split.labels
    assert split_drift(workspace, split) == []
    workspace.set_ground_truth({late: truth[late]}, "test")
    changed = split.train_ids[0]
    workspace.set_ground_truth({changed: "something else"}, "test")
    warnings = split_drift(workspace, split)
    assert any("1 image(s) were labelled after" in w for w in warnings)
    assert any("1 image(s) of split 'default' changed label" in w for w in warnings)
    assert get_split(workspace).labels[changed] == truth[changed]  # the split itself never changes


def test_training_draws_come_from_the_train_side_only(workspace):
    split = freeze_split(workspace)
    test = set(split.test_ids)
    draws = draw_training_sets(split, 2, draws=5, seed=0)
    assert len(draws) == 5
    for ids in draws:
        assert not test & set(ids)
        assert Counter(split.labels[i] for i in ids) == {c: 2 for c in split.classes}
    assert len({tuple(d) for d in draws}) > 1  # draws differ
    assert draw_training_sets(split, 2, draws=5, seed=0) == draws  # and are reproducible
    assert draw_training_sets(split, "all", draws=5, seed=0) == [sorted(split.train_ids)]
    with pytest.raises(InputError, match="above the smallest class"):
        draw_training_sets(split, 8, draws=1, seed=0)
    with pytest.raises(InputError, match="positive whole number"):
        draw_training_sets(split, 0, draws=1, seed=0)
    assert usable_ks(split, [1, 4, 8, 16, "all"]) == ([1, 4, "all"], [8, 16])


def test_near_duplicates_finds_close_pairs_only():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((6, 16)).astype(np.float32)
    vecs[5] = vecs[0] + 0.01 * rng.standard_normal(16)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    matrix = EmbeddingMatrix("k", np.arange(10, 16, dtype=np.int64), vecs)
    pairs = near_duplicates(matrix, [10, 11, 12], [13, 14, 15, 99], threshold=0.97)
    assert [(a, b) for a, b, _ in pairs] == [(10, 15)]
    assert pairs[0][2] > 0.99
    assert near_duplicates(matrix, [10, 11, 12], [13, 14, 15], threshold=-1.0)[0][2] >= near_duplicates(
        matrix, [10, 11, 12], [13, 14, 15], threshold=-1.0
    )[-1][2]
    assert len(near_duplicates(matrix, [10, 11, 12], [13, 14, 15], threshold=-1.0)) == 9


def test_stratified_folds_come_from_sklearn_and_keep_every_class_in_every_fold():
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from clipcore.classify.splits import stratified_folds

    y = ["a"] * 10 + ["b"] * 7 + ["c"] * 3
    fold = stratified_folds(y, 5, seed=3)
    expected = np.zeros(len(y), dtype=np.int64)
    with pytest.warns(UserWarning, match="least populated class"):  # what stratified_folds keeps quiet
        for k, (_, test) in enumerate(StratifiedKFold(5, shuffle=True, random_state=3).split(y, y)):
            expected[test] = k
    assert np.array_equal(fold, expected)
    for k in range(5):
        members = [c for c, f in zip(y, fold) if f == k]
        assert {"a", "b"} <= set(members)  # classes of 5+ examples are in every fold
    tiny = stratified_folds(["a", "a", "b", "b", "b"], 5)  # every class smaller than 5: 3 folds
    assert sorted(set(tiny.tolist())) == [0, 1, 2]
    assert stratified_folds(["a"], 5).tolist() == [0]
