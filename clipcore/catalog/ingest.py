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
from typing import Any, Callable, Iterator

from clipcore.csvsafe import restore
from clipcore.errors import InputError, UnsafePathError
from clipcore.catalog.images import PREVIEW_AT_INGEST_PIXELS, PREVIEW_SIZE, ImageRejected, make_thumbnail, open_rgb
from clipcore.catalog.metadata import METADATA_NAME, paths_with_metadata, store_metadata
from clipcore.parallel import imap_ordered
from clipcore.catalog.store import FileWrite, Workspace

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
WRITE_BATCH = 256


@dataclass
class IngestReport:
    """What one ingest run did. ``skipped`` paths are relative to the source folder.

    ``moved``: files that took over a missing image with the same content (same id);
    ``returned``: missing images whose file came back unchanged; ``vanished``: images
    marked missing by this run; ``promoted``: duplicates that became canonical because
    their canonical copy vanished or changed; ``total``/``missing``: live and missing
    images in the workspace afterwards.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    skipped: list[dict] = field(default_factory=list)
    labelled: int = 0
    total: int = 0
    moved: int = 0
    returned: int = 0
    vanished: int = 0
    promoted: int = 0
    missing: int = 0
    adopted: set[int] = field(default_factory=set, repr=False)

    def moved_back(self, ids: list[int]) -> int:
        """How many of ``ids`` (marked missing by this run) were taken over by a moved file."""
        return len(self.adopted.intersection(ids))

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "labelled": self.labelled,
            "moved": self.moved,
            "returned": self.returned,
            "vanished": self.vanished,
            "promoted": self.promoted,
            "total": self.total,
            "missing": self.missing,
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
    preview: bytes | None = None  # only for large images the decoder cannot draft (PNG, TIFF...)
    reason: str | None = None


def _within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _undecodable(name: str) -> bool:
    """True for a name that is not valid UTF-8 on disk (Python keeps such bytes as surrogates)."""
    try:
        name.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _shown(rel: str) -> str:
    """A printable form of a path whose bytes are not UTF-8 (bad bytes as \\xNN)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


_BAD_NAME = "file name is not valid UTF-8; rename it to include it"


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
            if _undecodable(d):
                yield {"path": _shown(sub.relative_to(root).as_posix()), "reason": "folder " + _BAD_NAME}
                continue
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
            if _undecodable(name):
                yield {"path": _shown(rel), "reason": _BAD_NAME}
                continue
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
    # The View dialog's copy of a large image that was decoded whole here (no JPEG draft):
    # made now, in the ingest job's process, so the app never decodes the original again.
    whole = decoded.image.width * decoded.image.height
    preview = make_thumbnail(decoded.image, PREVIEW_SIZE) if whole >= PREVIEW_AT_INGEST_PIXELS else None
    return _Inspected(
        found,
        content_hash=digest,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        thumbnail=make_thumbnail(decoded.image),
        preview=preview,
    )


def ingest_folder(
    ws: Workspace,
    folder: str | Path,
    *,
    labels_from_folders: bool = False,
    labels_csv: str | Path | None = None,
    progress: ProgressFn | None = None,
    workers: int | None = None,
    real_folder: bool = False,
) -> IngestReport:
    """Catalogue every image under ``folder`` into the workspace (mark and sweep).

    Files seen before and gone now are marked missing (their rows, labels and vectors
    stay); a new file whose content matches a missing image takes over that image (same
    id, labels and vectors, new path); a duplicate whose canonical copy vanished or
    changed is promoted. One ingest per workspace at a time.

    Args:
        labels_from_folders: use each image's parent folder name as its ground-truth label.
        labels_csv: CSV with columns ``path,label`` (optional ``group``), paths relative to ``folder``.
        progress: called as ``progress(done, total)`` while files are inspected.
        real_folder: ``folder`` is a path resolved when the collection was made (the
            app's collections): refuse it when it no longer resolves to itself, i.e. it,
            or a folder above it, was replaced by a symlink since.
    Raises:
        InputError: the folder does not exist or is not a folder; a bad labels CSV.
        UnsafePathError: ``real_folder`` and the folder now leads elsewhere.
        WorkspaceError: another ingest is running on this workspace; the workspace is read-only.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"folder {str(root)!r} does not exist; give the folder that holds your images.")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is a file; give the folder that holds your images.")
    if real_folder and root.resolve() != root:
        raise UnsafePathError(
            f"the collection's folder {str(root)!r} now leads to {str(root.resolve())!r} (replaced by a link?); "
            "it is not ingested. Put the folder back, or make a new collection."
        )
    root = root.resolve()
    csv_labels = _read_labels_csv(Path(labels_csv)) if labels_csv else None
    with ws.ingest_lock():
        return _ingest(ws, root, labels_from_folders, csv_labels, progress, workers)


def _ingest(
    ws: Workspace,
    root: Path,
    labels_from_folders: bool,
    csv_labels: dict | None,
    progress: ProgressFn | None,
    workers: int | None,
) -> IngestReport:
    source_id = ws.source_id(root)
    known = ws.known_files(source_id)
    report = IngestReport()

    todo: list[_Found] = []
    pages_files: list[str] = []
    seen: set[str] = set()
    returned: list[int] = []
    for item in scan_folder(root, exclude=ws.root):
        if isinstance(item, dict):
            report.skipped.append(item)
            continue
        if item.path.name == METADATA_NAME:  # an import's metadata beside its images, not an image
            pages_files.append(item.rel)
            continue
        seen.add(item.rel)
        prev = known.get(item.rel)
        if prev is not None and prev[1] == item.size and prev[2] == item.mtime_ns:
            if prev[4]:
                returned.append(prev[0])
            else:
                report.unchanged += 1
            continue
        todo.append(item)
    vanished = [v[0] for rel, v in known.items() if rel not in seen and not v[4]]
    ws.mark_missing(vanished, returned)
    report.returned = len(returned)

    canonical = ws.canonical_by_content()
    adoptable = ws.missing_by_content()
    pending: list[_Inspected] = []
    done = 0
    if progress:
        progress(0, len(todo))
    for result in imap_ordered(_inspect_file, todo, workers=workers):
        pending.append(result)
        done += 1
        if len(pending) >= WRITE_BATCH:
            _write_batch(ws, source_id, pending, known, canonical, adoptable, report)
            pending = []
        if progress:
            progress(done, len(todo))
    _write_batch(ws, source_id, pending, known, canonical, adoptable, report)
    report.vanished = len(vanished) - report.moved_back(vanished)
    report.promoted = ws.repair_duplicates()
    if pages_files:
        store_metadata(ws, source_id, pages_files)

    if labels_from_folders or csv_labels is not None:
        report.labelled = _apply_labels(ws, source_id, labels_from_folders, csv_labels)
    counts = ws.counts()
    report.total, report.missing = counts["images"], counts["missing"]
    logger.info("ingest %s: %s", root, {k: v for k, v in report.to_dict().items() if k != "skipped"})
    return report


def _write_batch(
    ws: Workspace,
    source_id: int,
    batch: list[_Inspected],
    known: dict[str, tuple],
    canonical: dict[str, int],
    adoptable: dict[str, list[int]],
    report: IngestReport,
) -> None:
    """Decide what each inspected file is (new, changed, moved here, duplicate, skipped); the
    store writes the batch in one transaction."""
    if not batch:
        return
    for r in batch:
        if r.thumbnail is not None and r.content_hash not in canonical:
            ws.write_thumbnail(r.content_hash, r.thumbnail)
        if r.preview is not None and not ws.preview_path(r.content_hash).exists():
            ws.write_preview(r.content_hash, r.preview)
    writes: list[FileWrite] = []
    kinds: list[str] = []
    new_canonical: dict[str, int] = {}  # content first seen in this batch as a new row -> its index
    for r in batch:
        f = r.found
        prev = known.get(f.rel)
        moved_id = None
        if prev is None and r.reason is None and adoptable.get(r.content_hash):
            moved_id = adoptable[r.content_hash].pop()  # same content as a missing image: it moved here
        own_id = prev[0] if prev is not None else moved_id
        dup_of = dup_index = None
        if r.reason is None:
            if r.content_hash in canonical and canonical[r.content_hash] != own_id:
                dup_of = canonical[r.content_hash]
            elif r.content_hash in new_canonical:
                dup_index = new_canonical[r.content_hash]
            elif own_id is not None:
                canonical.setdefault(r.content_hash, own_id)
            else:
                new_canonical[r.content_hash] = len(writes)
        writes.append(
            FileWrite(
                f.rel, f.size, f.mtime_ns, r.content_hash, r.width, r.height, r.format, r.reason, dup_of,
                image_id=own_id, content_changed=prev is not None and prev[3] != r.content_hash,
                duplicate_of_index=dup_index,
            )
        )
        duplicate = dup_of is not None or dup_index is not None
        kinds.append(
            "skipped" if r.reason else "duplicates" if duplicate else "moved" if moved_id else "added" if prev is None else "updated"
        )
        if moved_id is not None:
            report.adopted.add(moved_id)
    ids = ws.write_files(source_id, writes)
    for content_hash, index in new_canonical.items():
        canonical.setdefault(content_hash, ids[index])
    for r, w, image_id, kind in zip(batch, writes, ids, kinds):
        known[w.path] = (image_id, w.size, w.mtime_ns, w.content_hash, False)
        if kind == "skipped":
            report.skipped.append({"path": w.path, "reason": r.reason})
        else:
            setattr(report, kind, getattr(report, kind) + 1)


def _read_labels_csv(path: Path) -> dict[Any, tuple[str, str | None]]:
    """Labels from a CSV with a header: ``path,label[,group]`` (path relative to the source
    root), or, for imported books, ``book,page,label`` (book = its folder name or title,
    page = its page number). Keys are relative paths, or (book, page) pairs."""
    if not path.is_file():
        raise InputError(f"labels CSV {str(path)!r} does not exist.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            by_path = "path" in fields
            if "label" not in fields or not (by_path or {"book", "page"} <= set(fields)):
                raise InputError(
                    f"labels CSV {str(path)!r} needs a header with 'path' and 'label' columns, or 'book', 'page' "
                    f"and 'label' for imported books; found {reader.fieldnames}."
                )
            out: dict[Any, tuple[str, str | None]] = {}
            for line, row in enumerate(reader, start=2):
                # Undo the formula-injection prefix our own exports add (clipcore.csvsafe).
                row = {k.strip().lower(): restore((v or "").strip()) for k, v in row.items() if k}
                if not row.get("label"):
                    continue
                if by_path and row.get("path"):
                    out[Path(row["path"]).as_posix()] = (row["label"], row.get("group") or None)
                elif not by_path and row.get("book") and row.get("page"):
                    try:
                        page = int(row["page"])
                    except ValueError:
                        raise InputError(
                            f"labels CSV {str(path)!r}, line {line}: page must be a page number; got {row['page']!r}."
                        ) from None
                    out[(row["book"], page)] = (row["label"], None)
            return out
    except UnicodeDecodeError as exc:
        raise InputError(f"labels CSV {str(path)!r} is not UTF-8 text: {exc}.") from exc


def _book_page_paths(ws: Workspace, source_id: int, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """(book folder name or title, page number) -> relative path, for imported book pages."""
    if not wanted:
        return {}
    rows = ws.query(
        "SELECT i.path, m.group_name, m.book_label, m.page FROM images i JOIN image_meta m ON m.image_id = i.id "
        "WHERE i.source_id = ? AND m.page IS NOT NULL",
        (source_id,),
    )
    out: dict[tuple[str, int], str] = {}
    for rel, group, title, page in rows:
        for book in (group, title):
            if book and (book, int(page)) in wanted:
                out[(book, int(page))] = rel
    return out


def _apply_labels(
    ws: Workspace, source_id: int, from_folders: bool, csv_labels: dict[Any, tuple[str, str | None]] | None
) -> int:
    if csv_labels is not None:
        pairs = {k for k in csv_labels if isinstance(k, tuple)}
        resolved = _book_page_paths(ws, source_id, pairs)
        csv_labels = {resolved.get(k, k) if isinstance(k, tuple) else k: v for k, v in csv_labels.items()}
    rows = [(r.id, r.path) for r in ws.images(source_id=source_id)]
    labels: dict[int, str] = {}
    groups: dict[int, str] = {}
    # An imported book's folder is the book (its group), not a class.
    books = paths_with_metadata(ws, source_id) if from_folders else set()
    for image_id, rel in rows:
        parts = rel.split("/")
        if from_folders and len(parts) >= 2 and rel not in books:
            labels[image_id] = parts[-2]
            if len(parts) >= 3:
                groups[image_id] = parts[0]
        if csv_labels is not None and rel in csv_labels:
            labels[image_id], group = csv_labels[rel]
            if group:
                groups[image_id] = group
    if books and csv_labels is None:
        logger.warning(
            "%d imported book pages got no label from their folder (a book is not a class); give a labels CSV", len(books)
        )
    if csv_labels is not None:
        unmatched = len(set(csv_labels) - {r[1] for r in rows})
        if unmatched:
            logger.warning("%d CSV rows name files that are not catalogued images", unmatched)
    return ws.set_ground_truth(labels, "csv" if csv_labels is not None else "folders", groups)
