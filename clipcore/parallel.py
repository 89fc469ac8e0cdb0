"""Ordered, bounded parallel map: decode files in threads while the caller consumes.

Pillow releases the GIL while decoding and resizing, so threads overlap file work
with model inference on the main thread without the cost of processes.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Decoder threads: one per core, at least two so that I/O waits overlap."""
    return max(2, os.cpu_count() or 2)


def imap_ordered(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None, prefetch: int = 64) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in input order, with at most ``prefetch`` in flight.

    Exceptions raised by ``fn`` propagate when their item's turn comes; ``fn`` should
    turn expected per-item failures into values.
    """
    pending: deque[Future] = deque()
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="clipcore-io") as pool:
        try:
            for item in iterator:
                pending.append(pool.submit(fn, item))
                if len(pending) >= prefetch:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
