"""Classification metrics on string labels: accuracy, balanced accuracy, confusion matrix.

Plain numpy so that every page and command computes them the same way; the tests
check them against scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from clipcore.errors import InputError


@dataclass(frozen=True)
class ConfusionMatrix:
    """``matrix[i, j]`` counts images of true class ``labels[i]`` predicted as ``labels[j]``."""

    labels: list[str]
    matrix: np.ndarray

    def to_dict(self) -> dict:
        """JSON shape: {"labels": [...], "matrix": [[...]]}."""
        return {"labels": list(self.labels), "matrix": self.matrix.astype(int).tolist()}


def _check(y_true: Sequence[str], y_pred: Sequence[str]) -> None:
    if len(y_true) != len(y_pred):
        raise InputError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}.")
    if len(y_true) == 0:
        raise InputError("no labelled images to score; add ground truth or labels first.")


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> ConfusionMatrix:
    """Confusion matrix over ``labels`` (default: sorted union of both label lists)."""
    _check(y_true, y_pred)
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    index = {lbl: i for i, lbl in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return ConfusionMatrix(labels, m)


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of exact matches."""
    _check(y_true, y_pred)
    return float(np.mean([t == p for t, p in zip(y_true, y_pred)]))


def balanced_accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Mean recall over the classes present in ``y_true`` (sklearn's definition)."""
    _check(y_true, y_pred)
    true = np.asarray(y_true, dtype=object)
    pred = np.asarray(y_pred, dtype=object)
    recalls = [float(np.mean(pred[true == c] == c)) for c in sorted(set(y_true))]
    return float(np.mean(recalls))


def per_class(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> list[dict]:
    """Per class: precision, recall, f1 and support (0.0 where undefined, like sklearn's zero_division=0)."""
    cm = confusion(y_true, y_pred, labels)
    m = cm.matrix.astype(float)
    out = []
    for i, lbl in enumerate(cm.labels):
        tp = m[i, i]
        predicted = m[:, i].sum()
        support = m[i, :].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"class": lbl, "precision": precision, "recall": recall, "f1": f1, "support": int(support)})
    return out


def summarise(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> dict:
    """accuracy, balanced_accuracy, error_rate, per_class and confusion_matrix in one dict."""
    acc = accuracy(y_true, y_pred)
    return {
        "n": len(y_true),
        "accuracy": acc,
        "error_rate": 1.0 - acc,
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "per_class": per_class(y_true, y_pred, labels),
        "confusion_matrix": confusion(y_true, y_pred, labels).to_dict(),
    }
