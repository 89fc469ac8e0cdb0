"""Time the exact paths of the vector index at N rows, without building a graph.

    python scripts/measure_exact_paths.py 1000000 [--vectors FILE]

Writes N clustered synthetic 512-d unit vectors to a temporary file (or maps --vectors,
a raw (N, 512) float32 file), then times through ``ExactIndex``: a random 5% restriction
scanned exactly (the path ``HnswIndex`` takes for small restrictions) and a full exact
scan. Prints one JSON object. Synthetic vectors: speed and memory only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipcore.bench import _rss_mb  # noqa: E402
from clipcore.catalog.store import EmbeddingMatrix  # noqa: E402
from clipcore.retrieval.index import ExactIndex, sample_queries  # noqa: E402
from clipcore.sources.scale import clustered_vectors  # noqa: E402


def _pct(t: list[float], p: int) -> float:
    return round(float(np.percentile(t, p)), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("--vectors", help="existing raw float32 (rows, 512) file to map instead of generating one")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    n, dim = args.rows, 512
    with tempfile.TemporaryDirectory(prefix="clipcore-exact-") as tmp:
        path = Path(args.vectors) if args.vectors else Path(tmp) / "vectors.f32"
        if not args.vectors:
            with open(path, "wb") as fh:
                for chunk, _ in clustered_vectors(n, dim, clusters=max(10, n // 1000)):
                    fh.write(chunk.tobytes())
        vectors = np.memmap(path, dtype=np.float32, mode="r", shape=(n, dim))
        ids = np.arange(1, n + 1, dtype=np.int64)
        index = ExactIndex(EmbeddingMatrix("synthetic", ids, vectors))
        restricted = np.random.default_rng(1).random(n) < 0.05
        t0 = time.perf_counter()
        selection = index.select(restrict_to=ids[restricted])
        select_ms = (time.perf_counter() - t0) * 1000
        queries = sample_queries(vectors, args.queries, seed=2)
        for q in queries[:10]:
            index.search(q, 10, selection=selection)
        t_re, t_full = [], []
        for q in queries:
            t0 = time.perf_counter()
            index.search(q, 10, selection=selection)
            t_re.append((time.perf_counter() - t0) * 1000)
        for q in queries[:20]:
            t0 = time.perf_counter()
            index.search(q, 10)
            t_full.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({
            "rows": n, "restrict_5_rows": int(restricted.sum()), "select_ms": round(select_ms, 1),
            "restrict_5_p50_ms": _pct(t_re, 50), "restrict_5_p95_ms": _pct(t_re, 95),
            "exact_full_p50_ms": _pct(t_full, 50), "exact_full_p95_ms": _pct(t_full, 95), "rss_mb": round(_rss_mb(), 1),
        }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
