"""Throughput benchmark: image files on disk to stored embeddings, and the model alone.

Weights are random (timing does not depend on them), so it runs offline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from clipcore.embedding.decoders import PillowDecoder
from clipcore.embedding.pipeline import embed_workspace
from clipcore.embedding.plan import PlanItem
from clipcore.errors import InputError
from clipcore.catalog.ingest import ingest_folder, scan_folder
from clipcore.embedding.models import load_model
from clipcore.catalog.store import Workspace


def run_benchmark(
    images: str | Path,
    *,
    model: str = "ViT-B-32",
    device: str = "auto",
    precision: str = "auto",
    limit: int = 500,
    batch_size: int = 64,
    decoder: str = "auto",
) -> dict:
    """Measure embedding throughput on up to ``limit`` images of a folder.

    Returns:
        {images_per_s_end_to_end, images_per_s_model_only, ingest_images_per_s, images,
        device, precision, model, weights, batch_size, decoder, stages}; ``stages`` holds
        the end-to-end run's seconds per stage: read and decode summed over decoder
        threads, model and write on the main thread, wait = the model waiting for decoders.
    Raises:
        InputError: the folder holds no images.
    """
    root = Path(images)
    if not root.is_dir():
        raise InputError(f"--images {str(root)!r} is not a folder.")
    files = [f for f in scan_folder(root) if not isinstance(f, dict)][:limit]
    if not files:
        raise InputError(f"no files under {str(root)!r} to benchmark.")
    clip = load_model(model, None, device=device, precision=precision)
    with tempfile.TemporaryDirectory(prefix="clipcore-bench-") as tmp:
        subset = Path(tmp) / "images"
        subset.mkdir()
        for i, f in enumerate(files):
            target = subset / f"{i:06d}{f.path.suffix}"
            try:
                os.link(f.path, target)
            except OSError:
                shutil.copyfile(f.path, target)
        ws = Workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        ingested = ingest_folder(ws, subset)
        ingest_s = time.perf_counter() - t0
        # Warm the model (first calls allocate and pick kernels).
        warm = np.zeros((min(batch_size, 8), clip.image_size, clip.image_size, 3), np.uint8)
        clip.encode_pixels(warm)
        report = embed_workspace(ws, clip, batch_size=batch_size, decoder=decoder)
        plan = [PlanItem(r.id, str(r.abs_path), r.content_hash) for r in ws.images()]
        batches = [b.pixels for b in PillowDecoder.for_model(clip).batches(plan, batch_size)]
        t0 = time.perf_counter()
        n = 0
        for px in batches:
            clip.encode_pixels(px)
            n += len(px)
        model_s = time.perf_counter() - t0
        ws.close()
    return {
        "images_per_s_end_to_end": round(report.images_per_s, 2),
        "images_per_s_model_only": round(n / model_s, 2) if model_s > 0 else 0.0,
        "ingest_images_per_s": round(ingested.added / ingest_s, 2) if ingest_s > 0 else 0.0,
        "images": report.embedded,
        "device": clip.info.device,
        "precision": clip.info.precision,
        "model": model,
        "weights": "random",
        "batch_size": batch_size,
        "decoder": report.decoder,
        "stages": report.stages,
    }


def _rss_mb() -> float:
    """Resident memory of this process now, MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, masks: list[np.ndarray | None]) -> list[np.ndarray]:
    """Exact top-k row indices per query for each mask, in one chunked pass over the rows."""
    nq = len(queries)
    best = [(np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64)) for _ in masks]
    for lo in range(0, len(vectors), 100_000):
        block = np.asarray(vectors[lo : lo + 100_000], dtype=np.float32)
        scores = queries @ block.T
        rows = np.arange(lo, lo + len(block))
        for j, mask in enumerate(masks):
            s = scores if mask is None else np.where(mask[lo : lo + len(block)][None, :], scores, -np.inf)
            allv = np.concatenate([best[j][0], s], axis=1)
            alli = np.concatenate([best[j][1], np.broadcast_to(rows, s.shape)], axis=1)
            top = np.argpartition(-allv, k - 1, axis=1)[:, :k]
            best[j] = (np.take_along_axis(allv, top, 1), np.take_along_axis(alli, top, 1))
    return [b[1] for b in best]


def _timed(index, queries: np.ndarray, k: int, selection, truth: np.ndarray) -> tuple[list[float], float]:
    times, found = [], 0
    ids = index.matrix.ids
    for q, t in zip(queries, truth):
        t0 = time.perf_counter()
        hits = index.search(q, k, selection=selection).hits
        times.append((time.perf_counter() - t0) * 1000)
        found += len({h.id for h in hits} & set(ids[t[t >= 0]].tolist()))
    return times, found / (k * len(queries))


def run_search_benchmark(
    rows: int,
    *,
    dim: int = 512,
    queries: int = 200,
    m: int | None = None,
    ef_search: int | None = None,
    codes: str | None = None,
    seed: int = 0,
) -> dict:
    """Build an HNSW index over ``rows`` clustered synthetic unit vectors and time searches.

    The vectors live in a temporary file and are memory-mapped, as in a workspace; the
    index is written and read back memory-mapped before timing. Queries are stored rows
    plus noise (out of sample, near a theme); ``midpoint_*`` repeats unfiltered search with
    midpoints of two random rows (between themes, the hard case). Filters: a random 50% of ids
    excluded (faiss bitmap selector), and a random 5% restriction (exact scan); each
    selection is made once, as the app does per filter, and its cost is ``*_select_ms``.
    Returns:
        {rows, dim, build_s, p50_ms, p95_ms, recall_at_10, exclude_50_p95_ms,
        exclude_50_recall_at_10, restrict_5_p95_ms, restrict_5_recall_at_10, rss_mb, ...}.
    """
    from clipcore.catalog.store import EmbeddingMatrix
    from clipcore.retrieval import index as vindex
    from clipcore.sources.scale import clustered_vectors

    if rows < 100:
        raise InputError(f"--rows must be at least 100; got {rows}.")
    m = m or vindex.DEFAULT_M
    ef_search = ef_search or vindex.DEFAULT_EF_SEARCH
    codes = codes or vindex.DEFAULT_CODES
    k = 10
    clusters = max(10, min(vindex_clusters(rows), 5000))
    with tempfile.TemporaryDirectory(prefix="clipcore-search-bench-") as tmp:
        path = Path(tmp) / "vectors.f32"
        with open(path, "wb") as fh:
            for chunk, _ in clustered_vectors(rows, dim, clusters=clusters, seed=seed):
                fh.write(chunk.tobytes())
        vectors = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dim))
        ids = np.arange(1, rows + 1, dtype=np.int64)
        matrix = EmbeddingMatrix(key="synthetic", ids=ids, vectors=vectors)
        t0 = time.perf_counter()
        graph = vindex.build_faiss(vectors, codes=codes, m=m, ef_construction=vindex.DEFAULT_EF_CONSTRUCTION)
        build_s = time.perf_counter() - t0
        build_rss = _rss_mb()
        import faiss

        faiss.write_index(graph, str(Path(tmp) / "hnsw.faiss"))
        del graph
        graph = vindex._read_faiss(Path(tmp) / "hnsw.faiss")
        manifest = vindex.Manifest("synthetic", dim, rows, rows, codes, m, vindex.DEFAULT_EF_CONSTRUCTION, ef_search, build_s, 0.0, 0, "")
        index = vindex.HnswIndex(matrix, graph, ids, manifest)
        # One query at a time is serial in faiss; idle OpenMP workers left from the build
        # would otherwise spin against numpy's exact re-scoring (as in the app, which never builds).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        rng = np.random.default_rng(seed + 1)
        excluded = rng.random(rows) < 0.5
        restricted = rng.random(rows) < 0.05
        t_sel = time.perf_counter()
        sel_ex = index.select(exclude=ids[excluded])
        select_ex_ms = (time.perf_counter() - t_sel) * 1000
        t_sel = time.perf_counter()
        sel_re = index.select(restrict_to=ids[restricted])
        select_re_ms = (time.perf_counter() - t_sel) * 1000
        qs = vindex.sample_queries(vectors, queries, seed=seed + 2)
        truth_all, truth_ex, truth_re = _exact_top(vectors, qs, k, [None, ~excluded, restricted])
        _timed(index, qs[: min(20, queries)], k, None, truth_all)  # warm caches and the page cache
        t_all, r_all = _timed(index, qs, k, None, truth_all)
        t_ex, r_ex = _timed(index, qs, k, sel_ex, truth_ex)
        t_re, r_re = _timed(index, qs, k, sel_re, truth_re)
        hard = vindex.sample_queries(vectors, queries, seed=seed + 3, kind="midpoint")
        (truth_hard,) = _exact_top(vectors, hard, k, [None])
        t_hard, r_hard = _timed(index, hard, k, None, truth_hard)
        rss = _rss_mb()
        faiss.omp_set_num_threads(threads)
        index_mb = (Path(tmp) / "hnsw.faiss").stat().st_size / 2**20
    pct = lambda t, p: round(float(np.percentile(t, p)), 3)  # noqa: E731
    return {
        "rows": rows,
        "dim": dim,
        "queries": queries,
        "clusters": clusters,
        "index": f"HNSW{m},{codes.upper()} ef_search={ef_search}, exact re-scoring",
        "build_s": round(build_s, 2),
        "p50_ms": pct(t_all, 50),
        "p95_ms": pct(t_all, 95),
        "recall_at_10": round(r_all, 4),
        "exclude_50_p50_ms": pct(t_ex, 50),
        "exclude_50_p95_ms": pct(t_ex, 95),
        "exclude_50_recall_at_10": round(r_ex, 4),
        "exclude_50_select_ms": round(select_ex_ms, 1),
        "restrict_5_p50_ms": pct(t_re, 50),
        "restrict_5_p95_ms": pct(t_re, 95),
        "restrict_5_recall_at_10": round(r_re, 4),
        "restrict_5_select_ms": round(select_re_ms, 1),
        "midpoint_p95_ms": pct(t_hard, 95),
        "midpoint_recall_at_10": round(r_hard, 4),
        "rss_mb": round(rss, 1),
        "build_rss_mb": round(build_rss, 1),
        "index_file_mb": round(index_mb, 1),
        "vectors_file_mb": round(rows * dim * 4 / 2**20, 1),
        "vectors": "synthetic clustered unit vectors (not model outputs)",
    }


def vindex_clusters(rows: int) -> int:
    """Clusters for the synthetic set: about 1000 images a cluster, like a large collection's themes."""
    return rows // 1000
