"""Few-shot classifiers on CLIP image embeddings, and predictions for unlabelled images.

Every classifier follows scikit-learn's estimator conventions: parameters only in
``__init__``, ``fit(X, y)`` returns ``self``, learned attributes end in ``_``,
``predict_proba`` columns follow ``classes_``. ``X`` is (n, dim) float32 with unit-norm
rows (CLIP image embeddings), ``y`` a list of n class names.

Methods (``CLASSIFIER_METHODS``: one :class:`MethodSpec` each, the one place a method is
declared; a new classifier is its class here plus one entry there, and the Few-shot page,
the evaluation, the palette and the report read it):

* ``zero_shot``: no training; the prompt classifier behind the same interface.
* ``logreg``: multinomial logistic regression; C chosen by cross-validation inside the
  training images only (fixed C when a class has a single example), walking the C path
  with warm starts; above ``CV_MAX_EXAMPLES`` examples the CV runs on a stratified sample.
* ``random_forest``, ``knn``: scikit-learn's, with settings suited to a few examples;
  above ``TRAIN_BUDGET`` examples they train on a stratified sample (bounded budget).
* ``zero_shot_prior``: a linear probe regularised toward the zero-shot classifier
  (see ``ZeroShotPriorProbe``): zero-shot with no data, improves with examples.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from clipcore.errors import InputError
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.classify.splits import stratified_folds
from clipcore.classify.zeroshot import ZeroShotClassifier

logger = logging.getLogger(__name__)


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray([str(v) for v in y], dtype=object)
    if X.ndim != 2:
        raise InputError(f"expected X of shape (n, dim); got an array of shape {X.shape}.")
    if len(X) != len(y):
        raise InputError(f"X has {len(X)} rows but y has {len(y)} labels; pass one label per row.")
    if len(set(y)) < 2:
        raise InputError(f"a classifier needs examples of at least 2 classes; got {sorted(set(y))}.")
    return X, y


def _check_x(est: BaseEstimator, X: Any) -> np.ndarray:
    check_is_fitted(est)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != est.n_features_in_:
        raise InputError(f"expected X of shape (n, {est.n_features_in_}); got {X.shape}.")
    return X


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


# Bounded budgets, so that evaluation at 100k labelled images stays within minutes:
# above CV_MAX_EXAMPLES training examples, the regularisation strength is chosen by CV on a
# stratified sample of that size (at most CV_MAX_FOLDS_LARGE folds); the final fit uses
# every example, warm-started from the sample's fit. Random forest and k-NN train on a
# stratified sample of at most their budget (documented in the evaluation's notes).
CV_MAX_EXAMPLES = 2000
CV_MAX_FOLDS_LARGE = 3
RANDOM_FOREST_BUDGET = 5000  # training examples; above it a stratified sample
KNN_BUDGET = 10000


def stratified_sample(y: np.ndarray, size: int, seed: int = 0) -> np.ndarray | None:
    """Indices of about ``size`` examples with every class in proportion (at least 2 each,
    or all it has), ascending; None when ``y`` is not larger than ``size``."""
    y = np.asarray(y)
    if len(y) <= size:
        return None
    rng = np.random.default_rng(seed)
    frac = size / len(y)
    picked = []
    for c in sorted(set(y.tolist())):
        idx = np.flatnonzero(y == c)
        take = min(len(idx), max(2, int(round(len(idx) * frac))))
        picked.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(picked))


class _ProbaClassifier(ClassifierMixin, BaseEstimator):
    """predict() as the argmax of predict_proba() over ``classes_``."""

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted class names."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _WrappedEstimator(_ProbaClassifier):
    """A scikit-learn classifier kept in ``model_``; probabilities come from it."""

    def _adopt(self, model: Any, X: np.ndarray) -> "_WrappedEstimator":
        self.model_ = model
        self.classes_ = np.asarray(model.classes_, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, C) float32 class probabilities of the wrapped model."""
        return self.model_.predict_proba(_check_x(self, X)).astype(np.float32)


class ZeroShotMethod(_ProbaClassifier):
    """The zero-shot classifier of a prompt set; ``fit`` learns nothing but the shapes.

    Args:
        zero_shot: the prompt classifier (class vectors of the active prompt set).
    """

    def __init__(self, zero_shot: ZeroShotClassifier | None = None) -> None:
        self.zero_shot = zero_shot

    def fit(self, X: Any, y: Any = None) -> "ZeroShotMethod":
        """Record classes and dimension; the examples are not used."""
        if self.zero_shot is None:
            raise InputError("the zero_shot method needs a prompt set; save one on the Zero-shot page.")
        X = np.asarray(X, dtype=np.float32)
        self.classes_ = np.asarray(self.zero_shot.labels, dtype=object)
        self.n_features_in_ = int(self.zero_shot.class_vectors.shape[1])
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"expected X of shape (n, {self.n_features_in_}); got {X.shape}.")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, C) float32 softmax of logit_scale * cosine."""
        return self.zero_shot.predict_proba(_check_x(self, X))


class LogisticProbe(_WrappedEstimator):
    """Multinomial logistic regression; C chosen by stratified CV on the training data only.

    Args:
        Cs: candidate inverse regularisation strengths (rows are unit-norm, so useful C are large).
        fallback_C: used when some class has a single example (no CV possible).
        cv: at most this many folds (fewer when a class has fewer examples).
        random_state: fold shuffling seed.
        class_weight: None, or "balanced" so that a big class does not swamp a small one.
    With a single C in ``Cs`` there is no search: that C is used (the labelling loop's set-up).
    """

    def __init__(
        self,
        Cs: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0),
        fallback_C: float = 10.0,
        cv: int = 5,
        random_state: int = 0,
        class_weight: str | None = None,
    ) -> None:
        self.Cs = Cs
        self.fallback_C = fallback_C
        self.cv = cv
        self.random_state = random_state
        self.class_weight = class_weight

    @property
    def coef_(self) -> np.ndarray:
        """(C or 1, dim) float32 weights of the fitted linear model (1 row for two classes)."""
        return np.asarray(self.model_.coef_, dtype=np.float32)

    def fit(self, X: Any, y: Any) -> "LogisticProbe":
        """Choose C (by log loss across folds), then fit on every example."""
        X, y = _check_xy(X, y)
        # L-BFGS on small problems: BLAS threads cost more than they bring.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def _model(self, C: float) -> LogisticRegression:
        return LogisticRegression(C=float(C), tol=1e-3, max_iter=500, class_weight=self.class_weight, warm_start=True)

    def _path_cv(self, X: np.ndarray, y: np.ndarray, folds: int) -> tuple[float, dict[float, float]]:
        """C by mean held-out log loss; each fold walks the C path upward, warm-started."""
        from sklearn.metrics import log_loss

        Cs = sorted(float(c) for c in self.Cs)
        losses = np.zeros(len(Cs))
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(X, y):
            model = self._model(Cs[0])
            for j, C in enumerate(Cs):
                model.set_params(C=C)
                model.fit(X[train], y[train])
                losses[j] += log_loss(y[test], model.predict_proba(X[test]), labels=model.classes_)
        best = int(np.argmin(losses))  # ties go to the smaller C (stronger regularisation)
        return Cs[best], dict(zip(Cs, (losses / folds).tolist()))

    def _fit(self, X: np.ndarray, y: np.ndarray) -> "LogisticProbe":
        if len(self.Cs) == 1:
            self.C_ = float(self.Cs[0])
            return self._adopt(self._model(self.C_).fit(X, y), X)
        sub = stratified_sample(y, CV_MAX_EXAMPLES, self.random_state)
        Xc, yc = (X, y) if sub is None else (X[sub], y[sub])
        max_folds = int(self.cv) if sub is None else min(int(self.cv), CV_MAX_FOLDS_LARGE)
        folds = min(max_folds, min(Counter(yc).values()))
        if folds >= 2:
            self.C_, self.cv_log_loss_ = self._path_cv(Xc, yc, folds)
        else:
            self.C_ = float(self.fallback_C)
        model = self._model(self.C_)
        if sub is not None:
            model.fit(Xc, yc)  # warm start for the fit on every example
        return self._adopt(model.fit(X, y), X)


class ForestClassifier(_WrappedEstimator):
    """A random forest (balanced class weights: full training sets may be imbalanced)."""

    def __init__(self, n_estimators: int = 100, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "ForestClassifier":
        """Grow the forest."""
        X, y = _check_xy(X, y)
        forest = RandomForestClassifier(
            n_estimators=int(self.n_estimators), class_weight="balanced", random_state=self.random_state, n_jobs=1
        )
        sub = stratified_sample(y, CLASSIFIER_METHODS["random_forest"].budget, self.random_state)
        self.n_trained_ = len(y) if sub is None else len(sub)
        if sub is not None:
            X, y = X[sub], y[sub]
        return self._adopt(forest.fit(X, y), X)


class NearestNeighbours(_WrappedEstimator):
    """k nearest neighbours by cosine, weighted by closeness; k shrinks to the training size."""

    def __init__(self, n_neighbors: int = 5) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: Any, y: Any) -> "NearestNeighbours":
        """Store the examples."""
        X, y = _check_xy(X, y)
        sub = stratified_sample(y, CLASSIFIER_METHODS["knn"].budget, 0)
        self.n_trained_ = len(y) if sub is None else len(sub)
        if sub is not None:
            X, y = X[sub], y[sub]
        self.n_neighbors_ = max(1, min(int(self.n_neighbors), len(X)))
        knn = KNeighborsClassifier(n_neighbors=self.n_neighbors_, metric="cosine", algorithm="brute", weights="distance")
        return self._adopt(knn.fit(X, y), X)


class ZeroShotPriorProbe(_ProbaClassifier):
    """A linear probe pulled toward the zero-shot classifier (a "constrained linear probe").

    Design. Zero-shot CLIP is itself a linear classifier on the image embedding:
    logits = s * x @ T.T, with T (C, dim) the unit class vectors of the prompts and s
    the model's logit scale. This probe learns W (C, dim) and b (C,) minimising::

        mean_i  cross_entropy(softmax(x_i @ W.T + b), y_i)  +  lam / 2 * (||W - s*T||^2 + ||b||^2)

    starting from W = s*T. With lam large it *is* the zero-shot classifier; as lam
    shrinks it becomes plain logistic regression. The objective is strictly convex, so
    L-BFGS finds its unique optimum. The prompts act as a prior worth many examples
    when examples are few, and fade as more examples arrive (cf. Silva-Rodriguez et
    al., "A Closer Look at the Few-Shot Adaptation of Large Vision-Language Models",
    CVPR 2024, and the L2-SP idea of regularising toward the starting weights).

    lam is chosen from ``lambdas`` by held-out log loss inside the training data:
    stratified k-fold when every class has two or more examples, else leave-one-out.
    Leave-one-out works even at one example per class, because a class whose only
    example is held out keeps its prompt row. Ties go to the larger lam (closer to
    zero-shot), so weak evidence never moves the classifier far from the prompts.
    A class without a prompt vector starts from a zero row (no prior).

    Args:
        zero_shot: the prompt classifier (class vectors and logit scale).
        lambdas: candidate regularisation strengths.
        cv: at most this many folds.
        max_iter: L-BFGS iterations per fit.
    """

    def __init__(
        self,
        zero_shot: ZeroShotClassifier | None = None,
        lambdas: Sequence[float] = (1000.0, 100.0, 10.0, 1.0, 0.1, 0.01, 0.001, 0.0001),
        cv: int = 5,
        max_iter: int = 100,
        random_state: int = 0,
    ) -> None:
        self.zero_shot = zero_shot
        self.lambdas = lambdas
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _prior(self, classes: np.ndarray, dim: int) -> np.ndarray:
        zs = self.zero_shot
        if zs.class_vectors.shape[1] != dim:
            raise InputError(f"the prompt vectors have dim {zs.class_vectors.shape[1]} but X has {dim} columns.")
        index = {c: i for i, c in enumerate(zs.labels)}
        prior = np.zeros((len(classes), dim), dtype=np.float64)
        for r, c in enumerate(classes):
            if c in index:
                prior[r] = zs.logit_scale * zs.class_vectors[index[c]]
        return prior

    def _solve(
        self, X: np.ndarray, Y: np.ndarray, prior: np.ndarray, lam: float, start: np.ndarray | None = None
    ) -> np.ndarray:
        """Optimal parameters [W.ravel(), b] for one lam, from ``start`` (default: the prior)."""
        n, dim = X.shape
        n_classes = prior.shape[0]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W = theta[: n_classes * dim].reshape(n_classes, dim)
            b = theta[n_classes * dim :]
            logits = X @ W.T + b
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            diff = W - prior
            loss = -(Y * log_p).sum() / n + 0.5 * lam * ((diff**2).sum() + (b**2).sum())
            R = (np.exp(log_p) - Y) / n
            grad_w = R.T @ X + lam * diff
            grad_b = R.sum(axis=0) + lam * b
            return float(loss), np.concatenate([grad_w.ravel(), grad_b])

        if start is None:
            start = np.concatenate([prior.ravel(), np.zeros(n_classes)])
        res = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": int(self.max_iter), "gtol": 1e-6})
        return res.x

    @staticmethod
    def _unpack(theta: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        dim = (len(theta) - n_classes) // n_classes
        return theta[: n_classes * dim].reshape(n_classes, dim), theta[n_classes * dim :]

    def _folds(self, y: np.ndarray, large: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        smallest = min(Counter(y).values())
        if smallest >= 2:
            cv = min(int(self.cv), CV_MAX_FOLDS_LARGE) if large else int(self.cv)
            splitter = StratifiedKFold(min(cv, smallest), shuffle=True, random_state=self.random_state)
            return list(splitter.split(np.zeros(len(y)), y))
        idx = np.arange(len(y))
        return [(idx[idx != i], idx[idx == i]) for i in idx]

    def fit(self, X: Any, y: Any) -> "ZeroShotPriorProbe":
        """Choose lam by held-out log loss, then fit on every example."""
        if self.zero_shot is None:
            raise InputError("the zero_shot_prior method needs a prompt set; save one on the Zero-shot page.")
        X, y = _check_xy(X, y)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> "ZeroShotPriorProbe":
        X64 = X.astype(np.float64)
        self.classes_ = np.asarray(sorted(set(y)), dtype=object)
        col = {c: i for i, c in enumerate(self.classes_)}
        Y = np.zeros((len(y), len(self.classes_)))
        Y[np.arange(len(y)), [col[v] for v in y]] = 1.0
        prior = self._prior(self.classes_, X.shape[1])
        lambdas = sorted((float(v) for v in self.lambdas), reverse=True)
        if not lambdas:
            raise InputError("lambdas is empty; give at least one regularisation strength.")
        n_classes = len(self.classes_)
        # Bounded CV budget: above CV_MAX_EXAMPLES, lam is chosen on a stratified sample.
        sub = stratified_sample(y, CV_MAX_EXAMPLES, self.random_state)
        Xc, Yc, yc = (X64, Y, y) if sub is None else (X64[sub], Y[sub], y[sub])
        losses = np.zeros((len(lambdas), len(yc)))
        if len(lambdas) > 1:
            for train, test in self._folds(yc, large=sub is not None):
                theta = None  # warm start along the path, strongest pull first
                for j, lam in enumerate(lambdas):
                    theta = self._solve(Xc[train], Yc[train], prior, lam, theta)
                    W, b = self._unpack(theta, n_classes)
                    p = _softmax(Xc[test] @ W.T + b)
                    losses[j, test] = -np.log(np.clip((p * Yc[test]).sum(axis=1), 1e-12, None))
        scores = [float(v) for v in losses.mean(axis=1)] if len(lambdas) > 1 else []
        best = 0  # lambdas run from largest to smallest: a smaller one must win clearly
        for j, score in enumerate(scores):
            if score < scores[best] - 1e-6:
                best = j
        self.cv_log_loss_ = dict(zip(lambdas, scores))
        self.lambda_ = lambdas[best]
        start = None if sub is None else self._solve(Xc, Yc, prior, self.lambda_)
        W, b = self._unpack(self._solve(X64, Y, prior, self.lambda_, start), n_classes)
        self.coef_, self.intercept_ = W.astype(np.float32), b.astype(np.float32)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, C) float32 softmax of x @ coef_.T + intercept_."""
        X = _check_x(self, X)
        return _softmax(X @ self.coef_.T + self.intercept_).astype(np.float32)


def _zero_shot(zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> ZeroShotMethod:
    return ZeroShotMethod(zero_shot=zero_shot)


def _logreg(zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> LogisticProbe:
    return LogisticProbe(random_state=seed)


def _forest(zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> ForestClassifier:
    return ForestClassifier(random_state=seed)


def _knn(zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> NearestNeighbours:
    return NearestNeighbours()


def _prior(zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> ZeroShotPriorProbe:
    return ZeroShotPriorProbe(zero_shot=zero_shot, random_state=seed)


@dataclass(frozen=True)
class MethodSpec:
    """One classifier method: ``name`` (stored in runs and results), ``title`` (on screen and
    in the report), ``factory(zero_shot=, seed=)`` -> an unfitted estimator, whether it needs
    a prompt set's zero-shot classifier, its training budget (None: all examples), its fixed
    colour (Okabe-Ito, ``classify.palette``), and its place on the Few-shot page's menu."""

    name: str
    title: str
    factory: Callable[..., "_ProbaClassifier"]
    colour: str
    needs_prompts: bool = False
    budget: int | None = None
    page_rank: int = 99


# Declaration order is the evaluation's order (``evaluation.DEFAULT_METHODS``).
CLASSIFIER_METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("zero_shot", "zero-shot (prompts only)", _zero_shot, "#0072B2", needs_prompts=True, page_rank=4),
        MethodSpec("logreg", "logistic regression", _logreg, "#E69F00", page_rank=1),
        MethodSpec("random_forest", "random forest", _forest, "#56B4E9", budget=RANDOM_FOREST_BUDGET, page_rank=3),
        MethodSpec("knn", "k nearest neighbours", _knn, "#CC79A7", budget=KNN_BUDGET, page_rank=2),
        MethodSpec("zero_shot_prior", "linear probe with zero-shot prior", _prior, "#009E73", needs_prompts=True,
                   page_rank=0),
    )
}
# Views of the registry, for the modules that read one attribute.
METHODS: dict[str, Callable[..., _ProbaClassifier]] = {n: m.factory for n, m in CLASSIFIER_METHODS.items()}
METHOD_TITLES: dict[str, str] = {n: m.title for n, m in CLASSIFIER_METHODS.items()}
NEEDS_PROMPTS = frozenset(n for n, m in CLASSIFIER_METHODS.items() if m.needs_prompts)
TRAIN_BUDGET: dict[str, int] = {n: m.budget for n, m in CLASSIFIER_METHODS.items() if m.budget is not None}


def page_methods() -> list[str]:
    """The methods in the Few-shot page's menu order (best first)."""
    return sorted(CLASSIFIER_METHODS, key=lambda n: CLASSIFIER_METHODS[n].page_rank)


def make_classifier(method: str, *, zero_shot: ZeroShotClassifier | None = None, seed: int = 0) -> _ProbaClassifier:
    """A new, unfitted classifier of ``method`` (one of ``METHODS``).

    Raises:
        InputError: an unknown method, or a prompt-based method without ``zero_shot``.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(METHODS)}.")
    if method in NEEDS_PROMPTS and zero_shot is None:
        raise InputError(f"method {method!r} needs the zero-shot classifier of a prompt set; save a prompt set first.")
    return METHODS[method](zero_shot=zero_shot, seed=seed)


@dataclass
class FewShotPrediction:
    """Predictions of one trained method for the unlabelled images.

    ``ids`` (n,) int64 image ids; ``proba`` (n, C) float32 over ``classes``.
    """

    method: str
    classes: list[str]
    ids: np.ndarray
    proba: np.ndarray
    train_counts: dict[str, int]
    held_out: int
    split_name: str | None
    notes: list[str] = field(default_factory=list)
    truth: list[str] | None = None  # set for cross-validated predictions of labelled images

    @property
    def predicted(self) -> list[str]:
        """Most probable class per image."""
        return [self.classes[i] for i in self.proba.argmax(axis=1)] if len(self.ids) else []

    @property
    def confidence(self) -> np.ndarray:
        """(n,) float32 probability of the predicted class."""
        return self.proba.max(axis=1) if len(self.ids) else np.zeros(0, np.float32)

    @property
    def margin(self) -> np.ndarray:
        """(n,) float32 gap between the two most probable classes (small = unsure)."""
        if len(self.ids) == 0:
            return np.zeros(0, np.float32)
        top2 = np.sort(self.proba, axis=1)[:, -2:]
        return (top2[:, 1] - top2[:, 0]).astype(np.float32)

    def least_confident(self, n: int) -> list[int]:
        """Ids of the ``n`` images the classifier is least sure about (smallest margin first)."""
        order = np.lexsort((self.ids, self.margin))
        return [int(self.ids[i]) for i in order[: max(0, n)]]

    def records(self) -> list[dict]:
        """One dict per image: id, predicted, confidence, margin, and p(<class>) per class."""
        out = []
        best, confidence, margin = self.proba.argmax(axis=1), self.confidence, self.margin  # once, not per row
        for row, image_id in enumerate(self.ids):
            rec = {
                "id": int(image_id),
                "predicted": self.classes[int(best[row])],
                "confidence": float(confidence[row]),
                "margin": float(margin[row]),
            }
            if self.truth is not None:
                rec["label"] = self.truth[row]
                rec["correct"] = rec["label"] == rec["predicted"]
            rec.update({f"p({c})": float(self.proba[row, j]) for j, c in enumerate(self.classes)})
            out.append(rec)
        return out

    def mistakes_first(self) -> list[int]:
        """Row order: wrong predictions first (most confident mistakes first), then the rest
        by smallest margin. Without ``truth``, the same as by margin."""
        wrong = np.asarray([t != p for t, p in zip(self.truth or [], self.predicted)], dtype=bool)
        if self.truth is None or len(wrong) != len(self.ids):
            wrong = np.zeros(len(self.ids), dtype=bool)
        conf = self.confidence
        key = np.where(wrong, -conf, 1.0 + self.margin)
        return [int(i) for i in np.lexsort((self.ids, key))]


@dataclass
class _TrainingSet:
    """The labelled, embedded images outside the hold-out that a method may learn from."""

    labels: dict[int, str]  # every labelled image of the source (hold-out included)
    ids: np.ndarray  # (n,) int64 training image ids, ascending
    y: list[str]
    held_out: int  # images in the hold-out split
    split_name: str | None
    notes: list[str]


def _training_set(ws: Workspace, matrix: EmbeddingMatrix, method: str, source: str, split_name: str) -> _TrainingSet:
    """The shared opening of ``predict_unlabelled`` and ``cross_validated_labelled``.

    The hold-out is the stored split ``split_name``; reading never freezes one (that is
    ``clipcore.classify.splits.freeze_split``, an explicit action)."""
    from clipcore.classify.splits import get_split, labelled_images

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {sorted(METHODS)}.")
    labels = labelled_images(ws, source)
    notes: list[str] = []
    split = get_split(ws, split_name)
    held_out = np.asarray(sorted(split.test_ids) if split else [], dtype=np.int64)
    ordered = np.asarray(sorted(labels), dtype=np.int64)
    rows = matrix.rows_of(ordered)
    missing = int(np.count_nonzero(rows < 0))
    if missing:
        notes.append(f"{missing} labelled image(s) have no embedding yet and were left out.")
    ids = ordered[(rows >= 0) & ~np.isin(ordered, held_out)]
    return _TrainingSet(labels, ids, [labels[int(i)] for i in ids], len(held_out), split.name if split else None, notes)


def _bounded(ids: np.ndarray, y: list[str], budget: int | None, seed: int, what: str, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """A stratified sample of at most ``budget`` examples (with a note), or all of them."""
    sub = stratified_sample(np.asarray(y), budget, seed) if budget else None
    if sub is None:
        return ids, y
    notes.append(f"{what} a stratified sample of {len(sub):,} of the {len(ids):,} labelled images (a bounded budget).")
    return ids[sub], [y[i] for i in sub]


def predict_rows(clf: Any, vectors: np.ndarray, rows: np.ndarray, *, chunk: int = 65_536, progress: Any = None) -> np.ndarray:
    """``clf.predict_proba`` of ``vectors[rows]``, ``chunk`` rows at a time (a memory map is
    read one chunk at a time): (len(rows), C) float32. ``progress(done, total)`` after each chunk."""
    out = np.zeros((len(rows), len(clf.classes_)), np.float32)
    for start in range(0, len(rows), max(1, chunk)):
        part = rows[start : start + chunk]
        out[start : start + len(part)] = clf.predict_proba(np.asarray(vectors[part], dtype=np.float32))
        if progress is not None:
            progress(start + len(part), len(rows))
    return out


def predict_unlabelled(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    *,
    method: str,
    source: str = "both",
    zero_shot: ZeroShotClassifier | None = None,
    seed: int = 0,
    split_name: str = "default",
    max_train: int | None = None,
    max_predict: int | None = None,
    chunk: int = 65_536,
    progress: Any = None,
) -> FewShotPrediction:
    """Train ``method`` on the labelled images outside the hold-out and predict the rest.

    When no split is frozen, every labelled image trains and a note says so. With
    ``max_train``, training uses a stratified sample of at most that many images; with
    ``max_predict``, at most that many unlabelled images spread over the collection are
    predicted (each bound is stated in the notes).

    Raises:
        InputError: fewer than two classes among the training images, or a bad method/source.
    """
    ts = _training_set(ws, matrix, method, source, split_name)
    notes = list(ts.notes)
    if ts.split_name is None and ts.labels:
        notes.insert(0,
            f"no hold-out split {split_name!r} is frozen yet, so training uses every labelled image; freeze one "
            "(Freeze hold-out on the Evaluate page; on the command line, split freeze) to keep evaluation images "
            "out of training."
        )
    if method != "zero_shot" and len(set(ts.y)) < 2:
        raise InputError(
            f"training needs labelled images of at least 2 classes outside the hold-out; source {source!r} gives "
            f"{dict(Counter(ts.y))}. Label more images or choose another label source."
        )
    train_ids, y = _bounded(ts.ids, ts.y, max_train, seed, "trained on", notes)
    clf = make_classifier(method, zero_shot=zero_shot, seed=seed)
    X = np.asarray(matrix.vectors[matrix.rows_of(train_ids)], dtype=np.float32) if len(train_ids) else np.zeros((0, matrix.vectors.shape[1]), np.float32)
    clf.fit(X if method != "zero_shot" else np.asarray(matrix.vectors[:1], dtype=np.float32), y)
    labelled = np.fromiter(ts.labels.keys(), dtype=np.int64, count=len(ts.labels))
    unlabelled = np.asarray(matrix.ids, dtype=np.int64)[~np.isin(matrix.ids, labelled)]
    if max_predict and len(unlabelled) > max_predict:
        notes.append(f"predicted {max_predict:,} of the {len(unlabelled):,} unlabelled images, spread over the collection.")
        unlabelled = unlabelled[np.linspace(0, len(unlabelled) - 1, max_predict).astype(np.int64)]
    proba = predict_rows(clf, matrix.vectors, matrix.rows_of(unlabelled), chunk=chunk, progress=progress)
    logger.info("%s trained on %d images; predicted %d unlabelled", method, len(train_ids), len(unlabelled))
    return FewShotPrediction(
        method=method,
        classes=[str(c) for c in clf.classes_],
        ids=unlabelled,
        proba=np.asarray(proba, dtype=np.float32),
        train_counts=dict(sorted(Counter(y).items())),
        held_out=ts.held_out,
        split_name=ts.split_name,
        notes=notes,
    )


def cross_validated_labelled(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    *,
    method: str,
    source: str = "both",
    zero_shot: ZeroShotClassifier | None = None,
    seed: int = 0,
    split_name: str = "default",
    n_folds: int = 5,
    max_images: int | None = None,
) -> FewShotPrediction:
    """Cross-validated predictions for the labelled images outside the hold-out: each image is
    predicted by ``method`` trained on the other folds, never on itself (and never on the
    hold-out). What the page shows when every image is labelled: where the classifier errs.

    Returns a ``FewShotPrediction`` over the labelled training images with ``truth`` set;
    with ``max_images``, over a stratified sample of at most that many (noted).

    Raises:
        InputError: fewer than two classes or fewer than ``n_folds`` labelled training images.
    """
    ts = _training_set(ws, matrix, method, source, split_name)
    notes = list(ts.notes)
    ids, y = _bounded(ts.ids, ts.y, max_images, seed, "cross-validated", notes)
    classes = sorted(set(y))
    if len(classes) < 2 or len(ids) < n_folds:
        raise InputError(
            f"cross-validation needs at least {n_folds} labelled images of 2+ classes outside the hold-out; "
            f"source {source!r} gives {dict(Counter(y))}. Label more images."
        )
    X = np.asarray(matrix.vectors[matrix.rows_of(ids)], dtype=np.float32)
    fold = stratified_folds(y, n_folds, seed)
    n_folds = int(fold.max()) + 1  # fewer when every class is smaller than n_folds
    proba = np.zeros((len(ids), len(classes)), np.float32)
    column = {c: j for j, c in enumerate(classes)}
    y_arr = np.asarray(y, dtype=object)
    for k in range(n_folds):
        test, train = fold == k, fold != k
        if not test.any():
            continue
        if method != "zero_shot" and len(set(y_arr[train])) < 2:
            raise InputError(f"fold {k + 1} of {n_folds} trains on a single class; label more images of each class.")
        clf = make_classifier(method, zero_shot=zero_shot, seed=seed)
        clf.fit(X[train] if method != "zero_shot" else X[:1], list(y_arr[train]))
        p = clf.predict_proba(X[test])
        for j, c in enumerate(clf.classes_):
            if str(c) in column:
                proba[test, column[str(c)]] = p[:, j]
    logger.info("%s cross-validated on %d labelled images in %d folds", method, len(ids), n_folds)
    return FewShotPrediction(
        method=method,
        classes=classes,
        ids=ids,
        proba=proba,
        train_counts=dict(sorted(Counter(y).items())),
        held_out=ts.held_out,
        split_name=ts.split_name,
        notes=[f"each image predicted by a classifier trained on the other {n_folds - 1} of {n_folds} folds.", *notes],
        truth=y,
    )
