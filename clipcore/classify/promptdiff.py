"""Two prompt-set versions side by side: what changed in their prompts, class by class,
and which images changed their zero-shot prediction between them.

The prompt diff keeps each class's prompt order (added prompts in B's order, removed in
A's); templates are compared the same way. The flips are computed on numpy arrays over
the images both results scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from clipcore.classify.prompts import PromptSet
from clipcore.classify.zeroshot import ZeroShotResult

FLIP_KINDS = ("fixed", "broken", "changed")


@dataclass(frozen=True)
class ClassDiff:
    """One class's prompts in A and B. ``status``: "added" (only in B), "removed" (only in
    A), "changed" or "same"."""

    name: str
    status: str
    removed: list[str]  # in A, not in B
    added: list[str]  # in B, not in A
    kept: list[str]  # in both (B's order)


def _minus(left: list[str], right: list[str]) -> list[str]:
    other = set(right)
    return [p for p in left if p not in other]


def diff_prompt_sets(a: PromptSet, b: PromptSet) -> list[ClassDiff]:
    """Class-by-class differences between prompt sets ``a`` and ``b``: A's classes in A's
    order, then the classes only B has."""
    out = []
    for name in [*a.classes, *(c for c in b.classes if c not in a.classes)]:
        pa, pb = list(a.classes.get(name, [])), list(b.classes.get(name, []))
        if name not in b.classes:
            status = "removed"
        elif name not in a.classes:
            status = "added"
        else:
            status = "same" if pa == pb else "changed"
        out.append(ClassDiff(name, status, _minus(pa, pb), _minus(pb, pa), [p for p in pb if p in set(pa)]))
    return out


def diff_templates(a: PromptSet, b: PromptSet) -> tuple[list[str], list[str]]:
    """(templates removed, templates added) from ``a`` to ``b``."""
    return _minus(list(a.templates), list(b.templates)), _minus(list(b.templates), list(a.templates))


@dataclass(frozen=True)
class Flips:
    """Images whose predicted class differs between results A and B, most confident (in B)
    first. ``kind`` per image: "fixed" (A wrong, B right), "broken" (A right, B wrong), or
    "changed" (no ground truth, or wrong both times). Arrays all (k,)."""

    ids: np.ndarray  # int64
    a: np.ndarray  # object, A's predicted class
    b: np.ndarray  # object, B's predicted class
    truth: np.ndarray  # object, ground truth or None
    kind: np.ndarray  # object, one of FLIP_KINDS
    compared: int  # images scored by both

    def counts(self) -> dict[str, int]:
        """{"fixed": n, "broken": n, "changed": n}."""
        return {k: int((self.kind == k).sum()) for k in FLIP_KINDS}

    def of_kind(self, kind: str | None) -> np.ndarray:
        """The flipped ids of one kind (all of them for None), in order."""
        return self.ids if kind is None else self.ids[self.kind == kind]


def flipped_predictions(a: ZeroShotResult, b: ZeroShotResult, truth: Mapping[int, str] | None = None) -> Flips:
    """The images whose prediction changed from ``a`` to ``b`` (the images both scored)."""
    ids_a, ids_b = np.asarray(a.ids, np.int64), np.asarray(b.ids, np.int64)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    la = np.asarray(a.labels, dtype=object)[a.proba.argmax(axis=1)[ia]] if len(common) else np.zeros(0, object)
    lb = np.asarray(b.labels, dtype=object)[b.proba.argmax(axis=1)[ib]] if len(common) else np.zeros(0, object)
    moved = la != lb
    ids, la, lb = common[moved], la[moved], lb[moved]
    conf = b.proba.max(axis=1)[ib][moved] if len(common) else np.zeros(0, np.float32)
    order = np.lexsort((ids, -conf))
    ids, la, lb = ids[order], la[order], lb[order]
    truth = truth or {}
    t = np.asarray([truth.get(int(i)) for i in ids], dtype=object)
    kind = np.full(len(ids), "changed", dtype=object)
    kind[(t == lb) & (t != None)] = "fixed"  # noqa: E711 (elementwise)
    kind[(t == la) & (t != None)] = "broken"  # noqa: E711
    return Flips(ids, la, lb, t, kind, int(len(common)))
