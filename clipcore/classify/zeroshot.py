"""Zero-shot classification: prompts -> class embeddings -> per-image class probabilities.

A class embedding is the re-normalised mean of its normalised prompt embeddings (the
CLIP_benchmark recipe); probabilities are a softmax over the model's logit scale
times cosine similarity.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from clipcore.csvsafe import dict_rows_csv
from clipcore.errors import InputError
from clipcore.classify.metrics import summarise
from clipcore.embedding.models import ClipModel
from clipcore.classify.prompts import PromptSet, expand_prompts
from clipcore.catalog.store import EmbeddingMatrix


@dataclass(frozen=True)
class ZeroShotClassifier:
    """Class embeddings of a prompt set for one model.

    ``labels`` (C,) class names; ``class_vectors`` (C, dim) float32, rows unit-norm.
    """

    labels: list[str]
    class_vectors: np.ndarray
    logit_scale: float
    model_key: str

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of each image to each class: (n, C) float32."""
        return np.asarray(vectors @ self.class_vectors.T, dtype=np.float32)

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Softmax over classes of logit_scale * cosine: (n, C) float32, rows sum to 1."""
        logits = self.logit_scale * self.scores(vectors)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(predicted class per image, confidence per image (n,) float32)."""
        proba = self.predict_proba(vectors)
        best = proba.argmax(axis=1)
        return [self.labels[i] for i in best], proba[np.arange(len(best)), best]


def build_classifier(model: ClipModel, prompt_set: PromptSet) -> ZeroShotClassifier:
    """Embed every prompt (through the templates) and average per class.

    Raises:
        InputError: a class without prompts, or fewer than two classes.
    """
    expanded = expand_prompts(prompt_set)
    if len(expanded) < 2:
        raise InputError(f"a zero-shot classifier needs at least 2 classes; the set has {len(expanded)}.")
    labels, rows = [], []
    for label, prompts in expanded.items():
        if not prompts:
            raise InputError(f"class {label!r} has no prompt.")
        emb = model.encode_texts(prompts)
        mean = emb.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-8:
            raise InputError(f"the prompts of class {label!r} cancel out; change one.")
        labels.append(label)
        rows.append(mean / norm)
    return ZeroShotClassifier(labels, np.stack(rows).astype(np.float32), model.logit_scale, model.info.key)


@dataclass(frozen=True)
class ZeroShotResult:
    """Predictions of a classifier for every embedded image.

    ``ids`` (n,) int64 image ids; ``proba`` (n, C) float32, rows sum to 1, columns in
    the order of ``labels``.
    """

    labels: list[str]
    ids: np.ndarray
    proba: np.ndarray

    @property
    def predicted(self) -> list[str]:
        """Most probable class per image."""
        return [self.labels[i] for i in self.proba.argmax(axis=1)]

    @property
    def confidence(self) -> np.ndarray:
        """(n,) float32 probability of the predicted class."""
        return self.proba.max(axis=1) if len(self.ids) else np.zeros(0, dtype=np.float32)


def classify_matrix(
    classifier: ZeroShotClassifier, matrix: EmbeddingMatrix, *, chunk: int = 65_536, progress: Any = None
) -> ZeroShotResult:
    """Apply a classifier to every image of an embedding matrix, ``chunk`` rows at a time
    (a memory-mapped matrix is read one chunk at a time); ``progress(done, total)`` after each.

    Raises:
        InputError: the classifier was built with another model than the embeddings.
    """
    if classifier.model_key != matrix.key:
        raise InputError(
            f"the classifier was built with {classifier.model_key} but the embeddings are {matrix.key}; "
            "use the same model for both."
        )
    n = len(matrix.ids)
    proba = np.zeros((n, len(classifier.labels)), np.float32)
    for start in range(0, n, max(1, chunk)):
        stop = min(n, start + chunk)
        proba[start:stop] = classifier.predict_proba(np.asarray(matrix.vectors[start:stop], dtype=np.float32))
        if progress is not None:
            progress(stop, n)
    return ZeroShotResult(list(classifier.labels), np.asarray(matrix.ids), proba)


def _eligible(result: ZeroShotResult, truth: Mapping[int, str], classes: set[str]) -> tuple[np.ndarray, list[str]]:
    rows = [k for k, i in enumerate(result.ids) if truth.get(int(i)) in classes]
    return np.asarray(rows, dtype=np.int64), [truth[int(result.ids[k])] for k in rows]


def evaluate_result(result: ZeroShotResult, truth: Mapping[int, str], *, classes: set[str] | None = None) -> dict | None:
    """Score predictions against ground truth, on images whose true class is a prompt-set class.

    Args:
        truth: image id -> true label.
        classes: restrict to images whose true label is in this set (default: the result's
            classes; pass the intersection of two sets' classes to compare them fairly).
    Returns:
        ``metrics.summarise`` output plus ``image_ids`` (evaluated, in result order) and
        ``left_out`` {true label: count} for images whose label is not a usable class;
        None when no image qualifies.
    """
    usable = set(result.labels) if classes is None else set(classes) & set(result.labels)
    rows, y_true = _eligible(result, truth, usable)
    left_out = Counter(lbl for i, lbl in truth.items() if lbl not in usable)
    if len(rows) == 0:
        return None
    predicted = result.predicted
    y_pred = [predicted[k] for k in rows]
    summary = summarise(y_true, y_pred, labels=result.labels)
    summary["image_ids"] = [int(result.ids[k]) for k in rows]
    summary["left_out"] = dict(sorted(left_out.items()))
    return summary


def cell_image_ids(result: ZeroShotResult, truth: Mapping[int, str], true_label: str, predicted_label: str) -> list[int]:
    """Ids of images of true class ``true_label`` predicted as ``predicted_label``, most confident first."""
    predicted = result.predicted
    conf = result.confidence
    rows = [
        k for k, i in enumerate(result.ids) if truth.get(int(i)) == true_label and predicted[k] == predicted_label
    ]
    rows.sort(key=lambda k: (-float(conf[k]), int(result.ids[k])))
    return [int(result.ids[k]) for k in rows]


def compare_results(a: ZeroShotResult, b: ZeroShotResult, truth: Mapping[int, str]) -> dict:
    """Score two prompt sets' predictions on the same images.

    Only images whose true label is a class of both sets count, so both matrices and the
    accuracy difference are over identical images.

    Returns:
        {"a": summary | None, "b": summary | None, "n": images compared,
         "accuracy_difference": b - a (None when nothing to compare),
         "balanced_accuracy_difference": b - a (or None)}.
    """
    common = set(a.labels) & set(b.labels)
    sa = evaluate_result(a, truth, classes=common)
    sb = evaluate_result(b, truth, classes=common)
    if sa is None or sb is None:
        return {"a": sa, "b": sb, "n": 0, "accuracy_difference": None, "balanced_accuracy_difference": None}
    return {
        "a": sa,
        "b": sb,
        "n": sa["n"],
        "accuracy_difference": sb["accuracy"] - sa["accuracy"],
        "balanced_accuracy_difference": sb["balanced_accuracy"] - sa["balanced_accuracy"],
    }


def prediction_rows(result: ZeroShotResult, paths: Mapping[int, str]) -> list[dict]:
    """One dict per image: id, path, predicted class, confidence, then ``score: <class>``
    (the class probability) for every class. Rows in result order."""
    predicted = result.predicted
    conf = result.confidence
    rows = []
    for k, image_id in enumerate(result.ids):
        row = {
            "id": int(image_id),
            "path": paths.get(int(image_id), ""),
            "predicted": predicted[k],
            "confidence": round(float(conf[k]), 6),
        }
        for c, label in enumerate(result.labels):
            row[f"score: {label}"] = round(float(result.proba[k, c]), 6)
        rows.append(row)
    return rows


def predictions_csv(
    result: ZeroShotResult, paths: Mapping[int, str], books: Mapping[int, Mapping] | None = None
) -> str:
    """CSV text: path, predicted, confidence, one ``score: <class>`` column per class; with
    ``books`` (``catalog.metadata.image_metadata``) also ``book``, ``page`` and ``homepage`` (the
    item in its library's viewer) of imported pages.
    Formula-like text cells are neutralised (:mod:`clipcore.csvsafe`)."""
    extra = ["book", "page", "homepage"] if books else []
    fields = ["path", *extra, "predicted", "confidence"] + [f"score: {label}" for label in result.labels]
    rows = []
    for row in prediction_rows(result, paths):
        if books:
            meta = books.get(row["id"], {})
            row.update(book=meta.get("book_label"), page=meta.get("page"), homepage=meta.get("homepage"))
        rows.append(row)
    return dict_rows_csv(fields, rows)
