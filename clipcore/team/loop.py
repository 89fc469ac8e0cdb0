"""The labelling loop's next page, as a library call the Label page (and any script) makes.

One step of the loop: leave out what must not be shown again (every labelled image, the
images deselected for this class, the pages passed over for this query, images another
annotator holds), optionally fit a scorer on the labels so far ("learn as you go"), rank
the rest (a text or image query through the vector index; a class's zero-/few-shot scores
over the matrix) and claim the page for the annotator. The Streamlit side only builds the
query and keeps the page on screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from clipcore.catalog import labels as lbl
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.errors import InputError
from clipcore.team import ranking


@dataclass(frozen=True)
class PageRequest:
    """What the next page is for.

    ``target``: the class being labelled; ``n``: images on the page. Exactly one of
    ``query`` (a unit (dim,) float32 vector: a text or an image; ranked through the index)
    and ``class_scores`` ((rows,) float, one per row of the matrix: zero-/few-shot
    probability of ``target``). ``learn``: re-rank with a classifier on the labels so far;
    ``claim``: claim the page for the annotator (and skip others' claims); ``skipped``:
    images passed over for this query.
    """

    target: str
    n: int
    query: np.ndarray | None = None
    class_scores: np.ndarray | None = None
    learn: bool = False
    claim: bool = False
    skipped: Sequence[int] = ()


@dataclass(frozen=True)
class NextPage:
    """The page: ``ids`` best first, their ranking ``scores``, and whether a scorer on the
    labels re-ranked it."""

    ids: list[int]
    scores: dict[int, float] = field(default_factory=dict)
    reranked: bool = False


def excluded_ids(ws: Workspace, labels: Any, target: str, *, annotator: str, claim: bool,
                 skipped: Sequence[int] = ()) -> np.ndarray:
    """(m,) int64 sorted ids the next page must not show: every labelled image (``labels``:
    ``catalog.labels.LabelArrays``), the images deselected for ``target``, ``skipped``, and
    with ``claim`` the images other annotators hold. Arrays, not sets: at a million labels."""
    parts = [np.asarray(labels.ids, dtype=np.int64), np.fromiter(lbl.rejected_for(ws, target), dtype=np.int64),
             np.asarray(list(skipped), dtype=np.int64)]
    if claim:
        parts.append(np.fromiter(lbl.claimed_by_others(ws, annotator), dtype=np.int64))
    return np.unique(np.concatenate(parts))


def next_page(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    labels: Any,
    request: PageRequest,
    *,
    annotator: str,
    index: Any = None,
) -> NextPage:
    """The next page of unlabelled candidates for ``request.target``.

    Args:
        matrix: the embeddings of the active model (rows unit-norm float32).
        labels: the current labels as ``catalog.labels.LabelArrays``.
        index: the ``retrieval.index.VectorIndex`` over ``matrix`` for a query (opened
            from the workspace when None).
    Raises:
        InputError: neither or both of ``query`` and ``class_scores``, or ``n`` below 1.
    """
    if request.n < 1:
        raise InputError(f"a page holds at least 1 image; got n={request.n}.")
    if (request.query is None) == (request.class_scores is None):
        raise InputError("give either a query vector (text or image) or class scores (zero-/few-shot), not both or neither.")
    exclude = excluded_ids(ws, labels, request.target, annotator=annotator, claim=request.claim, skipped=request.skipped)
    scorer = None
    if request.learn:
        scorer = ranking.fit_class_scorer(matrix, labels, request.target, lbl.rejected_for(ws, request.target))
    limit = 2 * request.n if request.claim else request.n  # room for images others claim meanwhile
    if request.query is not None:  # through the vector index: top candidates only, not the whole matrix
        if index is None:
            from clipcore.retrieval.index import open_index

            index = open_index(ws, matrix)
        ranked = ranking.rank_by_query(index, request.query, limit=limit, exclude=exclude, scorer=scorer)
    else:
        ranked = ranking.rank_candidates(matrix, request.class_scores, limit=limit, exclude=exclude, scorer=scorer)
    ids = [r.id for r in ranked]
    if request.claim and ids:
        ids = lbl.claim_images(ws, ids, request.n, annotator=annotator)
    ids = ids[: request.n]
    scores = {r.id: r.score for r in ranked}
    return NextPage(ids, {i: scores[i] for i in ids}, scorer is not None)
