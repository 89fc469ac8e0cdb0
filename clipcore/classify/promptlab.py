"""The prompt lab: suggest better prompts per class from the labelled images.

Candidates are a template bank x the class's name x the user's own synonyms. Each
candidate is scored by putting it in place of its class's prompts (the other classes keep
the current set's) and measuring zero-shot accuracy on the labelled images, fold by fold
(``n_folds`` class-balanced folds). A candidate's *gain* is its accuracy minus the
current set's on the same fold, so its uncertainty is the standard error of a paired
difference over folds. The suggested set (the best candidate of each class, where it
beats the current prompts) is also scored honestly: chosen on the other folds, scored on
the held-out fold.

Only labelled images outside the frozen hold-out split are used: the hold-out stays for
the Evaluate page and the Zero-shot page's accuracy after saving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from clipcore.errors import InputError
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.classify.prompts import PromptSet
from clipcore.classify.splits import stratified_folds

TEMPLATE_BANK: list[str] = [
    "{}",
    "a photo of {}",
    "a scan of {}",
    "a page showing {}",
    "an old book page with {}",
    "a printed page of {}",
    "an illustration of {}",
    "a drawing of {}",
    "a black and white image of {}",
    "a close-up of {}",
]

TextEncoder = Callable[[list[str]], np.ndarray]  # texts -> (n, dim) float32 unit rows


@dataclass(frozen=True)
class Candidate:
    """One candidate prompt for one class, scored over the folds.

    ``accuracy`` mean over folds; ``gain`` mean paired difference to the current prompts;
    ``gain_se`` its standard error over folds.
    """

    label: str
    prompt: str
    accuracy: float
    gain: float
    gain_se: float


@dataclass
class PromptSuggestions:
    """Every class's candidates, best first, and the suggested set's honest estimate."""

    base_accuracy: float
    n_images: int
    n_folds: int
    per_class: dict[str, list[Candidate]]
    suggested: dict[str, list[str]]
    suggested_gain: float
    suggested_gain_se: float
    notes: list[str] = field(default_factory=list)
    # Each suggested class's share of the suggested set's gain on these images: its prompt
    # put in, in the order of ``suggested``, after the classes before it. They add up to
    # ``suggested_gain_here`` exactly (the honest, cross-validated figure is ``suggested_gain``).
    contributions: dict[str, float] = field(default_factory=dict)
    suggested_gain_here: float = 0.0

    def best(self, label: str) -> Candidate | None:
        """The top-ranked candidate of a class."""
        ranked = self.per_class.get(label) or []
        return ranked[0] if ranked else None

    def as_prompt_set(self, name: str, current: PromptSet) -> PromptSet:
        """The suggestion as a prompt set: suggested classes get their new prompt (as written,
        no templates); the others keep the current prompts expanded through its templates."""
        from clipcore.classify.prompts import expand_prompts

        expanded = expand_prompts(current)
        classes = {label: list(self.suggested.get(label) or expanded[label]) for label in expanded}
        return PromptSet(name, classes, [])


def candidate_prompts(
    labels: Sequence[str], synonyms: Mapping[str, Sequence[str]] | None = None, templates: Sequence[str] = TEMPLATE_BANK
) -> dict[str, list[str]]:
    """Candidates per class: every template filled with the class name (underscores as
    spaces) and each of the user's synonyms for it; duplicates dropped, order kept."""
    out: dict[str, list[str]] = {}
    for label in labels:
        terms = [label.replace("_", " ").strip()] + [s.strip() for s in (synonyms or {}).get(label, []) if s.strip()]
        prompts = [t.replace("{}", term) for term in terms for t in templates]
        out[label] = list(dict.fromkeys(p for p in prompts if p))
    return out


def _fold_accuracy(correct: np.ndarray, fold: np.ndarray, n_folds: int) -> np.ndarray:
    return np.asarray([correct[fold == k].mean() if (fold == k).any() else np.nan for k in range(n_folds)])


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return 0.0, 0.0
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se


def suggest_prompts(
    X: np.ndarray,
    y: Sequence[str],
    labels: Sequence[str],
    class_vectors: np.ndarray,
    candidates: Mapping[str, Sequence[str]],
    encode: TextEncoder,
    *,
    n_folds: int = 5,
    seed: int = 0,
) -> PromptSuggestions:
    """Rank candidate prompts per class by cross-validated zero-shot accuracy.

    Args:
        X: (n, dim) float32 unit-norm image embeddings of labelled images (never the hold-out).
        y: n class names; images of classes outside ``labels`` are ignored.
        labels: the current prompt set's classes; ``class_vectors`` (C, dim) their unit vectors.
        candidates: class -> candidate prompts (see ``candidate_prompts``).
        encode: the model's text encoder, (texts) -> (m, dim) unit rows.
    Raises:
        InputError: fewer than ``n_folds`` usable images or fewer than two classes among them.
    """
    labels = list(labels)
    index = {c: j for j, c in enumerate(labels)}
    keep = np.asarray([t in index for t in y], dtype=bool)
    X = np.asarray(X, dtype=np.float32)[keep]
    y_idx = np.asarray([index[t] for t in y if t in index], dtype=np.int64)
    if len(y_idx) < n_folds or len(set(y_idx.tolist())) < 2:
        raise InputError(
            f"the prompt lab needs at least {n_folds} labelled images of 2+ of the set's classes outside the hold-out; "
            f"found {len(y_idx)} of {len(set(y_idx.tolist()))} class(es). Label more images."
        )
    fold = stratified_folds([labels[i] for i in y_idx], n_folds, seed)
    T = np.asarray(class_vectors, dtype=np.float32)
    S = X @ T.T  # (n, C) cosine to the current class vectors
    base_correct = S.argmax(axis=1) == y_idx
    base_folds = _fold_accuracy(base_correct, fold, n_folds)

    per_class: dict[str, list[Candidate]] = {}
    encoded: dict[str, np.ndarray] = {}  # class -> (m, dim) candidate vectors
    for label, prompts in candidates.items():
        if label not in index or not prompts:
            continue
        j = index[label]
        vecs = np.asarray(encode(list(prompts)), dtype=np.float32)  # (m, dim)
        col = X @ vecs.T  # (n, m): the image's cosine to each candidate
        others = np.delete(S, j, axis=1)
        other_best = others.max(axis=1)
        other_arg = np.delete(np.arange(len(labels)), j)[others.argmax(axis=1)]
        ranked = []
        for m, prompt in enumerate(prompts):
            pred = np.where(col[:, m] > other_best, j, other_arg)
            per_fold = _fold_accuracy(pred == y_idx, fold, n_folds)
            gain, se = _mean_se(per_fold - base_folds)
            ranked.append(Candidate(label, prompt, float(np.nanmean(per_fold)), gain, se))
        ranked.sort(key=lambda c: (-c.accuracy, c.gain_se, c.prompt))
        per_class[label] = ranked
        encoded[label] = vecs

    suggested = {label: [ranked[0].prompt] for label, ranked in per_class.items() if ranked and ranked[0].gain > 0}
    # Honest estimate of the suggested set: per fold, pick each class's best prompt on the
    # other folds (greedy, one class at a time), then score the picks on this fold.
    chosen_gain = np.full(n_folds, np.nan)
    for k in range(n_folds):
        train, test = fold != k, fold == k
        if not test.any():
            continue
        T_k = T.copy()
        for label, vecs in encoded.items():
            j = index[label]
            best_acc, best_vec = (S[train].argmax(axis=1) == y_idx[train]).mean(), None
            for v in vecs:
                trial = T_k.copy()
                trial[j] = v
                acc = ((X[train] @ trial.T).argmax(axis=1) == y_idx[train]).mean()
                if acc > best_acc:
                    best_acc, best_vec = acc, v
            if best_vec is not None:
                T_k[j] = best_vec
        acc_k = ((X[test] @ T_k.T).argmax(axis=1) == y_idx[test]).mean()
        chosen_gain[k] = acc_k - base_folds[k]
    gain, se = _mean_se(chosen_gain)
    # The suggested set on these images, one class at a time: each step's accuracy change is
    # that class's contribution, so the contributions add up to the set's gain here.
    contributions: dict[str, float] = {}
    T_step, acc_step = T.copy(), float(base_correct.mean())
    for label, (prompt,) in suggested.items():
        j = index[label]
        T_step[j] = encoded[label][list(candidates[label]).index(prompt)]
        acc = float(((X @ T_step.T).argmax(axis=1) == y_idx).mean())
        contributions[label] = acc - acc_step
        acc_step = acc
    return PromptSuggestions(
        contributions=contributions,
        suggested_gain_here=acc_step - float(base_correct.mean()),
        base_accuracy=float(base_correct.mean()),
        n_images=int(len(y_idx)),
        n_folds=n_folds,
        per_class=per_class,
        suggested=suggested,
        suggested_gain=gain,
        suggested_gain_se=se,
    )


def lab_images(ws: Workspace, matrix: EmbeddingMatrix, source: str = "both", split_name: str = "default") -> tuple[np.ndarray, list[str], int]:
    """The prompt lab's data: (X (n, dim) float32, y, number of hold-out images left out).
    Labelled, embedded images outside the frozen hold-out split ``split_name``."""
    from clipcore.classify.splits import get_split, labelled_images

    labels = labelled_images(ws, source)
    split = get_split(ws, split_name)
    held_out = set(split.test_ids) if split else set()
    ordered = sorted(i for i in labels if i not in held_out)
    rows = matrix.rows_of(ordered)
    ids = [i for i, r in zip(ordered, rows) if r >= 0]
    X = np.asarray(matrix.vectors[matrix.rows_of(ids)], dtype=np.float32) if ids else np.zeros((0, matrix.vectors.shape[1]), np.float32)
    return X, [labels[i] for i in ids], len(held_out & set(labels))
