"""Several processes labelling one workspace at once lose nothing and never share a claim."""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter

from clipcore.catalog import labels as lbl

WORKERS = 4
BATCHES = 12


def _label_worker(root: str, worker: int, ids: list[int], barrier) -> list[tuple[str, list[int], list[int]]]:
    from clipcore.catalog.store import Workspace

    ws = Workspace(root)
    rng = random.Random(worker)
    barrier.wait()  # start together, so the writers really contend
    done = []
    for k in range(BATCHES):
        picked = rng.sample(ids, 6)
        assign, reject = picked[:4], picked[4:]
        batch = lbl.record_batch(
            ws, f"class {k % 3} ✓", assign, annotator=f"worker-{worker}", source={"kind": "test", "k": k}, rejected_ids=reject
        )
        done.append((batch, assign, reject))
    ws.close()
    return done


def _claim_worker(root: str, worker: int, ranked: list[int], barrier) -> list[int]:
    from clipcore.catalog.store import Workspace

    ws = Workspace(root)
    barrier.wait()
    got = lbl.claim_images(ws, ranked, 5, annotator=f"worker-{worker}")
    ws.close()
    return got


def test_concurrent_batches_store_every_event_exactly_once(workspace):
    ids = [int(i) for i in workspace.image_ids()]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            results = pool.starmap(_label_worker, [(str(workspace.root), w, ids, barrier) for w in range(WORKERS)])
    expected = Counter()
    for done in results:
        for batch, assign, reject in done:
            expected.update((batch, i, "assign") for i in assign)
            expected.update((batch, i, "reject") for i in reject)
    stored = Counter((e["batch_id"], e["id"], e["kind"]) for e in lbl.label_history(workspace))
    assert stored == expected  # every event present, none twice
    assert len(stored) == WORKERS * BATCHES * 6
    batches = lbl.list_batches(workspace)
    assert len(batches) == WORKERS * BATCHES and all(b["size"] == 4 and b["rejected"] == 2 for b in batches)
    # The current label of each image is the one of its latest assign, whoever wrote it.
    history = lbl.label_history(workspace)
    latest = {}
    for e in history:
        if e["kind"] == "assign":
            latest[e["id"]] = e["class"]
    assert lbl.current_labels(workspace) == latest


def test_concurrent_claims_never_overlap(workspace):
    ranked = [int(i) for i in workspace.image_ids()]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            pages = pool.starmap(_claim_worker, [(str(workspace.root), w, ranked, barrier) for w in range(WORKERS)])
    claimed = [i for page in pages for i in page]
    assert all(len(page) == 5 for page in pages)
    assert len(claimed) == len(set(claimed)) == WORKERS * 5
    assert set(claimed) == set(ranked[: WORKERS * 5])  # together they took the top of the ranking
