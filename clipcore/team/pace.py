"""Labelling pace: how many images each annotator labelled, and how fast.

Reads the batch list of ``catalog.labels.list_batches`` (reverted batches do not count).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def labelling_pace(batches: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per annotator, by name: ``annotator``, ``batches``, ``images`` (assigned),
    ``first`` and ``last`` (datetimes of their first and last batch) and ``images_per_hour``
    over the time between those two (None with one batch, or all in one instant).
    """
    by: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for batch in batches:
        if not batch.get("reverted_at"):
            by[str(batch["annotator"])].append(batch)
    rows = []
    for who, items in sorted(by.items()):
        times = sorted(datetime.fromisoformat(str(b["created_at"])) for b in items)
        images = sum(int(b["size"]) for b in items)
        hours = (times[-1] - times[0]).total_seconds() / 3600
        rows.append(
            {
                "annotator": who,
                "batches": len(items),
                "images": images,
                "first": times[0],
                "last": times[-1],
                "images_per_hour": round(images / hours) if hours > 0 else None,
            }
        )
    return rows
