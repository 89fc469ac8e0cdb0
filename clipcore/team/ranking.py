"""Ranking for the labelling loop: query scores, learn-as-you-go re-ranking, suggestions,
and auto-accept thresholds.

* A query (text, similar image, or a class's zero-/few-shot probability) gives every
  embedded image a base score; the next page is the best unlabelled images.
* Learn as you go: a logistic regression on the labels so far (one class against the
  rest, deselected tiles as extra negatives; few-shot's ``LogisticProbe``) re-ranks the
  vector index's top candidates for the query and for its own direction, so each page
  gets purer at a cost that does not grow with the collection.
* Suggestions: per-image class probabilities from the zero-shot classifier or from a
  multi-class logistic regression on the current labels (few-shot), with confidence.
* Auto-accept: per class, the lowest confidence at which the suggestions reach a
  chosen precision on the labelled images; unlabelled images above it can be accepted
  as one (revertible) batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from clipcore.errors import InputError
from clipcore.catalog.store import EmbeddingMatrix

logger = logging.getLogger(__name__)

# One logistic set-up for the labelling loop: few-shot's probe with a fixed, weak penalty
# (large C keeps probabilities spread out on unit-norm CLIP features) and balanced weights
# (a big class must not swamp a small one). No C search: it is refitted at every action.
LR_C = 10.0


def cosine_scores(matrix: EmbeddingMatrix, query: np.ndarray) -> np.ndarray:
    """Cosine of every embedded image to a unit query vector: (n,) float32, row i = ``matrix.ids[i]``.

    A full scan; the labelling loop ranks through ``rank_by_query`` (the index) instead.
    Raises:
        InputError: the query's dimension does not match the embeddings.
    """
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if q.shape[0] != matrix.vectors.shape[1]:
        raise InputError(f"query has dim {q.shape[0]} but {matrix.key} embeddings have dim {matrix.vectors.shape[1]}.")
    return np.asarray(matrix.vectors @ q, dtype=np.float32)


def _logistic():
    from clipcore.classify.fewshot import LogisticProbe

    return LogisticProbe(Cs=(LR_C,), class_weight="balanced")


@dataclass
class ClassScorer:
    """One class against the rest, learned from the labels so far.

    Parameters only in ``__init__``; ``fit`` returns self; learned attributes end in ``_``.
    """

    label: str
    model_: Any = field(default=None, repr=False)
    n_positive_: int = 0
    n_negative_: int = 0

    def fit(self, vectors: np.ndarray, positive: np.ndarray) -> "ClassScorer":
        """Fit on (m, dim) float32 vectors with (m,) bool ``positive``.

        Raises:
            InputError: no positive or no negative example.
        """
        positive = np.asarray(positive, dtype=bool)
        n_pos = int(positive.sum())
        if n_pos == 0 or n_pos == len(positive):
            raise InputError(
                f"re-ranking {self.label!r} needs labelled examples of it and of something else; "
                f"got {n_pos} positive and {len(positive) - n_pos} negative."
            )
        self.model_ = _logistic().fit(np.asarray(vectors, dtype=np.float32), positive)
        self.n_positive_, self.n_negative_ = n_pos, len(positive) - n_pos
        return self

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """Probability of the class for (n, dim) vectors: (n,) float32."""
        if self.model_ is None:
            raise InputError("the class scorer is not fitted yet; call fit first.")
        return self.model_.predict_proba(np.asarray(vectors, dtype=np.float32))[:, 1].astype(np.float32)

    @property
    def direction(self) -> np.ndarray:
        """(dim,) float32 unit vector along which the class probability grows (the linear
        model's weights): its top cosine neighbours are the scorer's top candidates."""
        if self.model_ is None:
            raise InputError("the class scorer is not fitted yet; call fit first.")
        w = self.model_.coef_[0]
        return (w / max(float(np.linalg.norm(w)), 1e-12)).astype(np.float32)


def _label_columns(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ids (n,) int64, class names (n,) object) of ``catalog.labels.LabelArrays`` (the
    app's path: no dict of every labelled id) or of a small {image id: label} mapping."""
    if hasattr(labels, "codes"):
        names = np.asarray(labels.classes, dtype=object)
        return np.asarray(labels.ids, dtype=np.int64), names[labels.codes] if len(labels.codes) else np.zeros(0, object)
    ids = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
    return ids, np.asarray(list(labels.values()), dtype=object)


def fit_class_scorer(
    matrix: EmbeddingMatrix, labels: Any, target: str, rejected: Iterable[int] = ()
) -> ClassScorer | None:
    """A ``ClassScorer`` for ``target`` from current labels (``LabelArrays`` or a mapping;
    other classes and ``rejected`` ids are negatives), or None when there is no positive or
    no negative yet."""
    ids, names = _label_columns(labels)
    pos = names == target
    rej = np.unique(np.fromiter((int(i) for i in rejected), dtype=np.int64))
    extra = rej[~np.isin(rej, ids)]
    all_ids = np.concatenate([ids, extra])
    all_pos = np.concatenate([pos, np.zeros(len(extra), dtype=bool)])
    rows = matrix.rows_of(all_ids)
    keep = rows >= 0
    rows, all_pos = rows[keep], all_pos[keep]
    if all_pos.sum() == 0 or all_pos.sum() == len(all_pos):
        return None
    return ClassScorer(target).fit(np.asarray(matrix.vectors[rows]), all_pos)


@dataclass(frozen=True)
class Ranked:
    """A ranked candidate: image id, the score it was ranked by, and its query score."""

    id: int
    score: float
    query_score: float


def rank_candidates(
    matrix: EmbeddingMatrix,
    base_scores: np.ndarray,
    *,
    limit: int,
    exclude: Iterable[int] = (),
    scorer: ClassScorer | None = None,
    pool: int | None = None,
) -> list[Ranked]:
    """The best ``limit`` images by ``base_scores`` (one per row of ``matrix``), skipping ``exclude``.

    With a ``scorer``, the best ``pool`` (default ``5 * limit``, at least 250) by base
    score are re-ranked by the scorer's probability (ties by base score, then id).
    Returns:
        Up to ``limit`` candidates, best first; ties broken by ascending id (stable paging).
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1; got {limit}.")
    base = np.asarray(base_scores, dtype=np.float32).reshape(-1)
    if base.shape[0] != len(matrix.ids):
        raise InputError(f"expected {len(matrix.ids)} base scores (one per embedded image); got {base.shape[0]}.")
    mask = np.isfinite(base)
    exclude = np.fromiter((int(i) for i in exclude), dtype=np.int64)
    if len(exclude):
        mask &= ~np.isin(matrix.ids, exclude)
    cand = np.flatnonzero(mask)
    take = limit if scorer is None else max(pool or 5 * limit, 250, limit)
    order = np.lexsort((matrix.ids[cand], -base[cand]))
    cand = cand[order][:take]
    if scorer is None or len(cand) == 0:
        return [Ranked(int(matrix.ids[r]), float(base[r]), float(base[r])) for r in cand[:limit]]
    learned = scorer.score(np.asarray(matrix.vectors[cand]))
    order = np.lexsort((matrix.ids[cand], -base[cand], -learned))
    return [Ranked(int(matrix.ids[cand[k]]), float(learned[k]), float(base[cand[k]])) for k in order[:limit]]


def rank_by_query(
    index: Any,
    query: np.ndarray,
    *,
    limit: int,
    exclude: Iterable[int] | np.ndarray = (),
    scorer: ClassScorer | None = None,
    pool: int | None = None,
) -> list[Ranked]:
    """The best ``limit`` images for a unit ``query`` through a ``retrieval.index.VectorIndex``.

    With a ``scorer``, candidates are the index's top ``pool`` (default ``5 * limit``, at
    least 250) for the query and for the scorer's direction (its own best images), scored
    by the scorer: the cost depends on ``pool``, not on the size of the collection.
    Returns:
        Up to ``limit`` candidates, best first (ties by query score, then ascending id).
    """
    from clipcore.retrieval.index import as_index

    if limit < 1:
        raise InputError(f"limit must be at least 1; got {limit}.")
    index = as_index(index)
    excl = exclude if isinstance(exclude, np.ndarray) else np.fromiter((int(i) for i in exclude), dtype=np.int64)
    selection = index.select(exclude=excl) if len(excl) else None
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if scorer is None:
        return [Ranked(h.id, h.score, h.score) for h in index.search(q, limit, selection=selection).hits]
    take = max(pool or 5 * limit, 250, limit)
    hits = index.search(q, take, selection=selection).hits + index.search(scorer.direction, take, selection=selection).hits
    ids = np.unique(np.fromiter((h.id for h in hits), dtype=np.int64, count=len(hits)))
    if len(ids) == 0:
        return []
    rows = index.matrix.rows_of(ids)
    vectors = np.asarray(index.matrix.vectors[np.sort(rows)], dtype=np.float32)
    ids = index.matrix.ids[np.sort(rows)]
    learned = scorer.score(vectors)
    base = vectors @ q
    order = np.lexsort((ids, -base, -learned))[:limit]
    return [Ranked(int(ids[k]), float(learned[k]), float(base[k])) for k in order]


@dataclass(frozen=True)
class ClassProbabilities:
    """Class probabilities for every embedded image, from one suggester.

    ``ids`` (n,) int64 (the matrix's ids); ``classes`` (C,); ``proba`` (n, C) float32, rows
    sum to 1. ``honest`` is True when labelled images' rows were not fitted on their own
    labels (zero-shot, or out-of-fold few-shot), which auto-accept thresholds require.
    ``source`` describes the suggester for provenance, e.g. {"kind": "zero-shot", ...}.
    """

    ids: np.ndarray
    classes: list[str]
    proba: np.ndarray
    source: dict[str, Any]
    honest: bool = True

    def class_scores(self, label: str) -> np.ndarray:
        """(n,) float32 probability of ``label`` for every embedded image.

        Raises:
            InputError: the suggester does not know this class.
        """
        if label not in self.classes:
            raise InputError(f"{self.source.get('kind', 'the suggester')} knows classes {self.classes}; not {label!r}.")
        return self.proba[:, self.classes.index(label)]

    def predictions(self) -> tuple[list[str], np.ndarray]:
        """(best class per image, its probability (n,) float32)."""
        best = self.proba.argmax(axis=1)
        return [self.classes[i] for i in best], self.proba[np.arange(len(best)), best]

    def suggest(self, image_ids: Sequence[int]) -> dict[int, tuple[str, float]]:
        """image id -> (suggested class, confidence), for ids that have an embedding."""
        pos = _positions(self.ids, image_ids)
        out = {}
        for i, p in zip(image_ids, pos):
            if p >= 0:
                k = int(self.proba[p].argmax())
                out[int(i)] = (self.classes[k], float(self.proba[p, k]))
        return out


def _positions(ids: np.ndarray, wanted: Sequence[int]) -> np.ndarray:
    wanted = np.asarray(wanted if isinstance(wanted, np.ndarray) else list(wanted), dtype=np.int64)
    if len(ids) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.clip(np.searchsorted(ids[order], wanted), 0, len(ids) - 1)
    return np.where(ids[order][pos] == wanted, order[pos], -1)


def zero_shot_probabilities(classifier: Any, matrix: EmbeddingMatrix, source: Mapping[str, Any]) -> ClassProbabilities:
    """Suggestions from a ``clipcore.classify.zeroshot.ZeroShotClassifier`` for every embedded image."""
    proba = classifier.predict_proba(np.asarray(matrix.vectors))
    return ClassProbabilities(np.asarray(matrix.ids), list(classifier.labels), proba, {"kind": "zero-shot", **source}, True)


def few_shot_probabilities(
    matrix: EmbeddingMatrix, labels: Any, *, out_of_fold: bool = True, folds: int = 5, seed: int = 0
) -> ClassProbabilities:
    """Suggestions from a multi-class logistic regression on the current labels.

    With ``out_of_fold``, labelled images get out-of-fold probabilities (stratified
    ``folds``-fold), so their confidences can set auto-accept thresholds; ``honest`` is
    False without it, or when a class has a single label (in-sample probabilities).
    ``labels``: ``catalog.labels.LabelArrays`` (the app's path, no dict of every id) or a
    small {image id: label} mapping.
    Raises:
        InputError: fewer than two classes labelled.
    """
    from sklearn.model_selection import StratifiedKFold

    if hasattr(labels, "codes"):  # catalog.labels.LabelArrays: no dict of every labelled id
        ids, names = labels.ids, np.asarray(labels.classes, dtype=object)
        rows = matrix.rows_of(ids)
        keep = rows >= 0
        ids, rows = ids[keep], rows[keep]
        y = names[labels.codes[keep]].astype(str) if len(ids) else np.zeros(0, dtype=str)
    else:
        ids = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
        rows = matrix.rows_of(ids)
        keep = rows >= 0
        ids, rows = ids[keep], rows[keep]
        y = np.array([labels[int(i)] for i in ids])
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise InputError(f"few-shot suggestions need labels of at least 2 classes; got {len(classes)} ({classes}).")
    x = np.asarray(matrix.vectors[rows], dtype=np.float32)
    model = _logistic().fit(x, y)
    proba = _predict_chunked(model, matrix.vectors)
    order = [list(model.classes_).index(c) for c in classes]
    proba = proba[:, order]
    min_count = min(int((y == c).sum()) for c in classes)
    honest = out_of_fold and min_count >= 2
    if honest:
        cv = StratifiedKFold(n_splits=min(folds, min_count), shuffle=True, random_state=seed)
        oof = np.zeros((len(y), len(classes)), dtype=np.float32)
        for train, test in cv.split(x, y):
            fold = _logistic().fit(x[train], y[train])
            cols = [list(fold.classes_).index(c) for c in classes]
            oof[test] = fold.predict_proba(x[test])[:, cols]
        proba[rows] = oof
    source = {"kind": "few-shot", "model": matrix.key, "labels": int(len(ids)), "classifier": "logistic regression"}
    return ClassProbabilities(np.asarray(matrix.ids), classes, proba, source, honest)


def _predict_chunked(model: Any, vectors: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """(n, C) float32 probabilities, ``chunk`` rows at a time (no (n, dim) temporary copy)."""
    out = None
    for start in range(0, len(vectors), chunk):
        p = model.predict_proba(np.asarray(vectors[start : start + chunk], dtype=np.float32))
        if out is None:
            out = np.empty((len(vectors), p.shape[1]), dtype=np.float32)
        out[start : start + len(p)] = p
    return out if out is not None else np.zeros((0, 0), np.float32)


def precision_threshold(
    confidence: np.ndarray, correct: np.ndarray, target_precision: float, *, min_support: int = 5
) -> tuple[float, float, int] | None:
    """The lowest confidence t at which predictions with confidence >= t reach the target precision.

    Args:
        confidence: (m,) float, one per labelled prediction of a class.
        correct: (m,) bool, whether that prediction matched the label.
        min_support: at least this many labelled predictions must lie above t.
    Returns:
        (threshold, observed precision, support) or None when no threshold reaches the target.
    """
    if not 0.0 < target_precision <= 1.0:
        raise InputError(f"target precision must be in (0, 1]; got {target_precision}.")
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    if len(conf) == 0:
        return None
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    k = np.arange(1, len(conf) + 1)
    precision = np.cumsum(ok) / k
    # A cut is only valid after the last of a group of equal confidences.
    boundary = np.append(conf[1:] != conf[:-1], True)
    valid = boundary & (precision >= target_precision - 1e-12) & (k >= min_support)
    if not valid.any():
        return None
    last = int(np.flatnonzero(valid)[-1])
    return float(conf[last]), float(precision[last]), int(last + 1)


@dataclass(frozen=True)
class AutoAcceptPlan:
    """What auto-accept would do for one class."""

    label: str
    threshold: float | None  # None: the target precision is not reached on labelled data
    precision: float | None  # observed on labelled images above the threshold
    support: int  # labelled images above the threshold
    image_ids: list[int]  # unlabelled images predicted as the class with confidence >= threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "class": self.label,
            "threshold": self.threshold,
            "precision": self.precision,
            "support": self.support,
            "candidates": len(self.image_ids),
        }


def plan_auto_accept(
    probs: ClassProbabilities,
    labels: Any,
    target_precision: float,
    *,
    min_support: int = 5,
    exclude: Iterable[int] = (),
) -> list[AutoAcceptPlan]:
    """Per class of ``probs``: the confidence threshold reaching ``target_precision`` on the
    labelled images, and the unlabelled images (not in ``exclude``) above it.

    Raises:
        InputError: the suggestions are not honest on labelled data (see ``ClassProbabilities``).
    """
    if not probs.honest:
        raise InputError("these suggestions were fitted on the labels themselves; label at least 2 images per class first.")
    predicted, conf = probs.predictions()
    predicted = np.asarray(predicted, dtype=object)
    ids = np.asarray(probs.ids, dtype=np.int64)
    # Arrays over the collection, filled from the labelled set: no per-image Python loop.
    label_ids, label_names = _label_columns(labels)
    pos = _positions(ids, label_ids)
    found = pos >= 0
    labelled = np.zeros(len(ids), dtype=bool)
    labelled[pos[found]] = True
    truth = np.full(len(ids), None, dtype=object)
    truth[pos[found]] = label_names[found]
    skip = np.isin(ids, np.fromiter((int(i) for i in exclude), dtype=np.int64))
    plans = []
    for c in probs.classes:
        mine = predicted == c
        sel = mine & labelled
        found = precision_threshold(conf[sel], truth[sel] == c, target_precision, min_support=min_support)
        if found is None:
            plans.append(AutoAcceptPlan(c, None, None, int(sel.sum()), []))
            continue
        t, prec, support = found
        take = mine & ~labelled & ~skip & (conf >= t)
        order = np.lexsort((ids[take], -conf[take]))
        plans.append(AutoAcceptPlan(c, t, prec, support, [int(i) for i in ids[take][order]]))
    return plans
