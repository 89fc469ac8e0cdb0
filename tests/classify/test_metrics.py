"""clipcore.classify.metrics against scikit-learn on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from clipcore.classify import metrics
from clipcore.errors import InputError

Y_TRUE = ["text", "text", "cover", "blank page", "illustration", "text", "cover", "illustration", "illustration", "blank page"]
Y_PRED = ["text", "cover", "cover", "blank page", "text", "text", "illustration", "illustration", "illustration", "cover"]
# A class that is predicted but never true, and one that is true but never predicted.
Y_TRUE_2 = ["a", "a", "b", "b", "b", "c"]
Y_PRED_2 = ["a", "d", "b", "a", "b", "a"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("y_true,y_pred", [(Y_TRUE, Y_PRED), (Y_TRUE_2, Y_PRED_2)])
def test_accuracy_and_balanced_accuracy_match_sklearn(y_true, y_pred):
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics.balanced_accuracy(y_true, y_pred) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("y_true,y_pred", [(Y_TRUE, Y_PRED), (Y_TRUE_2, Y_PRED_2)])
def test_confusion_matrix_matches_sklearn(y_true, y_pred):
    labels = sorted(set(y_true) | set(y_pred))
    cm = metrics.confusion(y_true, y_pred)
    assert cm.labels == labels
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(y_true, y_pred, labels=labels))
    # An explicit label order is respected.
    order = labels[::-1]
    np.testing.assert_array_equal(metrics.confusion(y_true, y_pred, order).matrix, confusion_matrix(y_true, y_pred, labels=order))


@pytest.mark.parametrize("y_true,y_pred", [(Y_TRUE, Y_PRED), (Y_TRUE_2, Y_PRED_2)])
def test_per_class_matches_sklearn(y_true, y_pred):
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    rows = metrics.per_class(y_true, y_pred, labels)
    assert [row["class"] for row in rows] == labels
    np.testing.assert_allclose([row["precision"] for row in rows], p)
    np.testing.assert_allclose([row["recall"] for row in rows], r)
    np.testing.assert_allclose([row["f1"] for row in rows], f)
    assert [row["support"] for row in rows] == list(s)


def test_summarise_is_consistent():
    out = metrics.summarise(Y_TRUE, Y_PRED)
    assert out["n"] == len(Y_TRUE)
    assert out["error_rate"] == pytest.approx(1 - accuracy_score(Y_TRUE, Y_PRED))
    assert sum(map(sum, out["confusion_matrix"]["matrix"])) == len(Y_TRUE)


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="no labelled images"):
        metrics.accuracy([], [])
    with pytest.raises(InputError, match="3 labels but y_pred has 2"):
        metrics.balanced_accuracy(["a", "b", "a"], ["a", "b"])
