"""Cosine search over a workspace's embeddings, through ``retrieval.index``.

Queries are unit vectors in the model's joint space: a text, an image already in the
workspace, an uploaded image, or a weighted sum of several (positive and negative
terms). Scores are exact cosine similarities, ranked best first; candidates come from
the embedding set's vector index (``retrieval.index``: HNSW when built, else exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from clipcore.errors import InputError
from clipcore.catalog.labels import current_labels
from clipcore.catalog.metadata import ids_matching
from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.retrieval.index import Cursor, Hit, Page, Selection, VectorIndex, as_index

if TYPE_CHECKING:
    from PIL import Image

    from clipcore.embedding.models import ClipModel


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
    matrix: EmbeddingMatrix | VectorIndex,
    query: np.ndarray,
    k: int = 20,
    *,
    offset: int = 0,
    exclude: Iterable[int] | np.ndarray = (),
    restrict_to: Iterable[int] | np.ndarray | None = None,
) -> list[Hit]:
    """The best ``k`` images for a unit query vector, skipping the first ``offset`` ranks.

    For paging through many results use ``search_page`` (a cursor), not a growing offset.
    Args:
        matrix: the embeddings, or a ``VectorIndex`` over them.
        query: (dim,) float32 unit vector in the same space as ``matrix``.
        exclude: image ids never returned.
        restrict_to: if given, only these image ids are ranked.
    Returns:
        Hits by descending cosine; ties broken by ascending id, so paging is stable.
    """
    if k < 1:
        raise InputError(f"k must be at least 1; got {k}.")
    if offset < 0:
        raise InputError(f"offset must be at least 0; got {offset}.")
    index = as_index(matrix)
    selection = index.select(exclude=exclude, restrict_to=restrict_to)
    return index.search(query, offset + k, selection=selection).hits[offset:]


def search_page(
    index: EmbeddingMatrix | VectorIndex,
    query: np.ndarray,
    k: int = 20,
    *,
    selection: Selection | None = None,
    after: Cursor | None = None,
) -> Page:
    """One page of results strictly after ``after`` (None: the first page).

    ``selection`` comes from ``index.select(exclude=..., restrict_to=...)`` (make it once per
    filter). The returned ``Page.next`` is the cursor for the following page.
    """
    return as_index(index).search(query, k, selection=selection, after=after)


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
    """Ids that pass the filters, for ``select(restrict_to=...)``; None when no filter is set.

    Set operations run on sorted numpy arrays, not Python sets.
    Returns:
        (m,) int64 ascending, possibly empty; or None (every image passes).
    """
    if not filters.active:
        return None
    ids = ws.image_ids()
    if filters.hide_labelled or filters.label is not None:
        labels = current_labels(ws)
        labelled = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
        if filters.hide_labelled:
            ids = np.setdiff1d(ids, labelled, assume_unique=True)
        if filters.label is not None:
            with_label = labelled[np.fromiter((v == filters.label for v in labels.values()), dtype=bool, count=len(labels))]
            ids = np.intersect1d(ids, with_label, assume_unique=True)
    if filters.truth_class is not None:
        truth = ws.ground_truth()
        tid = np.fromiter(truth.keys(), dtype=np.int64, count=len(truth))
        of_class = tid[np.fromiter((v == filters.truth_class for v in truth.values()), dtype=bool, count=len(truth))]
        ids = np.intersect1d(ids, of_class, assume_unique=True)
    if filters.book or filters.page is not None:
        matching = np.fromiter((int(i) for i in ids_matching(ws, book=filters.book or None, page=filters.page)), dtype=np.int64)
        ids = np.intersect1d(ids, np.unique(matching), assume_unique=True)
    return ids.astype(np.int64)
