"""Ordered, bounded parallel map: decode files in threads while the caller consumes; and
the server-wide cap on heavy work that runs inside the app's process (``heavy_slot``).

Pillow releases the GIL while decoding and resizing, so threads overlap file work
with model inference on the main thread without the cost of processes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

from clipcore.config import max_heavy
from clipcore.errors import ServerBusy

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


_HEAVY: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_HEAVY_LOCK = threading.Lock()


@contextmanager
def heavy_slot(what: str, *, wait_s: float = 0.0, limit: int | None = None, pool: str = "heavy") -> Iterator[None]:
    """Hold one of the server's slots for heavy work done inside the app's process
    (prompt suggestions, model comparisons, large-image previews) while the block runs.

    Background jobs have their own cap (``catalog.jobs``); this one bounds what page
    visitors can make the server itself compute at once, whatever their number.

    Args:
        what: named in the refusal and the log.
        wait_s: how long to wait for a slot before refusing.
        limit: slots (default ``clipcore.config.max_heavy()``, ``CLIPCORE_MAX_HEAVY``).
        pool: slots are counted per pool, process-wide ("preview": large-image decodes).
    Raises:
        ServerBusy: no slot freed within ``wait_s``.
    """
    limit = limit or max_heavy()
    with _HEAVY_LOCK:
        sem = _HEAVY.setdefault((pool, limit), threading.BoundedSemaphore(limit))
    got = sem.acquire(timeout=wait_s) if wait_s > 0 else sem.acquire(blocking=False)
    if not got:
        logger.info("refused %s: %d heavy computations running", what, limit)
        raise ServerBusy(f"the server is busy ({limit} heavy computations running); {what} was not started. Try again in a minute.")
    try:
        yield
    finally:
        sem.release()


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
