"""Time the book queries behind Search's book/page filters on a synthetic catalogue.

    python scripts/measure_book_filters.py [--pages 1000000] [--per-book 300]

Rows only (no image files): N images in books of 300 pages, each with its image_meta row.
Prints the best of 3 for each query.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipcore.catalog import metadata  # noqa: E402
from clipcore.catalog.store import Workspace, utc_now  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1_000_000)
    ap.add_argument("--per-book", type=int, default=300)
    args = ap.parse_args()
    n, per = args.pages, args.per_book
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        now = utc_now()
        with ws.transaction() as c:
            c.execute("INSERT INTO sources (root, added_at) VALUES ('/books', ?)", (now,))
            c.executemany(
                "INSERT INTO images (source_id, path, content_hash, added_at) VALUES (1, ?, ?, ?)",
                ((f"book-{i // per}/{i % per + 1:04d}.jpg", f"h{i}", now) for i in range(n)),
            )
            c.executemany(
                "INSERT INTO image_meta (image_id, group_name, book_label, page, page_label, manifest, canvas, "
                "attribution, license) VALUES (?, ?, ?, ?, '', 'm', 'c', 'Example Library', 'CC0')",
                ((i + 1, f"book-{i // per}", f"Book {i // per}", i % per + 1) for i in range(n)),
            )
        cases = {
            "books() (the picker's list, uncached)": lambda: metadata.books(ws),
            "books_version() (its cache key)": lambda: metadata.books_version(ws),
            "ids_matching(book=<folder name>)": lambda: metadata.ids_matching(ws, book=f"book-{n // per // 2}"),
            "ids_matching(page=7)": lambda: metadata.ids_matching(ws, page=7),
            "ids_matching(book=<title substring>)": lambda: metadata.ids_matching(ws, book="ook 12"),
        }
        print(f"{n:,} pages in books of {per}")
        for name, fn in cases.items():
            best = min(_timed(fn) for _ in range(3))
            print(f"  {name}: {best * 1000:.1f} ms")
        ws.close()


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
