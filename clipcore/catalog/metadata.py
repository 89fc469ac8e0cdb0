"""Per-image metadata that travels beside the images: the pages file and the ``image_meta`` table.

An import (``clipcore.sources.iiif``) writes ``iiif-pages.csv`` at the root of the folder
it fills, one row per page::

    path,book,book_label,page,page_label,manifest,canvas,attribution,license,canvas_position,book_label_languages,metadata,homepage
    tale-of-genji-3f2a91/0001.jpg,tale-of-genji-3f2a91,Tale of Genji,1,p. 1,https://...,https://...,...,...,1,,,

``path`` is relative to the folder holding the file; ``book`` is the book's folder name
(unique per manifest) and becomes the image's group. ``page`` numbers the book's images
(1, 2, 3 even when a sound or blank canvas sits between them); ``canvas_position`` is the
canvas's own place (and names the file). ``book_label_languages`` holds the title in the
languages not chosen and ``metadata`` the manifest's (label, value) pairs, both as JSON;
``homepage`` links to the item in the library's own viewer. The file doubles as a template
for a labels CSV: add a ``label`` column and pass it to ``ingest --labels-csv``.

Cells are written through the project's CSV guard (``clipcore.csvsafe``: a remote title
starting with ``=``, ``+``, ``-`` or ``@`` gets a leading ``'``) and the guard is undone on
read. A file written before the guard was added reads back unchanged, except a cell that
itself began with ``'`` followed by one of those characters, which loses that ``'``; the
next import rewrites the file guarded. Files without the newer columns read them as empty.

``ingest`` reads every such file under the folder it scans and stores the rows of the
images it catalogued in ``image_meta`` (this module owns that table), whether or not an
image has a label, so the grouped split (``classify.splits``) keeps books whole. Strings
here are remote and untrusted: they are stored as text and escaped wherever shown.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from clipcore.catalog.store import Workspace, atomic_write_bytes
from clipcore.csvsafe import neutralise, restore

logger = logging.getLogger(__name__)

METADATA_NAME = "iiif-pages.csv"
COLUMNS = [
    "path", "book", "book_label", "page", "page_label", "manifest", "canvas", "attribution", "license",
    "canvas_position", "book_label_languages", "metadata", "homepage",
]
# What the table stores per image (``path`` and ``book`` become the image id and group).
FIELDS = [
    "group_name", "book_label", "page", "page_label", "manifest", "canvas", "attribution", "license",
    "canvas_position", "metadata", "homepage",
]
MAX_FIELD = 4000


def read_pages_file(path: Path) -> dict[str, dict[str, str]]:
    """Rows of one pages file, keyed by ``path`` (relative to the file's folder).

    A missing file is empty; rows without a path are ignored; over-long fields are cut.
    """
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        out = {}
        for row in csv.DictReader(fh):
            rel = (row.get("path") or "").strip()
            if not rel:
                continue
            rel = restore(rel)
            out[PurePosixPath(rel).as_posix()] = {c: restore(row.get(c) or "")[:MAX_FIELD] for c in COLUMNS}
    return out


def write_pages_file(folder: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Merge ``rows`` into ``folder/iiif-pages.csv`` (a row with a known path replaces it), atomically.

    Returns the file's path.
    """
    target = Path(folder) / METADATA_NAME
    merged = read_pages_file(target)
    for row in rows:
        merged[str(row["path"])] = {c: "" if row.get(c) is None else str(row.get(c)) for c in COLUMNS}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rel in sorted(merged):
        writer.writerow({c: neutralise(v) for c, v in merged[rel].items()})
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, buf.getvalue().encode("utf-8"))
    return target


def _page_number(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def store_metadata(ws: Workspace, source_id: int, pages_files: Sequence[str]) -> int:
    """Read the pages files (paths relative to the source root) and store their rows.

    Each row is matched to the catalogued image of the same path in this source; rows of
    files that were not catalogued are ignored. Returns how many images got metadata.
    """
    root = Path(ws.query("SELECT root FROM sources WHERE id = ?", (source_id,))[0][0])
    wanted: dict[str, dict[str, str]] = {}
    for rel_file in pages_files:
        prefix = PurePosixPath(rel_file).parent
        for rel, row in read_pages_file(root / rel_file).items():
            full = (prefix / rel).as_posix() if str(prefix) != "." else rel
            wanted[full] = row
    if not wanted:
        return 0
    ids = {r[1]: int(r[0]) for r in ws.query("SELECT id, path FROM images WHERE source_id = ?", (source_id,))}
    values = []
    for rel, row in wanted.items():
        if rel not in ids:
            continue
        values.append(
            (
                ids[rel], row["book"] or None, row["book_label"], _page_number(row["page"]), row["page_label"],
                row["manifest"], row["canvas"], row["attribution"], row["license"],
                _page_number(row["canvas_position"]), row["metadata"] or None, _http_link(row["homepage"]),
            )
        )
    with ws.transaction() as conn:
        conn.executemany(
            f"INSERT OR REPLACE INTO image_meta (image_id, {', '.join(FIELDS)}) VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
            values,
        )
    return len(values)


def _http_link(text: str) -> str | None:
    """``text`` if it is an http(s) URL (a link shown to people never runs script), else None."""
    text = (text or "").strip()
    return text if text.lower().startswith(("http://", "https://")) and " " not in text else None


def metadata_pairs(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (label, value) pairs of an image's book from ``image_metadata`` (empty when none or unreadable)."""
    try:
        pairs = json.loads(meta.get("metadata") or "[]")
    except (TypeError, ValueError):
        return []
    return [(str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2]


def paths_with_metadata(ws: Workspace, source_id: int) -> set[str]:
    """Paths (relative to the source root) of this source's images that have metadata."""
    rows = ws.query(
        "SELECT i.path FROM images i JOIN image_meta m ON m.image_id = i.id WHERE i.source_id = ?", (source_id,)
    )
    return {r[0] for r in rows}


def image_groups(ws: Workspace) -> dict[int, str]:
    """image id -> group (its book), for every image that has one, labelled or not."""
    rows = ws.query("SELECT image_id, group_name FROM image_meta WHERE group_name IS NOT NULL")
    return {int(r[0]): r[1] for r in rows}


def image_metadata(ws: Workspace, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """image id -> {book, book_label, page, page_label, manifest, canvas, attribution, license,
    canvas_position, metadata (JSON pairs: ``metadata_pairs``), homepage (http(s) or None)},
    for those of ``ids`` that have metadata. Values are raw remote text: escape before display."""
    out: dict[int, dict[str, Any]] = {}
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        marks = ",".join("?" * len(chunk))
        for r in ws.query(f"SELECT image_id, {', '.join(FIELDS)} FROM image_meta WHERE image_id IN ({marks})", chunk):
            out[int(r[0])] = {"book": r[1], **{f: r[f] for f in FIELDS[1:]}}
    return out


def ids_matching(ws: Workspace, *, book: str | None = None, page: int | None = None) -> set[int]:
    """Ids of images whose book (its folder name exactly, else a case-insensitive substring
    of the folder name, the title or the book's metadata values, e.g. a shelfmark) and/or
    page number match. With neither, every image that has metadata."""
    sql = "SELECT image_id FROM image_meta WHERE 1 = 1"
    params: list[Any] = []
    if book and ws.query("SELECT 1 FROM image_meta WHERE group_name = ? LIMIT 1", (book,)):
        sql += " AND group_name = ?"  # a book folder name, as the app's picker gives: the index answers
        params.append(book)
    elif book:
        sql += (
            " AND (instr(lower(group_name), lower(?)) > 0 OR instr(lower(book_label), lower(?)) > 0"
            " OR instr(lower(COALESCE(metadata, '')), lower(?)) > 0)"
        )
        params += [book, book, book]
    if page is not None:
        sql += " AND page = ?"
        params.append(int(page))
    return {int(r[0]) for r in ws.query(sql, params)}


def books(ws: Workspace) -> list[dict[str, Any]]:
    """Every book with live pages: [{book, book_label, pages, attribution, license}] sorted by label."""
    rows = ws.query(
        "SELECT m.group_name, MAX(m.book_label), COUNT(*), MAX(m.attribution), MAX(m.license) FROM image_meta m "
        "JOIN live_images i ON i.id = m.image_id "
        "WHERE m.group_name IS NOT NULL GROUP BY m.group_name ORDER BY MAX(m.book_label), m.group_name"
    )
    return [{"book": r[0], "book_label": r[1], "pages": int(r[2]), "attribution": r[3], "license": r[4]} for r in rows]


def books_version(ws: Workspace) -> tuple[int, int]:
    """A cheap token that changes when images or their metadata are added or changed (cache keys)."""
    row = ws.query(
        "SELECT (SELECT changes FROM store_state WHERE id = 1), (SELECT COALESCE(MAX(image_id), 0) FROM image_meta)"
    )[0]
    return int(row[0] or 0), int(row[1])


def has_books(ws: Workspace) -> bool:
    """Whether any image came from an imported book (one indexed lookup)."""
    return bool(ws.query("SELECT 1 FROM image_meta WHERE group_name IS NOT NULL LIMIT 1"))


def distinct_names(paths: Sequence[str], places: Sequence[str | None] | None = None) -> list[str]:
    """A short name per image for a caption: its file name, with where it lives beside it
    when the file name repeats among ``paths`` (``0001.jpg · Tale of Genji p. 1``).

    Args:
        paths: each image's path relative to its source root ("a/b/0001.jpg").
        places: a better "where" per image than its folder (e.g. a book and page), or None.

    Returns:
        One string per path, in order: the file name alone when it is unique here.
    """
    names = [p.replace("\\", "/").rsplit("/", 1)[-1] for p in paths]
    counts = Counter(names)
    out = []
    for i, (path, name) in enumerate(zip(paths, names)):
        if counts[name] < 2:
            out.append(name)
            continue
        place = places[i] if places is not None else None
        if not place:
            folder = path.replace("\\", "/").rsplit("/", 1)[0] if "/" in path.replace("\\", "/") else ""
            place = folder or "(top folder)"
        out.append(f"{name} · {place}")
    return out
