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
