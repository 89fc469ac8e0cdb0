"""One vector-index interface over a workspace's embeddings, with two implementations.

* ``ExactIndex``: cosine scan of every (allowed) row of the embedding matrix.
* ``HnswIndex``: faiss HNSW graph over 8-bit (SQ8) or fp16 codes, inner product. Its
  candidates are re-scored exactly from the memory-mapped float32 vectors, so scores are
  true cosines and the index never holds a second float32 copy of the collection.

Both answer ``search(query, k, selection=..., after=cursor)`` and return a ``Page``:
hits ordered by (cosine descending, id ascending) plus a ``Cursor`` for the next page.

Filters are a ``Selection`` made once per filter (``index.select(exclude=..., restrict_to=...)``):
a boolean mask over matrix rows, never a Python set of ids. Inside HNSW an excluded row is
dropped by a faiss ``IDSelectorBitmap`` during the graph walk; a restriction to a small
subset (at most ``EXACT_FRACTION`` of the rows) is scanned exactly instead, since a graph
walk that skips 95% of nodes loses recall. Such a selection copies its rows' vectors into
one contiguous block when it is made (up to ``EXACT_COPY_MAX_BYTES``), so each query is
one matrix-vector product.

The HNSW index is persisted beside the vectors::

    embeddings/<set>/index/hnsw.faiss    faiss graph + codes (memory-mapped at load)
    embeddings/<set>/index/ids.npy       (n_built,) int64 image id of each graph node
    embeddings/<set>/index/manifest.json build parameters, rows covered, measured recall

Rows committed after a build (new or re-embedded images) are not in the graph: they are
scanned exactly on every query and merged, until the next ``python -m clipcore index``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from clipcore.catalog.store import EmbeddingMatrix, Workspace
from clipcore.errors import InputError, WorkspaceError

logger = logging.getLogger(__name__)

INDEX_DIRNAME = "index"
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 256  # at 1M clustered rows: recall@10 0.956 at 128, 0.978 at 256 for +0.2 ms p95 (docs/PERFORMANCE.md)
DEFAULT_CODES = "sq8"
CODES = ("sq8", "fp16")
# A restriction keeping at most this fraction of rows is scanned exactly.
EXACT_FRACTION = 0.08
# Below this many rows an exact scan is as fast as the graph: `embed` does not build one.
BUILD_THRESHOLD = 50_000
ADD_CHUNK = 50_000
# Rows gathered per exact-scoring step: a few MB, so the product reads them from cache.
EXACT_CHUNK = 2048
# A restriction scanned exactly keeps a contiguous float32 copy of its rows when it fits in
# this many bytes (5% of 1M x 512-d: 98 MiB): a query is then one matrix-vector product,
# not a gather of scattered rows from the memory-mapped file.
EXACT_COPY_MAX_BYTES = 256 * 2**20

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Hit:
    """One search result: an image id and its exact cosine to the query."""

    id: int
    score: float


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: strictly after (``score``, ``id``) in (cosine desc, id asc)
    order; ``depth`` counts the hits already returned (how deep the index must look)."""

    score: float
    id: int
    depth: int


@dataclass(frozen=True)
class Page:
    """One page of ranked hits and the cursor for the next page (None when there is none)."""

    hits: list[Hit]
    next: Cursor | None


@dataclass
class Selection:
    """Which matrix rows a search may return; build with ``VectorIndex.select``.

    ``allowed`` (n,) bool over matrix rows, or None for every row; ``count`` rows allowed.
    """

    allowed: np.ndarray | None
    count: int
    exact: bool
    _rows: np.ndarray | None = field(default=None, repr=False)
    _bitmap: Any = field(default=None, repr=False)
    _extra_rows: np.ndarray | None = field(default=None, repr=False)
    _block: np.ndarray | None = field(default=None, repr=False)

    @property
    def rows(self) -> np.ndarray:
        """(count,) int64 allowed matrix rows, ascending."""
        if self._rows is None:
            self._rows = np.flatnonzero(self.allowed) if self.allowed is not None else np.empty(0, np.int64)
        return self._rows


@dataclass(frozen=True)
class Manifest:
    """What a persisted index covers and how it was built."""

    key: str
    dim: int
    rows: int
    committed_rows: int
    codes: str
    m: int
    ef_construction: int
    ef_search: int
    build_s: float
    recall_at_10: float
    recall_queries: int
    built_at: str
    generation: int = 0
    format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return asdict(self)


def _as_ids(ids: Iterable[int] | np.ndarray | None) -> np.ndarray | None:
    if ids is None:
        return None
    if isinstance(ids, np.ndarray):
        return ids.astype(np.int64, copy=False).reshape(-1)
    return np.fromiter((int(i) for i in ids), dtype=np.int64)


def _check_query(matrix: EmbeddingMatrix, query: np.ndarray) -> np.ndarray:
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if q.shape[0] != matrix.vectors.shape[1]:
        raise InputError(f"query has dim {q.shape[0]} but {matrix.key} embeddings have dim {matrix.vectors.shape[1]}.")
    return q


def _after_mask(scores: np.ndarray, ids: np.ndarray, after: Cursor | None) -> np.ndarray | None:
    if after is None:
        return None
    return (scores < after.score) | ((scores == after.score) & (ids > after.id))


def _best(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best ``k`` by (score desc, id asc); exact at ties with the cut-off."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        cutoff = scores[part].min()
        part = np.flatnonzero(scores >= cutoff)
    else:
        part = np.arange(len(scores))
    order = np.lexsort((ids[part], -scores[part]))
    return part[order][:k]


def _page(ids: np.ndarray, scores: np.ndarray, k: int, after: Cursor | None) -> Page:
    keep = _after_mask(scores, ids, after)
    if keep is not None:
        ids, scores = ids[keep], scores[keep]
    chosen = _best(scores, ids, k)
    hits = [Hit(int(ids[i]), float(scores[i])) for i in chosen]
    if len(hits) < k or len(hits) == len(ids):
        return Page(hits, None)
    depth = (after.depth if after else 0) + len(hits)
    return Page(hits, Cursor(hits[-1].score, hits[-1].id, depth))


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """One query's products on one BLAS thread: on a busy machine a multi-threaded
    matrix-vector product waits for a second core (measured 16 ms vs 0.08 ms for 1000 rows)."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


def _score_rows(vectors: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Exact cosines of the given rows, gathered in chunks (no full-size temporary)."""
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), EXACT_CHUNK):
        part = rows[start : start + EXACT_CHUNK]
        out[start : start + len(part)] = np.asarray(vectors[part], dtype=np.float32) @ q
    return out


class VectorIndex:
    """Ranked cosine search over one ``EmbeddingMatrix``; see the module docstring."""

    kind = "abstract"

    def __init__(self, matrix: EmbeddingMatrix) -> None:
        self.matrix = matrix

    def __len__(self) -> int:
        return len(self.matrix.ids)

    def select(
        self, *, exclude: Iterable[int] | np.ndarray | None = None, restrict_to: Iterable[int] | np.ndarray | None = None
    ) -> Selection:
        """A reusable filter: never return ``exclude``; if ``restrict_to`` is given, only those ids.

        Ids without an embedding are ignored. Cost O(n) numpy once; searches reuse it.
        """
        n = len(self.matrix.ids)
        excl, restr = _as_ids(exclude), _as_ids(restrict_to)
        if restr is None and (excl is None or len(excl) == 0):
            return Selection(None, n, exact=False)
        if restr is not None:
            allowed = np.zeros(n, dtype=bool)
            rows = self.matrix.rows_of(restr)
            allowed[rows[rows >= 0]] = True
        else:
            allowed = np.ones(n, dtype=bool)
        if excl is not None and len(excl):
            rows = self.matrix.rows_of(excl)
            allowed[rows[rows >= 0]] = False
        count = int(np.count_nonzero(allowed))
        selection = Selection(allowed, count, exact=count <= EXACT_FRACTION * n)
        vectors = self.matrix.vectors
        if selection.exact and count * vectors.shape[1] * 4 <= EXACT_COPY_MAX_BYTES:
            selection._block = np.empty((count, vectors.shape[1]), dtype=np.float32)
            rows = selection.rows
            for start in range(0, count, EXACT_CHUNK * 8):
                part = rows[start : start + EXACT_CHUNK * 8]
                selection._block[start : start + len(part)] = vectors[part]
        return selection

    def search(
        self,
        query: np.ndarray,
        k: int = 20,
        *,
        selection: Selection | None = None,
        after: Cursor | None = None,
    ) -> Page:
        """The best ``k`` hits for a (dim,) float32 unit query, strictly after ``after``.

        Raises:
            InputError: k < 1, or the query's dimension does not match the embeddings.
        """
        if k < 1:
            raise InputError(f"k must be at least 1; got {k}.")
        q = _check_query(self.matrix, query)
        if selection is not None and selection.count == 0:
            return Page([], None)
        if selection is not None and selection.allowed is not None and len(selection.allowed) != len(self.matrix.ids):
            raise InputError("this selection was made for another embedding matrix; call select() again.")
        with _one_blas_thread():
            return self._search(q, k, selection, after)

    def _search(self, q: np.ndarray, k: int, selection: Selection | None, after: Cursor | None) -> Page:
        raise NotImplementedError

    def _exact(self, q: np.ndarray, k: int, selection: Selection | None, after: Cursor | None) -> Page:
        m = self.matrix
        if selection is None or selection.allowed is None:
            scores = np.asarray(m.vectors @ q, dtype=np.float32)
            return _page(m.ids, scores, k, after)
        rows = selection.rows
        scores = selection._block @ q if selection._block is not None else _score_rows(m.vectors, rows, q)
        return _page(m.ids[rows], scores, k, after)


class ExactIndex(VectorIndex):
    """Exact cosine scan (every row, or the allowed rows)."""

    kind = "exact"

    def _search(self, q: np.ndarray, k: int, selection: Selection | None, after: Cursor | None) -> Page:
        return self._exact(q, k, selection, after)


class HnswIndex(VectorIndex):
    """faiss HNSW over SQ8/fp16 codes, candidates re-scored exactly from the matrix."""

    kind = "hnsw"

    def __init__(
        self,
        matrix: EmbeddingMatrix,
        faiss_index: Any,
        built_ids: np.ndarray,
        manifest: Manifest,
        fresh_ids: np.ndarray | None = None,
        ef_search: int | None = None,
    ) -> None:
        super().__init__(matrix)
        self.faiss_index = faiss_index
        self.manifest = manifest
        self.ef_search = int(ef_search or manifest.ef_search)
        built_ids = np.asarray(built_ids, dtype=np.int64)
        n_built = len(built_ids)
        # row -> graph node (-1: not in the graph), node -> row (-1: deleted or stale).
        order = np.argsort(built_ids, kind="stable")
        sorted_ids = built_ids[order]
        pos = np.clip(np.searchsorted(sorted_ids, matrix.ids), 0, max(n_built - 1, 0))
        found = (sorted_ids[pos] == matrix.ids) if n_built else np.zeros(len(matrix.ids), bool)
        row_node = np.where(found, order[pos], -1)
        if fresh_ids is not None and len(fresh_ids):
            row_node[np.isin(matrix.ids, fresh_ids)] = -1
        self.row_node = row_node
        self.node_row = np.full(n_built, -1, dtype=np.int64)
        in_graph = np.flatnonzero(row_node >= 0)
        self.node_row[row_node[in_graph]] = in_graph
        self.fresh_rows = np.flatnonzero(row_node < 0)
        self._all_bitmap = self._bitmap_of(self.node_row >= 0)

    @property
    def n_fresh(self) -> int:
        """Rows searched exactly because they were committed after the build."""
        return len(self.fresh_rows)

    def _bitmap_of(self, node_mask: np.ndarray) -> Any:
        import faiss

        bits = np.packbits(node_mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(node_mask), faiss.swig_ptr(bits))
        sel._keep_alive = bits  # the selector points into this buffer
        return sel

    def _selection_parts(self, selection: Selection | None) -> tuple[Any, np.ndarray]:
        if selection is None or selection.allowed is None:
            return self._all_bitmap, self.fresh_rows
        if selection._bitmap is None:
            node_mask = np.zeros(len(self.node_row), dtype=bool)
            live = self.node_row >= 0
            node_mask[live] = selection.allowed[self.node_row[live]]
            selection._bitmap = self._bitmap_of(node_mask)
            selection._extra_rows = self.fresh_rows[selection.allowed[self.fresh_rows]]
        return selection._bitmap, selection._extra_rows

    def _search(self, q: np.ndarray, k: int, selection: Selection | None, after: Cursor | None) -> Page:
        import faiss

        if selection is not None and selection.exact:
            return self._exact(q, k, selection, after)
        bitmap, extra_rows = self._selection_parts(selection)
        depth = after.depth if after else 0
        # Ask for a whole window of candidates so every page inside it sees the same list
        # (the graph walk is deterministic): paging then never repeats or skips.
        window = self.ef_search
        n_cand = int(math.ceil((depth + k) / window) * window)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, n_cand), sel=bitmap)
        _, labels = self.faiss_index.search(q[None, :], n_cand, params=params)
        nodes = labels[0][labels[0] >= 0]
        rows = self.node_row[nodes]
        rows = rows[rows >= 0]
        if len(extra_rows):
            rows = np.concatenate([rows, extra_rows])
        m = self.matrix
        return _page(m.ids[rows], _score_rows(m.vectors, rows, q), k, after)


# -- persistence -----------------------------------------------------------------------------


def index_dir(ws: Workspace, key: str) -> Path:
    """Where the index of embedding set ``key`` lives (it may not exist)."""
    return ws.embedding_set(key)[0] / INDEX_DIRNAME


def read_manifest(ws: Workspace, key: str) -> Manifest | None:
    """The manifest of the persisted index of ``key``, or None when there is none."""
    try:
        path = index_dir(ws, key) / MANIFEST_NAME
    except WorkspaceError:
        return None
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT_VERSION:
        return None
    return Manifest(**data)


def needs_build(ws: Workspace, key: str, threshold: int = BUILD_THRESHOLD) -> bool:
    """Whether ``key`` has at least ``threshold`` rows and its index is missing or stale
    (over 10% of the rows were committed after the build)."""
    _, committed, generation = ws.embedding_set(key)
    if committed < threshold:
        return False
    manifest = read_manifest(ws, key)
    if manifest is None or manifest.generation != generation:
        return True
    return committed - manifest.committed_rows > 0.1 * manifest.rows


def _new_faiss(dim: int, codes: str, m: int) -> Any:
    import faiss

    if codes not in CODES:
        raise InputError(f"index codes must be one of {CODES}; got {codes!r}.")
    qtype = faiss.ScalarQuantizer.QT_8bit if codes == "sq8" else faiss.ScalarQuantizer.QT_fp16
    return faiss.IndexHNSWSQ(dim, qtype, m, faiss.METRIC_INNER_PRODUCT)


def build_faiss(
    vectors: np.ndarray,
    *,
    codes: str = DEFAULT_CODES,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    progress: ProgressFn | None = None,
    seed: int = 0,
) -> Any:
    """An HNSW graph over ``vectors`` (n, dim) float32 unit rows, added in chunks.

    Only codes are kept (1 byte a dimension for sq8, 2 for fp16), never the float32 rows.
    """
    if m < 4:
        raise InputError(f"HNSW M must be at least 4; got {m}.")
    n, dim = vectors.shape
    index = _new_faiss(dim, codes, m)
    index.hnsw.efConstruction = int(ef_construction)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, 100_000), replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for start in range(0, n, ADD_CHUNK):
        index.add(np.ascontiguousarray(vectors[start : start + ADD_CHUNK], dtype=np.float32))
        if progress:
            progress(min(start + ADD_CHUNK, n), n)
    return index


QUERY_NOISE = 0.5


def sample_queries(vectors: np.ndarray, n: int, seed: int = 1, *, kind: str = "perturbed") -> np.ndarray:
    """Out-of-sample test queries, (n, dim) float32 unit rows.

    ``kind="perturbed"``: a random stored row plus Gaussian noise of norm ``QUERY_NOISE``
    (a query near a theme of the collection); ``"midpoint"``: the normalised midpoint of
    two random stored rows (usually between themes: the hardest case for a graph).
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(vectors), n)
    q = np.asarray(vectors[a], dtype=np.float32)
    if kind == "midpoint":
        q = q + np.asarray(vectors[rng.integers(0, len(vectors), n)], dtype=np.float32)
    elif kind == "perturbed":
        q = q + rng.standard_normal(q.shape).astype(np.float32) * (QUERY_NOISE / np.sqrt(q.shape[1]))
    else:
        raise InputError(f"query kind must be 'perturbed' or 'midpoint'; got {kind!r}.")
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    return q.astype(np.float32)


def measure_recall(index: VectorIndex, queries: np.ndarray, k: int = 10, selection: Selection | None = None) -> float:
    """Mean recall@k of ``index`` against an exact scan, over (nq, dim) queries."""
    exact = ExactIndex(index.matrix)
    hits = 0
    for q in queries:
        truth = {h.id for h in exact.search(q, k, selection=selection).hits}
        got = {h.id for h in index.search(q, k, selection=selection).hits}
        hits += len(truth & got)
    return hits / (k * len(queries)) if len(queries) else 1.0


def build_index(
    ws: Workspace,
    key: str,
    *,
    codes: str = DEFAULT_CODES,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ef_search: int = DEFAULT_EF_SEARCH,
    recall_queries: int = 100,
    progress: ProgressFn | None = None,
) -> Manifest:
    """Build (or rebuild) the HNSW index of embedding set ``key`` and persist it atomically.

    Readers keep the old index until the new one is renamed into place.
    Raises:
        WorkspaceError: nothing embedded with ``key``.
    """
    import fcntl

    folder = ws.embedding_set(key)[0]
    with open(folder / "index.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(f"another process is building the index of {key!r} right now; wait for it to finish.") from None
        for stale in folder.glob(f".{INDEX_DIRNAME}.*.tmp"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        return _build_locked(ws, key, codes, m, ef_construction, ef_search, recall_queries, progress)


def _build_locked(
    ws: Workspace, key: str, codes: str, m: int, ef_construction: int, ef_search: int, recall_queries: int,
    progress: ProgressFn | None,
) -> Manifest:
    from clipcore.catalog.store import utc_now

    _, committed, generation = ws.embedding_set(key)
    matrix = ws.load_embeddings(key)
    if ws.embedding_set(key)[2] != generation:
        raise WorkspaceError(
            f"the embeddings of {key!r} were compacted or rebuilt during the build;",
            cli_hint="run `index` again.", app_hint="start the index build again.",
        )
    started = time.perf_counter()
    graph = build_faiss(matrix.vectors, codes=codes, m=m, ef_construction=ef_construction, progress=progress)
    build_s = time.perf_counter() - started
    draft = Manifest(key, int(matrix.vectors.shape[1]), len(matrix.ids), committed, codes, m, ef_construction, ef_search, 0.0, 0.0, 0, "", generation)
    index = HnswIndex(matrix, graph, matrix.ids, draft)
    n_q = min(recall_queries, len(matrix.ids))
    recall = measure_recall(index, sample_queries(matrix.vectors, n_q)) if n_q else 1.0
    manifest = Manifest(
        key=key,
        dim=int(matrix.vectors.shape[1]),
        rows=len(matrix.ids),
        committed_rows=committed,
        codes=codes,
        m=m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        build_s=round(build_s, 3),
        recall_at_10=round(recall, 4),
        recall_queries=n_q,
        built_at=utc_now(),
        generation=generation,
    )
    _persist(index_dir(ws, key), graph, matrix.ids, manifest)
    logger.info("built %s index of %s: %d rows in %.1fs, recall@10 %.3f", codes, key, len(matrix.ids), build_s, recall)
    return manifest


def _persist(target: Path, graph: Any, ids: np.ndarray, manifest: Manifest) -> None:
    import faiss

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    faiss.write_index(graph, str(tmp / "hnsw.faiss"))
    np.save(tmp / "ids.npy", np.asarray(ids, dtype=np.int64))
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=2))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _read_faiss(path: Path) -> Any:
    import faiss

    # Map the graph and codes from the file instead of reading them into memory.
    for flag in (faiss.IO_FLAG_MMAP_IFC, faiss.IO_FLAG_MMAP):
        try:
            return faiss.read_index(str(path), flag | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            continue
    return faiss.read_index(str(path))


def open_index(ws: Workspace, matrix: EmbeddingMatrix, *, ef_search: int | None = None) -> VectorIndex:
    """The best index for ``matrix``: the persisted HNSW graph if one matches, else exact.

    Rows committed after the graph was built are searched exactly and merged in.
    """
    manifest = read_manifest(ws, matrix.key)
    if manifest is None or manifest.dim != matrix.vectors.shape[1]:
        return ExactIndex(matrix)
    if manifest.generation != ws.embedding_set(matrix.key)[2]:
        # Compaction or rebuild renumbered the rows: the graph no longer matches them.
        logger.warning("index of %s predates a compaction; searching exactly until `python -m clipcore index`.", matrix.key)
        return ExactIndex(matrix)
    folder = index_dir(ws, matrix.key)
    try:
        graph = _read_faiss(folder / "hnsw.faiss")
        built_ids = np.load(folder / "ids.npy", mmap_mode="r")
    except (OSError, RuntimeError, ValueError) as exc:
        logger.warning("index of %s unreadable (%s); searching exactly. Rebuild with `python -m clipcore index`.", matrix.key, exc)
        return ExactIndex(matrix)
    fresh = ws.ids_embedded_since(matrix.key, manifest.committed_rows)
    return HnswIndex(matrix, graph, built_ids, manifest, fresh_ids=fresh, ef_search=ef_search)


def as_index(matrix_or_index: EmbeddingMatrix | VectorIndex) -> VectorIndex:
    """An index for either argument (an ``EmbeddingMatrix`` gets an exact one)."""
    if isinstance(matrix_or_index, VectorIndex):
        return matrix_or_index
    return ExactIndex(matrix_or_index)
