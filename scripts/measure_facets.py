"""Time what the Label page's filters with counts add to a label action, server side.

    python scripts/measure_facets.py --workspace data/scale-1m [--labels 20000] [--actions 12]

Seeds ``--labels`` labels in batches of 1,000 (two annotators, four classes), then repeats a
label action of 48 images and times its parts: the batch write, and what the next rerun
recomputes for the filters (the labels part of ``clipcore.team.facets``, every count, one
filter's mask), two ways after the same write, in alternating order: *full*, the labels
part re-read from SQL (``label_facets``: a GROUP BY over every label event; what the app did
before), and *incremental*, the app's way now (``LabelFacetsCache.current``: only the events
newer than the cached version are read and applied). Each incremental result is checked
against the full one. The catalogue part, cached on the change counter, is timed once
(cold). Prints JSON.
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
    cache = fc.LabelFacetsCache(ids)
    cache.current(ws)  # the first read of the page (full), before the actions
    times: dict[str, list[float]] = {"write": [], "full": [], "incremental": [], "full_labels": [], "incremental_labels": []}
    for a in range(args.actions):
        page = rest[a * 48 : (a + 1) * 48]
        t0 = time.perf_counter()
        lbl.record_batch(ws, CLASSES[a % 4], page, annotator="alice", source={"kind": "bench"})
        times["write"].append(time.perf_counter() - t0)
        got = {}
        for way in (("full", "incremental") if a % 2 == 0 else ("incremental", "full")):
            t1 = time.perf_counter()
            part = fc.label_facets(ws, ids) if way == "full" else cache.current(ws)
            t2 = time.perf_counter()
            table = fc.facet_table(cat, part)
            counts = table.counts()
            mask = table.mask({"label": ["cover"], "annotator": ["alice"]})
            t3 = time.perf_counter()
            times[way].append(t3 - t1)
            times[f"{way}_labels"].append(t2 - t1)
            got[way] = (counts, int(mask.sum()))
        if got["full"] != got["incremental"]:
            raise SystemExit(f"action {a}: the incremental counts differ from a full read")

    def pct(name: str) -> dict:
        v = sorted(x * 1000 for x in times[name])
        return {"p50": round(statistics.median(v), 1), "p90": round(v[int(0.9 * (len(v) - 1))], 1), "max": round(v[-1], 1)}

    print(json.dumps({
        "images": int(len(ids)), "labels": int(sum(counts["label"].values())), "matching": int(mask.sum()),
        "events": int(lbl.label_events_version(ws)[0]), "catalog_cold_ms": round(catalog_s * 1000),
        **{f"{k}_ms": pct(k) for k in times},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
