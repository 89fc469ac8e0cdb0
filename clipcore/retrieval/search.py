"""Exact cosine search over a workspace's embeddings.

Queries are unit vectors in the model's joint space: a text, an image already in the
workspace, an uploaded image, or a weighted sum of several (positive and negative
terms). Scores are cosine similarities, ranked best first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from clipcore.errors import InputError
from clipcore.catalog.labels import current_labels
from clipcore.catalog.metadata import ids_matching
from clipcore.catalog.store import EmbeddingMatrix, Workspace

if TYPE_CHECKING:
    from PIL import Image

    from clipcore.embedding.models import ClipModel


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: int
    score: float


@dataclass(frozen=True)
class QueryTerm:
    """One part of a combined query: a text or an image id, with a signed weight."""

    text: str | None = None
    image_id: int | None = None
    weight: float = 1.0


def image_vector(matrix: EmbeddingMatrix, image_id: int) -> np.ndarray:
    """The stored (dim,) embedding of one image.

    Raises:
        InputError: the image has no embedding with this model.
    """
    row = int(matrix.rows_of([image_id])[0])
    if row < 0:
        raise InputError(f"image {image_id} has no {matrix.key} embedding; embed the workspace first.")
    return np.asarray(matrix.vectors[row], dtype=np.float32)


def combine_vectors(vectors: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of unit vectors, re-normalised: (dim,) float32, unit-norm.

    Raises:
        InputError: no terms, all weights zero, or terms that cancel out.
    """
    if not vectors:
        raise InputError("a query needs at least one term.")
    if not any(w != 0 for w in weights):
        raise InputError("every query term has weight 0; give at least one non-zero weight.")
    combined = np.sum([w * np.asarray(v, dtype=np.float32) for v, w in zip(vectors, weights)], axis=0)
    norm = float(np.linalg.norm(combined))
    if norm < 1e-6:
        raise InputError("the query terms cancel each other out; change a weight.")
    return (combined / norm).astype(np.float32)


def top_k(
    matrix: EmbeddingMatrix,
    query: np.ndarray,
    k: int = 20,
    *,
    offset: int = 0,
    exclude: Iterable[int] = (),
    restrict_to: Iterable[int] | None = None,
) -> list[Hit]:
    """The best ``k`` images for a unit query vector, skipping the first ``offset`` ranks.

    Args:
        query: (dim,) float32 unit vector in the same space as ``matrix``.
        exclude: image ids never returned.
        restrict_to: if given, only these image ids are ranked.
    Returns:
        Hits by descending cosine; ties broken by ascending id, so paging is stable.
    """
    if k < 1:
        raise InputError(f"k must be at least 1; got {k}.")
    query = np.asarray(query, dtype=np.float32).reshape(-1)
    if query.shape[0] != matrix.vectors.shape[1]:
        raise InputError(f"query has dim {query.shape[0]} but {matrix.key} embeddings have dim {matrix.vectors.shape[1]}.")
    scores = np.asarray(matrix.vectors @ query, dtype=np.float32)
    mask = np.ones(len(scores), dtype=bool)
    exclude = list(exclude)
    if exclude:
        mask &= ~np.isin(matrix.ids, np.asarray(exclude, dtype=np.int64))
    if restrict_to is not None:
        mask &= np.isin(matrix.ids, np.asarray(list(restrict_to), dtype=np.int64))
    candidates = np.flatnonzero(mask)
    need = offset + k
    if need < len(candidates):
        part = np.argpartition(-scores[candidates], need - 1)[:need]
        # Keep every candidate tied with the cut-off so the tie-break below is exact.
        cutoff = scores[candidates][part].min()
        candidates = candidates[scores[candidates] >= cutoff]
    order = np.lexsort((matrix.ids[candidates], -scores[candidates]))
    chosen = candidates[order][offset:need]
    return [Hit(int(matrix.ids[i]), float(scores[i])) for i in chosen]


def query_image_vector(model: "ClipModel", image: "Image.Image") -> np.ndarray:
    """Embed one decoded RGB image (e.g. an upload from ``images.load_query_image``).

    Returns:
        (dim,) float32, unit-norm. Nothing is written to the workspace.
    """
    pixels = model.preprocess.apply(image)[None]
    return model.encode_pixels(pixels)[0]


@dataclass(frozen=True)
class SearchFilters:
    """Which images a search may return.

    ``hide_labelled`` drops images that have a current label; ``truth_class`` keeps only
    images of that ground-truth class; ``label`` keeps only images with that current label;
    ``book`` keeps imported pages whose book folder or title contains it (any case), ``page``
    those with that page number.
    """

    hide_labelled: bool = False
    truth_class: str | None = None
    label: str | None = None
    book: str | None = None
    page: int | None = None

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return (
            self.hide_labelled or self.truth_class is not None or self.label is not None
            or bool(self.book) or self.page is not None
        )


def filter_ids(ws: Workspace, filters: SearchFilters) -> np.ndarray | None:
    """Ids that pass the filters, for ``top_k(restrict_to=...)``; None when no filter is set.

    Returns:
        (m,) int64 ascending, possibly empty; or None (every image passes).
    """
    if not filters.active:
        return None
    ids = set(int(i) for i in ws.image_ids())
    labels = current_labels(ws) if (filters.hide_labelled or filters.label is not None) else {}
    if filters.hide_labelled:
        ids -= set(labels)
    if filters.label is not None:
        ids &= {i for i, lbl in labels.items() if lbl == filters.label}
    if filters.truth_class is not None:
        ids &= {i for i, lbl in ws.ground_truth().items() if lbl == filters.truth_class}
    if filters.book or filters.page is not None:
        ids &= ids_matching(ws, book=filters.book or None, page=filters.page)
    return np.asarray(sorted(ids), dtype=np.int64)
