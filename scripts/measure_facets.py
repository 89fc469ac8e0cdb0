"""Time what the Label page's filters with counts add to a label action, server side.

    python scripts/measure_facets.py --workspace data/scale-1m [--labels 20000] [--actions 12]

Seeds ``--labels`` labels in batches of 1,000 (two annotators, four classes), then repeats a
label action of 48 images and times its parts: the batch write, and what the next rerun
recomputes for the filters (the labels part of ``clipcore.team.facets`` re-read from SQL,
every count, one filter's mask); the catalogue part, cached on the change counter, is timed
once (cold). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipcore.catalog import labels as lbl  # noqa: E402
from clipcore.catalog.store import Workspace  # noqa: E402
from clipcore.team import facets as fc  # noqa: E402

CLASSES = ["cover", "text", "illustration", "blank page"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--labels", type=int, default=20_000)
    parser.add_argument("--actions", type=int, default=12)
    args = parser.parse_args()
    ws = Workspace(args.workspace)
    t = time.perf_counter()
    cat = fc.catalog_facets(ws)
    catalog_s = time.perf_counter() - t
    ids = cat.ids
    step = max(1, len(ids) // max(1, args.labels + 48 * args.actions))
    pool = ids[::step].tolist()
    for k in range(0, min(args.labels, len(pool)), 1000):
        lbl.record_batch(ws, CLASSES[(k // 1000) % 4], pool[k : k + 1000], annotator=["alice", "bob"][(k // 1000) % 2],
                         source={"kind": "bench"})
    rest = pool[args.labels :]
    rows = []
    for a in range(args.actions):
        page = rest[a * 48 : (a + 1) * 48]
        t0 = time.perf_counter()
        lbl.record_batch(ws, CLASSES[a % 4], page, annotator="alice", source={"kind": "bench"})
        t1 = time.perf_counter()
        table = fc.facet_table(cat, fc.label_facets(ws, ids))
        counts = table.counts()
        mask = table.mask({"label": ["cover"], "annotator": ["alice"]})
        t2 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1))
    write = sorted(r[0] * 1000 for r in rows)
    filt = sorted(r[1] * 1000 for r in rows)
    print(json.dumps({
        "images": int(len(ids)), "labels": int(sum(counts["label"].values())), "matching": int(mask.sum()),
        "catalog_cold_ms": round(catalog_s * 1000), "write_p50_ms": round(statistics.median(write), 1),
        "filters_p50_ms": round(statistics.median(filt), 1), "filters_p90_ms": round(filt[int(0.9 * (len(filt) - 1))], 1),
        "filters_max_ms": round(filt[-1], 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
