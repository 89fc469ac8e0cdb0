"""Learning-curve evaluation on the frozen hold-out, sanity warnings, stored runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clipcore import UNTRAINED_WARNING
from clipcore.classify import evaluation
from clipcore.errors import InputError
from clipcore.classify.evaluation import _sanity_warnings, evaluate, list_runs, save_run
from clipcore.classify.prompts import ensure_reference_prompt_set
from clipcore.classify.splits import get_split

METHODS = ("zero_shot", "logreg", "knn", "zero_shot_prior")


def test_evaluate_scores_every_method_on_the_frozen_hold_out(workspace, tiny_model):
    prompts = ensure_reference_prompt_set(workspace)
    matrix = workspace.load_embeddings(tiny_model.info.key)
    seen = []
    result = evaluate(
        workspace, matrix, model=tiny_model, prompt_set=prompts, methods=METHODS, ks=(1, 2, 8, "all"), draws=3,
        progress=lambda d, t: seen.append((d, t)),
    )
    split = get_split(workspace)
    assert result.split.test_ids == split.test_ids
    # zero-shot once (k=0); each other method: k=1 and k=2 three draws each, "all" once; k=8 > 7 per class dropped.
    assert len(result.rows) == 1 + 3 * (3 + 3 + 1)
    assert {(r["method"], r["k"]) for r in result.rows if r["method"] == "zero_shot"} == {("zero_shot", 0)}
    assert any("k = [8] dropped" in w for w in result.warnings)
    assert UNTRAINED_WARNING in result.warnings
    assert seen[-1] == (len(result.rows), len(result.rows))
    by = {(s["method"], s["k"]): s for s in result.summary}
    assert by[("logreg", 1)]["n_draws"] == 3 and by[("logreg", "all")]["n_draws"] == 1
    errs = [r["error_rate"] for r in result.rows if r["method"] == "logreg" and r["k"] == 1]
    assert by[("logreg", 1)]["mean"] == pytest.approx(np.mean(errs))
    assert by[("logreg", 1)]["std"] == pytest.approx(np.std(errs, ddof=1))
    for method in METHODS:
        cm = result.confusion_matrices[method]
        assert cm["labels"] == sorted(split.classes)
        assert sum(map(sum, cm["matrix"])) == len(split.test_ids)
        assert set(result.predictions[method]) == set(split.test_ids)
    out = result.to_dict()
    json.dumps(out)  # JSON-serialisable
    assert out["split"]["test_ids"] == split.test_ids and out["split"]["seed"] == 0
    assert {"method", "k", "mean", "std"} <= set(out["error_rates"][0])
    # A second evaluation reports the same hold-out.
    again = evaluate(workspace, matrix, model=tiny_model, prompt_set=prompts, methods=("knn",), ks=(1,), draws=1)
    assert again.split.test_ids == result.split.test_ids


def test_nothing_trains_on_the_hold_out(workspace, tiny_model, monkeypatch):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    fitted_rows: list[np.ndarray] = []
    real = evaluation.make_classifier

    def spy(method, **kw):
        clf = real(method, **kw)
        fit = clf.fit

        def recording_fit(X, y=None):
            fitted_rows.append(np.asarray(X))
            return fit(X, y)

        clf.fit = recording_fit
        return clf

    monkeypatch.setattr(evaluation, "make_classifier", spy)
    result = evaluate(workspace, matrix, model=tiny_model, prompt_set=None, methods=("logreg", "knn"), ks=(1, "all"), draws=2)
    test_vecs = np.asarray(matrix.vectors[matrix.rows_of(result.split.test_ids)])
    assert len(fitted_rows) == 2 * 3
    for X in fitted_rows:
        assert not np.any(np.all(np.isclose(X[:, None, :], test_vecs[None, :, :]), axis=2))
    assert max(len(X) for X in fitted_rows) == len(result.split.train_ids)


def test_without_labels_evaluation_says_what_to_do(workspace, tiny_model):
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM ground_truth")
    matrix = workspace.load_embeddings(tiny_model.info.key)
    with pytest.raises(InputError, match="no labelled images"):
        evaluate(workspace, matrix, model=tiny_model, prompt_set=None)
    with pytest.raises(InputError, match="unknown method"):
        evaluate(workspace, matrix, model=tiny_model, prompt_set=None, methods=("svm",))


def test_sanity_warnings_flag_suspicious_curves():
    summary = [
        {"method": "zero_shot", "k": 0, "mean": 0.40},
        {"method": "logreg", "k": 1, "mean": 0.05},  # 1-shot far better than zero-shot
        {"method": "logreg", "k": "all", "mean": 0.70},  # full data worse than zero-shot
        {"method": "knn", "k": 1, "mean": 0.35},
        {"method": "knn", "k": "all", "mean": 0.38},
    ]
    warnings = _sanity_warnings(summary, n_test=100)
    assert len(warnings) == 2
    assert "logistic regression with 1 example per class" in warnings[0]
    assert "logistic regression trained on every training image" in warnings[1]
    assert _sanity_warnings(summary[3:], n_test=100) == []  # no zero-shot row, nothing to compare


def test_runs_are_stored_and_listed_newest_first(workspace):
    first = save_run(workspace, "evaluation", {"draws": 1}, {"error_rates": []})
    second = save_run(workspace, "baseline", {"arch": "tiny"}, {"rows": [1]})
    third = save_run(workspace, "evaluation", {"draws": 2}, {"error_rates": [{"method": "knn"}]})
    assert [r["id"] for r in list_runs(workspace)] == [third, second, first]
    evals = list_runs(workspace, "evaluation")
    assert [r["id"] for r in evals] == [third, first]
    assert evals[0]["settings"] == {"draws": 2} and evals[0]["results"]["error_rates"][0]["method"] == "knn"
    with pytest.raises(InputError):
        save_run(workspace, " ", {}, {})


def _blobs(n_per_class: int, dim: int = 16, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim, dtype=np.float32)[:classes]
    X = np.concatenate([c + 0.3 * rng.standard_normal((n_per_class, dim)).astype(np.float32) for c in centres])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = [f"c{i}" for i in range(classes) for _ in range(n_per_class)]
    return X, y


def test_stratified_sample_keeps_every_class_in_proportion():
    from clipcore.classify.fewshot import stratified_sample

    y = np.array(["a"] * 900 + ["b"] * 90 + ["c"] * 1)
    assert stratified_sample(y, 1000) is None
    idx = stratified_sample(y, 100, seed=1)
    counts = {c: int((y[idx] == c).sum()) for c in "abc"}
    assert counts == {"a": 91, "b": 9, "c": 1}
    assert np.array_equal(idx, np.sort(idx)) and len(set(idx.tolist())) == len(idx)


def test_large_training_sets_get_a_bounded_cv_and_a_final_fit_on_every_example(monkeypatch):
    from clipcore.classify import fewshot

    monkeypatch.setattr(fewshot, "CV_MAX_EXAMPLES", 60)
    X, y = _blobs(100)
    probe = fewshot.LogisticProbe(Cs=(0.1, 10.0, 1000.0)).fit(X, y)
    assert probe.C_ in (0.1, 10.0, 1000.0) and set(probe.cv_log_loss_) == {0.1, 10.0, 1000.0}
    assert (probe.predict(X) == np.array(y)).mean() > 0.9


def test_forest_and_knn_train_within_their_budget(monkeypatch):
    from clipcore.classify import fewshot

    from dataclasses import replace

    methods = fewshot.CLASSIFIER_METHODS  # each method's budget is declared with it
    monkeypatch.setitem(methods, "random_forest", replace(methods["random_forest"], budget=50))
    monkeypatch.setitem(methods, "knn", replace(methods["knn"], budget=40))
    X, y = _blobs(100)
    forest = fewshot.ForestClassifier(n_estimators=10).fit(X, y)
    knn = fewshot.NearestNeighbours().fit(X, y)
    assert forest.n_trained_ <= 52 and knn.n_trained_ <= 42
    assert set(forest.classes_) == set(knn.classes_) == {"c0", "c1", "c2"}
    small = fewshot.NearestNeighbours().fit(X[::10], y[::10])
    assert small.n_trained_ == 30


def test_near_duplicate_check_counts_and_keeps_only_the_closest_pairs():
    from clipcore.catalog.store import EmbeddingMatrix

    rng = np.random.default_rng(0)
    train = rng.standard_normal((200, 32)).astype(np.float32)
    test = rng.standard_normal((100, 32)).astype(np.float32)
    test[:30] = train[:30] + 0.01 * rng.standard_normal((30, 32)).astype(np.float32)  # 30 planted duplicates
    vecs = np.concatenate([train, test])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    matrix = EmbeddingMatrix("m", np.arange(300, dtype=np.int64), vecs)
    train_ids, test_ids = list(range(200)), list(range(200, 300))
    summary, pairs = evaluation.near_duplicate_check(matrix, train_ids, test_ids, keep=5)
    assert summary == {
        "pairs": 30, "test_images_with_duplicate": 30, "test_images_checked": 100, "test_images": 100,
        "threshold": evaluation.NEAR_DUPLICATE_THRESHOLD,
    }
    assert len(pairs) == 5 and [p[2] for p in pairs] == sorted((p[2] for p in pairs), reverse=True)
    sampled, _ = evaluation.near_duplicate_check(matrix, train_ids, test_ids, max_pairs=200 * 50)
    assert sampled["test_images_checked"] == 50 and sampled["test_images"] == 100
    assert 0 < sampled["pairs"] < 30
