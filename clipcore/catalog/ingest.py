"""Ingestion: scan a folder, catalogue its images, make thumbnails, record what was skipped.

reader (``scan_folder``) -> decoder threads (``_inspect_file``) -> one writer (the
catalog, in batched transactions). Re-running only looks at new or changed files
(by size and modification time, then content hash).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from clipcore.csvsafe import restore
from clipcore.errors import InputError
from clipcore.catalog.images import ImageRejected, make_thumbnail, open_rgb
from clipcore.parallel import imap_ordered
from clipcore.catalog.store import Workspace, utc_now

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
WRITE_BATCH = 256


@dataclass
class IngestReport:
    """What one ingest run did. ``skipped`` paths are relative to the source folder."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    skipped: list[dict] = field(default_factory=list)
    labelled: int = 0
    total: int = 0

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "labelled": self.labelled,
            "total": self.total,
        }


@dataclass(frozen=True)
class _Found:
    rel: str
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class _Inspected:
    found: _Found
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    thumbnail: bytes | None = None
    reason: str | None = None


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def scan_folder(root: Path, *, exclude: Path | None = None) -> Iterator[_Found | dict]:
    """Walk ``root`` recursively, in a stable order.

    Yields ``_Found`` for candidate files and ``{"path", "reason"}`` for links that were
    not followed. Hidden files and folders (leading dot) are ignored; symbolic links are
    followed only while they stay inside ``root``; each real folder is visited once.
    """
    real_root = root.resolve()
    seen_dirs: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        real_here = here.resolve()
        if real_here in seen_dirs or (exclude is not None and real_here == exclude):
            dirnames[:] = []
            continue
        seen_dirs.add(real_here)
        kept = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            sub = here / d
            if sub.is_symlink() and not _within(sub.resolve(), real_root):
                yield {"path": sub.relative_to(root).as_posix(), "reason": "symlink leaves the source folder; not followed"}
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not target.exists():
                    yield {"path": rel, "reason": "broken symlink"}
                    continue
                if not _within(target, real_root):
                    yield {"path": rel, "reason": "symlink leaves the source folder; not followed"}
                    continue
            try:
                st = path.stat()
            except OSError as exc:
                yield {"path": rel, "reason": f"cannot read: {exc.strerror or exc}"}
                continue
            if not path.is_file():
                continue
            yield _Found(rel, path, st.st_size, st.st_mtime_ns)


def _inspect_file(found: _Found) -> _Inspected:
    try:
        data = found.path.read_bytes()
    except OSError as exc:
        return _Inspected(found, reason=f"cannot read: {exc.strerror or exc}")
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        decoded = open_rgb(data, draft_to=512)
    except ImageRejected as exc:
        return _Inspected(found, content_hash=digest, reason=exc.reason)
    return _Inspected(
        found,
        content_hash=digest,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        thumbnail=make_thumbnail(decoded.image),
    )


def ingest_folder(
    ws: Workspace,
    folder: str | Path,
    *,
    labels_from_folders: bool = False,
    labels_csv: str | Path | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> IngestReport:
    """Catalogue every image under ``folder`` into the workspace.

    Args:
        labels_from_folders: use each image's parent folder name as its ground-truth label.
        labels_csv: CSV with columns ``path,label`` (optional ``group``), paths relative to ``folder``.
        progress: called as ``progress(done, total)`` while files are inspected.
    Raises:
        InputError: the folder does not exist or is not a folder; a bad labels CSV.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"folder {str(root)!r} does not exist; give the folder that holds your images.")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is a file; give the folder that holds your images.")
    root = root.resolve()
    csv_labels = _read_labels_csv(Path(labels_csv)) if labels_csv else None
    source_id = ws.source_id(root)
    known = ws.known_files(source_id)
    report = IngestReport()

    todo: list[_Found] = []
    for item in scan_folder(root, exclude=ws.root):
        if isinstance(item, dict):
            report.skipped.append(item)
            continue
        prev = known.get(item.rel)
        if prev is not None and prev[1] == item.size and prev[2] == item.mtime_ns:
            report.unchanged += 1
            continue
        todo.append(item)

    canonical = {
        r[0]: int(r[1])
        for r in ws.query("SELECT content_hash, MIN(id) FROM images WHERE skip_reason IS NULL AND duplicate_of IS NULL GROUP BY content_hash")
    }
    pending: list[_Inspected] = []
    done = 0
    if progress:
        progress(0, len(todo))
    for result in imap_ordered(_inspect_file, todo, workers=workers):
        pending.append(result)
        done += 1
        if len(pending) >= WRITE_BATCH:
            _write_batch(ws, source_id, pending, known, canonical, report)
            pending = []
        if progress:
            progress(done, len(todo))
    _write_batch(ws, source_id, pending, known, canonical, report)

    if labels_from_folders or csv_labels is not None:
        report.labelled = _apply_labels(ws, source_id, labels_from_folders, csv_labels)
    report.total = ws.counts()["images"]
    logger.info("ingest %s: %s", root, {k: v for k, v in report.to_dict().items() if k != "skipped"})
    return report


def _write_batch(
    ws: Workspace,
    source_id: int,
    batch: list[_Inspected],
    known: dict[str, tuple],
    canonical: dict[str, int],
    report: IngestReport,
) -> None:
    if not batch:
        return
    changed_ids: list[int] = []
    now = utc_now()
    for r in batch:
        if r.thumbnail is not None and r.content_hash not in canonical:
            ws.write_thumbnail(r.content_hash, r.thumbnail)
    with ws.transaction() as conn:
        for r in batch:
            f = r.found
            prev = known.get(f.rel)
            dup_of = None
            if r.reason is None and r.content_hash in canonical and (prev is None or canonical[r.content_hash] != prev[0]):
                dup_of = canonical[r.content_hash]
            values = (f.size, f.mtime_ns, r.content_hash, r.width, r.height, r.format, r.reason, dup_of)
            if prev is None:
                cur = conn.execute(
                    "INSERT INTO images (source_id, path, size_bytes, mtime_ns, content_hash, width, height, format,"
                    " skip_reason, duplicate_of, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (source_id, f.rel, *values, now),
                )
                image_id = int(cur.lastrowid)
            else:
                image_id = prev[0]
                conn.execute(
                    "UPDATE images SET size_bytes = ?, mtime_ns = ?, content_hash = ?, width = ?, height = ?, format = ?,"
                    " skip_reason = ?, duplicate_of = ? WHERE id = ?",
                    (*values, image_id),
                )
                if prev[3] != r.content_hash:
                    changed_ids.append(image_id)
            known[f.rel] = (image_id, f.size, f.mtime_ns, r.content_hash)
            if r.reason is not None:
                report.skipped.append({"path": f.rel, "reason": r.reason})
            elif dup_of is not None:
                report.duplicates += 1
            else:
                canonical.setdefault(r.content_hash, image_id)
                if prev is None:
                    report.added += 1
                else:
                    report.updated += 1
        for image_id in changed_ids:
            conn.execute("DELETE FROM embedding_rows WHERE image_id = ?", (image_id,))


def _read_labels_csv(path: Path) -> dict[str, tuple[str, str | None]]:
    if not path.is_file():
        raise InputError(f"labels CSV {str(path)!r} does not exist.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "path" not in fields or "label" not in fields:
                raise InputError(
                    f"labels CSV {str(path)!r} needs a header with 'path' and 'label' columns; found {reader.fieldnames}."
                )
            out: dict[str, tuple[str, str | None]] = {}
            for row in reader:
                # Undo the formula-injection prefix our own exports add (clipcore.csvsafe).
                row = {k.strip().lower(): restore((v or "").strip()) for k, v in row.items() if k}
                if row.get("path") and row.get("label"):
                    out[Path(row["path"]).as_posix()] = (row["label"], row.get("group") or None)
            return out
    except UnicodeDecodeError as exc:
        raise InputError(f"labels CSV {str(path)!r} is not UTF-8 text: {exc}.") from exc


def _apply_labels(
    ws: Workspace, source_id: int, from_folders: bool, csv_labels: dict[str, tuple[str, str | None]] | None
) -> int:
    rows = ws.query(
        "SELECT id, path FROM images WHERE source_id = ? AND skip_reason IS NULL AND duplicate_of IS NULL", (source_id,)
    )
    labels: dict[int, str] = {}
    groups: dict[int, str] = {}
    for image_id, rel in rows:
        parts = rel.split("/")
        if from_folders and len(parts) >= 2:
            labels[image_id] = parts[-2]
            if len(parts) >= 3:
                groups[image_id] = parts[0]
        if csv_labels is not None and rel in csv_labels:
            labels[image_id], group = csv_labels[rel]
            if group:
                groups[image_id] = group
    if csv_labels is not None:
        unmatched = len(set(csv_labels) - {r[1] for r in rows})
        if unmatched:
            logger.warning("%d CSV rows name files that are not catalogued images", unmatched)
    return ws.set_ground_truth(labels, "csv" if csv_labels is not None else "folders", groups)
