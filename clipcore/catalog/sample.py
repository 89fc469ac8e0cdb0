"""A small sample that shows a collection's range (Home, Present), at any collection size."""

from __future__ import annotations

from clipcore.catalog.store import Workspace


def collection_sample(ws: Workspace, n: int) -> list[int]:
    """``n`` ids that show the collection's range, picked among 2,000 images spread over the
    whole collection (so its cost does not grow with the collection)."""
    spread = ws.spread_images(2000)
    return varied_sample([i for i, _ in spread], {i: label for i, label in spread if label is not None}, n)


def varied_sample(ids: list[int], truth: dict[int, str], n: int) -> list[int]:
    """``n`` ids that show the collection's range: one per class in turn when classes are
    known, else evenly spaced through the collection (never just its first files)."""
    if len(ids) <= n:
        return ids
    if truth:
        by_class: dict[str, list[int]] = {}
        for i in ids:
            if i in truth:
                by_class.setdefault(truth[i], []).append(i)
        queues = [members[:: max(1, len(members) // n)] for _, members in sorted(by_class.items())]
        out: list[int] = []
        while len(out) < n and any(queues):
            for q in queues:
                if q and len(out) < n:
                    out.append(q.pop(0))
        if len(out) == n:
            return out
    step = len(ids) / n
    return [ids[int(k * step)] for k in range(n)]
