"""Few-shot classifiers: estimator conventions, the zero-shot prior, predictions for unlabelled images."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from clipcore.errors import InputError
from clipcore.classify.fewshot import METHODS, ZeroShotPriorProbe, cross_validated_labelled, make_classifier, predict_unlabelled
from clipcore.classify.splits import freeze_split
from clipcore.classify.zeroshot import ZeroShotClassifier
from clipcore.embedding.models import embedding_set_key

TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key

CLASSES = ["blank page", "cover", "illustration", "text"]


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def synthetic(seed: int, dim: int = 32, per_class: int = 40, spread: float = 1.5, prompt_offset: float = 0.15):
    """Class clusters on the sphere; each prompt embedding lies near its class centre.

    Returns (X (n, dim) float32 unit rows, y (n,) class names, zero-shot classifier).
    """
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((len(CLASSES), dim)))
    prompts = _unit(centres + prompt_offset * rng.standard_normal((len(CLASSES), dim)) / np.sqrt(dim))
    X = np.concatenate([_unit(c + spread * rng.standard_normal((per_class, dim)) / np.sqrt(dim)) for c in centres])
    y = np.repeat(np.asarray(CLASSES, dtype=object), per_class)
    return X, y, ZeroShotClassifier(list(CLASSES), prompts, 14.3, "synthetic")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_estimator_conventions(method):
    X, y, zs = synthetic(0, per_class=10)
    est = make_classifier(method, zero_shot=zs, seed=1)
    params = est.get_params()
    cloned = clone(est)
    assert type(cloned) is type(est) and cloned is not est
    assert cloned.get_params().keys() == params.keys()
    assert not hasattr(cloned, "classes_")  # nothing learned before fit
    assert cloned.fit(X, y) is cloned  # fit returns self
    learned = [k for k in vars(cloned) if k not in params]
    assert learned and all(k.endswith("_") for k in learned)
    proba = cloned.predict_proba(X[:7])
    assert proba.shape == (7, len(cloned.classes_)) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(cloned.predict(X[:7])) == [cloned.classes_[j] for j in proba.argmax(axis=1)]
    assert cloned.score(X, y) > 0.5  # separable data: every method learns (zero-shot knows) the classes


def test_zero_shot_prior_beats_plain_logistic_regression_at_one_shot():
    """Averaged over many draws: prompts near the class centres are worth more than one example."""
    errors = {"zero_shot_prior": [], "logreg": []}
    for seed in range(8):
        X, y, zs = synthetic(seed)
        rng = np.random.default_rng(1000 + seed)
        train = np.array([rng.choice(np.flatnonzero(y == c)) for c in CLASSES])
        test = np.setdiff1d(np.arange(len(y)), train)
        for method in errors:
            clf = make_classifier(method, zero_shot=zs, seed=seed).fit(X[train], y[train])
            errors[method].append(float(np.mean(clf.predict(X[test]) != y[test])))
    prior, logreg = np.mean(errors["zero_shot_prior"]), np.mean(errors["logreg"])
    assert prior < logreg - 0.05, errors


def test_zero_shot_prior_interpolates_between_zero_shot_and_data():
    X, y, zs = synthetic(3, per_class=20, prompt_offset=3.0)  # poor prompts
    train = np.arange(0, len(y), 2)
    stiff = ZeroShotPriorProbe(zero_shot=zs, lambdas=(1e6,)).fit(X[train], y[train])
    # An overwhelming prior reproduces the zero-shot classifier exactly.
    np.testing.assert_allclose(stiff.predict_proba(X), zs.predict_proba(X), atol=1e-3)
    tuned = ZeroShotPriorProbe(zero_shot=zs).fit(X[train], y[train])
    test = np.arange(1, len(y), 2)
    assert tuned.lambda_ < 1e3  # with 20 examples per class the data win over poor prompts
    assert tuned.score(X[test], y[test]) > stiff.score(X[test], y[test])


def test_bad_method_and_missing_prompts_are_input_errors():
    with pytest.raises(InputError, match="unknown method"):
        make_classifier("svm")
    with pytest.raises(InputError, match="needs the zero-shot classifier"):
        make_classifier("zero_shot_prior")
    X, y, _ = synthetic(0, per_class=3)
    with pytest.raises(InputError, match="at least 2 classes"):
        make_classifier("logreg").fit(X[:3], y[:3])
    with pytest.raises(InputError, match="3 rows but y has 2"):
        make_classifier("knn").fit(X[:3], y[:2])


def test_predict_unlabelled_skips_the_hold_out_and_predicts_the_rest(workspace):
    truth = workspace.ground_truth()
    split = freeze_split(workspace)
    unlabelled = [i for i in split.train_ids[::4]]
    with workspace.transaction() as conn:
        conn.executemany("DELETE FROM ground_truth WHERE image_id = ?", [(i,) for i in unlabelled])
    matrix = workspace.load_embeddings(TINY_KEY)
    pred = predict_unlabelled(workspace, matrix, method="logreg", source="ground_truth")
    assert sorted(pred.ids.tolist()) == sorted(unlabelled)
    assert pred.held_out == len(split.test_ids) and pred.split_name == "default"
    assert sum(pred.train_counts.values()) == len(truth) - len(unlabelled) - len(split.test_ids)
    assert pred.proba.shape == (len(unlabelled), 4)
    doubtful = pred.least_confident(3)
    margins = dict(zip(pred.ids.tolist(), pred.margin.tolist()))
    assert [margins[i] for i in doubtful] == sorted(margins.values())[:3]
    recs = pred.records()
    assert {r["id"] for r in recs} == set(unlabelled) and "p(cover)" in recs[0]


def test_predict_unlabelled_never_freezes_a_split(workspace):
    from clipcore.classify.splits import get_split

    matrix = workspace.load_embeddings(TINY_KEY)
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM ground_truth WHERE image_id = ?", (int(matrix.ids[0]),))
    pred = predict_unlabelled(workspace, matrix, method="knn", source="ground_truth")
    assert get_split(workspace, "default") is None  # a read froze nothing
    assert pred.split_name is None and pred.held_out == 0
    assert any("no hold-out split 'default' is frozen yet" in n for n in pred.notes)
    freeze_split(workspace, source="ground_truth")  # the explicit action
    pred = predict_unlabelled(workspace, matrix, method="knn", source="ground_truth")
    assert pred.split_name == "default" and pred.held_out == 4
    with pytest.raises(InputError, match="at least 2 classes outside the hold-out"):
        predict_unlabelled(workspace, matrix, method="knn", source="labels")


def test_cross_validated_labelled_predicts_every_training_image_without_seeing_it(workspace):
    split = freeze_split(workspace, name="default", seed=0)
    matrix = workspace.load_embeddings(next(iter(workspace.embedding_keys())))
    cv = cross_validated_labelled(workspace, matrix, method="knn")
    truth = workspace.ground_truth()
    assert set(cv.ids.tolist()) == set(truth) - set(split.test_ids)
    assert cv.truth == [truth[int(i)] for i in cv.ids]
    order = cv.mistakes_first()
    wrong = [cv.truth[r] != cv.predicted[r] for r in order]
    assert wrong == sorted(wrong, reverse=True)
    with pytest.raises(InputError):
        cross_validated_labelled(workspace, matrix, method="knn", source="labels")


def test_bounded_budgets_sample_training_prediction_and_cross_validation_and_say_so(workspace):
    split = freeze_split(workspace)
    truth = workspace.ground_truth()
    unlabelled = split.train_ids[::3]
    with workspace.transaction() as conn:
        conn.executemany("DELETE FROM ground_truth WHERE image_id = ?", [(i,) for i in unlabelled])
    matrix = workspace.load_embeddings(TINY_KEY)
    pred = predict_unlabelled(workspace, matrix, method="logreg", source="ground_truth", max_train=12, max_predict=4)
    assert sum(pred.train_counts.values()) <= 13 and len(pred.train_counts) == 4  # every class kept
    assert len(pred.ids) == 4 and set(pred.ids.tolist()) <= set(unlabelled)
    assert any("stratified sample" in n for n in pred.notes) and any("predicted 4 of the" in n for n in pred.notes)
    full = predict_unlabelled(workspace, matrix, method="logreg", source="ground_truth")
    assert sorted(full.ids.tolist()) == sorted(unlabelled) and not any("sample" in n for n in full.notes)
    cv = cross_validated_labelled(workspace, matrix, method="knn", source="ground_truth", max_images=10)
    assert len(cv.ids) <= 11 and any("cross-validated a stratified sample" in n for n in cv.notes)
    assert len(truth) - len(unlabelled) - len(split.test_ids) > 11  # the bound did apply


def test_the_method_registry_is_the_one_declaration_every_reader_uses():
    import numpy as np

    from clipcore.classify.evaluation import DEFAULT_METHODS
    from clipcore.classify.fewshot import (
        CLASSIFIER_METHODS, METHOD_TITLES, NEEDS_PROMPTS, TRAIN_BUDGET, make_classifier, page_methods,
    )
    from clipcore.classify.palette import OKABE_ITO, method_colour

    assert list(DEFAULT_METHODS) == list(CLASSIFIER_METHODS)
    assert sorted(page_methods()) == sorted(CLASSIFIER_METHODS) and page_methods()[0] == "zero_shot_prior"
    assert len({m.title for m in CLASSIFIER_METHODS.values()}) == len(CLASSIFIER_METHODS)
    assert NEEDS_PROMPTS == {"zero_shot", "zero_shot_prior"}
    assert TRAIN_BUDGET == {"random_forest": 5000, "knn": 10000}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = ["a", "b", "c"] * 4
    for name, spec in CLASSIFIER_METHODS.items():
        assert METHOD_TITLES[name] == spec.title
        assert method_colour(name) == method_colour(spec.title) == spec.colour and spec.colour in OKABE_ITO
        if not spec.needs_prompts:
            clf = make_classifier(name, seed=0).fit(X, y)
            assert clf.predict_proba(X).shape == (12, 3)
