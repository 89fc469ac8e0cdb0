"""The vector index: agrees with exact search, filters, rows added after a build, cursor
paging, persistence. Small synthetic sets only (a million-row build is a benchmark)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clipcore.catalog.store import EmbeddingMatrix
from clipcore.errors import InputError
from clipcore.retrieval.index import (
    EXACT_FRACTION,
    ExactIndex,
    HnswIndex,
    build_index,
    measure_recall,
    open_index,
    read_manifest,
    sample_queries,
)
from clipcore.sources.scale import clustered_vectors, make_scale_workspace
from tests.helpers import run_cli

KEY = "synthetic-32"
DIM = 32


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A 3000-image synthetic workspace with a built HNSW index."""
    ws = make_scale_workspace(tmp_path_factory.mktemp("scale") / "ws", 3000, key=KEY, dim=DIM, clusters=30, thumbnails=4)
    manifest = build_index(ws, KEY, m=16, recall_queries=50)
    return ws, manifest


def _hnsw(ws, ef_search=None) -> HnswIndex:
    index = open_index(ws, ws.load_embeddings(KEY), ef_search=ef_search)
    assert isinstance(index, HnswIndex)
    return index


def _ids(page) -> list[int]:
    return [h.id for h in page.hits]


def test_manifest_records_what_the_index_covers(indexed):
    ws, manifest = indexed
    stored = read_manifest(ws, KEY)
    assert stored == manifest
    assert (stored.rows, stored.committed_rows, stored.dim, stored.codes, stored.m) == (3000, 3000, DIM, "sq8", 16)
    assert 0.0 <= stored.recall_at_10 <= 1.0 and stored.recall_queries == 50
    folder = ws.embedding_set(KEY)[0] / "index"
    assert np.load(folder / "ids.npy").tolist() == ws.load_embeddings(KEY).ids.tolist()
    assert json.loads((folder / "manifest.json").read_text())["key"] == KEY


def test_index_stores_codes_not_a_second_float32_copy(indexed):
    import faiss

    ws, _ = indexed
    index = _hnsw(ws)  # keep the owner alive while its storage is inspected
    storage = faiss.downcast_index(index.faiss_index.storage)
    assert isinstance(storage, faiss.IndexScalarQuantizer)
    assert storage.code_size == DIM  # one byte a dimension, not four
    assert storage.ntotal == 3000


def test_with_high_ef_the_index_returns_exactly_the_exact_results(indexed):
    ws, _ = indexed
    index = _hnsw(ws, ef_search=3000)
    exact = ExactIndex(index.matrix)
    for q in sample_queries(index.matrix.vectors, 20, seed=3):
        assert index.search(q, 20).hits == exact.search(q, 20).hits


def test_recall_at_defaults_stays_above_the_floor(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    assert measure_recall(index, sample_queries(index.matrix.vectors, 50, seed=4)) >= 0.9


def test_excluded_ids_never_come_back(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    ids = index.matrix.ids
    excluded = ids[np.random.default_rng(0).random(len(ids)) < 0.5]
    selection = index.select(exclude=excluded)
    assert not selection.exact and selection.count == len(ids) - len(excluded)
    banned = set(excluded.tolist())
    for q in index.matrix.vectors[excluded[:30]]:  # each query is an excluded image itself
        hits = _ids(index.search(q, 30, selection=selection))
        assert len(hits) == 30 and not banned & set(hits)


def test_a_small_restriction_is_scanned_exactly_and_returns_only_the_subset(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    exact = ExactIndex(index.matrix)
    subset = index.matrix.ids[::25]
    assert len(subset) <= EXACT_FRACTION * len(index)
    selection = index.select(restrict_to=subset)
    assert selection.exact and selection.count == len(subset)
    for q in sample_queries(index.matrix.vectors, 10, seed=5):
        page = index.search(q, 10, selection=selection)
        assert set(_ids(page)) <= set(subset.tolist())
        assert page.hits == exact.search(q, 10, selection=exact.select(restrict_to=subset)).hits


def test_a_restriction_too_big_to_copy_scans_the_mapped_rows_with_the_same_results(indexed, monkeypatch):
    from clipcore.retrieval import index as vindex

    ws, _ = indexed
    index = _hnsw(ws)
    subset = index.matrix.ids[3::30]
    copied = index.select(restrict_to=subset)
    monkeypatch.setattr(vindex, "EXACT_COPY_MAX_BYTES", 0)
    mapped = index.select(restrict_to=subset)
    assert copied._block is not None and mapped._block is None
    for q in sample_queries(index.matrix.vectors, 10, seed=6):
        assert index.search(q, 10, selection=copied).hits == index.search(q, 10, selection=mapped).hits


def test_a_large_restriction_goes_through_the_graph_and_stays_inside(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    subset = index.matrix.ids[::3]
    selection = index.select(restrict_to=subset, exclude=subset[:5])
    assert not selection.exact
    allowed = set(subset[5:].tolist())
    for q in sample_queries(index.matrix.vectors, 10, seed=6):
        assert set(_ids(index.search(q, 15, selection=selection))) <= allowed


def test_rows_added_after_a_build_are_found_and_reembedded_rows_use_their_new_vector(tmp_path):
    ws = make_scale_workspace(tmp_path / "ws", 1200, key=KEY, dim=DIM, clusters=12, thumbnails=2)
    build_index(ws, KEY, m=8, recall_queries=10)
    make_scale_workspace(tmp_path / "ws", 40, key=KEY, dim=DIM, clusters=12, thumbnails=2, seed=9)
    old_id = 5
    ws.forget_embeddings([old_id])
    new_vector = -ws.load_embeddings(KEY).vectors[0]
    with ws.embedding_writer(KEY, DIM) as writer:
        writer.append([old_id], new_vector[None, :])
    matrix = ws.load_embeddings(KEY)
    index = open_index(ws, matrix)
    assert isinstance(index, HnswIndex) and index.n_fresh == 41
    for new_id in range(1201, 1241):
        q = matrix.vectors[matrix.rows_of([new_id])[0]]
        assert index.search(q, 1).hits[0].id == new_id
    top = index.search(new_vector, 1).hits[0]
    assert top.id == old_id and top.score == pytest.approx(1.0, abs=1e-5)


def _walk(index, q, k, total, selection=None):
    seen, cursor = [], None
    while len(seen) < total:
        page = index.search(q, k, selection=selection, after=cursor)
        seen += page.hits
        if page.next is None:
            break
        cursor = page.next
    return seen


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_cursor_pages_never_repeat_or_skip(indexed, kind):
    ws, _ = indexed
    index = _hnsw(ws, ef_search=3000) if kind == "hnsw" else ExactIndex(ws.load_embeddings(KEY))
    exact = ExactIndex(index.matrix)
    for q in sample_queries(index.matrix.vectors, 3, seed=7):
        walked = _walk(index, q, 7, 200)
        assert len({h.id for h in walked}) == len(walked)
        assert walked[:200] == exact.search(q, 200).hits


def test_cursor_paging_is_exact_through_tied_scores_and_to_the_end():
    vectors = np.repeat(np.eye(4, dtype=np.float32), 5, axis=0)  # 20 rows, 4 distinct, 5-way ties
    matrix = EmbeddingMatrix("ties", np.arange(100, 120, dtype=np.int64)[::-1].copy(), vectors)
    index = ExactIndex(matrix)
    q = np.array([0.8, 0.6, 0, 0], dtype=np.float32)
    walked = _walk(index, q, 3, 100, selection=index.select(exclude=[101]))
    assert len(walked) == 19 and len({h.id for h in walked}) == 19
    keys = [(-h.score, h.id) for h in walked]
    assert keys == sorted(keys)


def test_default_paging_over_the_graph_returns_every_allowed_image_once(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    q = sample_queries(index.matrix.vectors, 1, seed=8)[0]
    walked = _walk(index, q, 50, 600)
    assert len(walked) == 600 and len({h.id for h in walked}) == 600


def test_bad_queries_say_what_was_expected(indexed):
    ws, _ = indexed
    index = _hnsw(ws)
    with pytest.raises(InputError, match="dim"):
        index.search(np.ones(DIM + 1, np.float32), 5)
    with pytest.raises(InputError, match="k must be"):
        index.search(np.ones(DIM, np.float32), 0)


def test_without_a_built_index_search_is_exact(tmp_path):
    ws = make_scale_workspace(tmp_path / "ws", 300, key=KEY, dim=DIM, clusters=3, thumbnails=1)
    assert isinstance(open_index(ws, ws.load_embeddings(KEY)), ExactIndex)


def test_clustered_vectors_are_unit_rows_and_deterministic():
    a = np.concatenate([v for v, _ in clustered_vectors(500, 16, clusters=5, chunk=128)])
    b = np.concatenate([v for v, _ in clustered_vectors(500, 16, clusters=5, chunk=128)])
    assert a.shape == (500, 16) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.array_equal(a, b)


def test_index_cli_builds_and_search_uses_it(tmp_path):
    ws = make_scale_workspace(tmp_path / "ws", 600, key=KEY, dim=DIM, clusters=6, thumbnails=1)
    out = run_cli("index", "--workspace", str(ws.root), "--key", KEY, "--m", "8", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["rows"] == 600 and result["key"] == KEY and result["codes"] == "sq8"
    assert read_manifest(ws, KEY).rows == 600
    missing = run_cli("index", "--workspace", str(ws.root), "--key", "no-such-model", "--json")
    assert missing.returncode == 2 and "no embeddings" in missing.stderr


def test_search_bench_prints_one_json_object_with_the_agreed_keys():
    out = run_cli("bench", "--search", "--rows", "2000", "--dim", "32", "--queries", "20", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    for key in (
        "rows", "build_s", "p50_ms", "p95_ms", "recall_at_10", "exclude_50_p95_ms", "exclude_50_recall_at_10",
        "restrict_5_p95_ms", "restrict_5_recall_at_10", "rss_mb",
    ):
        assert key in result
    assert result["rows"] == 2000 and result["restrict_5_recall_at_10"] == 1.0


def test_index_job_killed_leaves_a_readable_workspace_and_a_rerun_builds(tmp_path):
    import os
    import signal

    from clipcore.catalog.jobs import get_job
    from clipcore.jobkinds import start_job
    from clipcore.retrieval.index import needs_build
    from tests.helpers import wait_for_job

    ws = make_scale_workspace(tmp_path / "ws", 800, key=KEY, dim=DIM, clusters=8, thumbnails=1)
    assert needs_build(ws, KEY, threshold=500) and not needs_build(ws, KEY, threshold=801)
    first = start_job(ws, "index", ["--key", KEY, "--m", "8"])
    os.kill(get_job(ws, first)["pid"], signal.SIGKILL)
    assert wait_for_job(ws, first)["status"] in ("failed", "done")
    matrix = ws.load_embeddings(KEY)
    q = matrix.vectors[0]
    assert open_index(ws, matrix).search(q, 1).hits[0].id == int(matrix.ids[0])  # old state still searchable
    second = start_job(ws, "index", ["--key", KEY, "--m", "8"])
    assert wait_for_job(ws, second, timeout=180)["status"] == "done"
    assert read_manifest(ws, KEY).rows == 800 and not needs_build(ws, KEY, threshold=500)
    assert isinstance(open_index(ws, ws.load_embeddings(KEY)), HnswIndex)


def test_compaction_makes_the_index_stale_until_it_is_rebuilt(tmp_path):
    from clipcore.retrieval.index import needs_build

    ws = make_scale_workspace(tmp_path / "ws", 700, key=KEY, dim=DIM, clusters=7, thumbnails=1)
    build_index(ws, KEY, m=8, recall_queries=5)
    ws.forget_embeddings([1, 2, 3])
    ws.compact_embeddings(KEY)
    matrix = ws.load_embeddings(KEY)
    index = open_index(ws, matrix)
    assert isinstance(index, ExactIndex) and needs_build(ws, KEY, threshold=500)
    q = matrix.vectors[10]
    assert index.search(q, 1).hits[0].id == int(matrix.ids[10])
    build_index(ws, KEY, m=8, recall_queries=5)
    rebuilt = open_index(ws, ws.load_embeddings(KEY))
    assert isinstance(rebuilt, HnswIndex) and rebuilt.n_fresh == 0 and len(rebuilt) == 697


def test_compact_starts_the_index_rebuild_it_made_necessary(tmp_path):
    """`compact` renumbers rows; above the build threshold it rebuilds the index as a job."""
    from clipcore.retrieval.index import BUILD_THRESHOLD, needs_build
    from tests.helpers import wait_for_job

    ws = make_scale_workspace(tmp_path / "ws", BUILD_THRESHOLD + 200, key=KEY, dim=4, clusters=50, thumbnails=1)
    build_index(ws, KEY, m=8, recall_queries=5)
    ws.forget_embeddings([1, 2, 3])
    done = run_cli("compact", "--workspace", str(ws.root), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sets"][KEY]["after"] == BUILD_THRESHOLD + 197
    job = out["index_jobs"][KEY]
    assert wait_for_job(ws, job, timeout=300)["status"] == "done"
    assert not needs_build(ws, KEY) and read_manifest(ws, KEY).rows == BUILD_THRESHOLD + 197
    assert isinstance(open_index(ws, ws.load_embeddings(KEY)), HnswIndex)


def test_compact_at_the_job_cap_succeeds_and_its_index_job_waits(tmp_path):
    """The rows are compacted and committed before the index job starts: at the server's
    cap the index job waits in the queue, and compact exits 0 (it used to exit 2)."""
    import subprocess
    import sys

    from clipcore.catalog.jobs import cancel_job, get_job
    from clipcore.retrieval.index import BUILD_THRESHOLD

    ws = make_scale_workspace(tmp_path / "ws", BUILD_THRESHOLD + 20, key=KEY, dim=4, clusters=50, thumbnails=1)
    ws.forget_embeddings([1, 2, 3])
    registry = tmp_path / "registry"
    registry.mkdir()
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (registry / "elsewhere.pid").write_text(str(busy.pid))
        done = run_cli("compact", "--workspace", str(ws.root), "--json",
                       env={"CLIPCORE_JOBS_DIR": str(registry), "CLIPCORE_MAX_JOBS": "1"})
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["sets"][KEY]["after"] == BUILD_THRESHOLD + 17 and ws.embedding_set(KEY)[1] == BUILD_THRESHOLD + 17
        job = get_job(ws, out["index_jobs"][KEY])
        assert job["kind"] == "index" and job["status"] == "queued"
        cancel_job(ws, job["id"])
    finally:
        busy.kill()
        busy.wait()
