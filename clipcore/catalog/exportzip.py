"""The class-folder export as one ZIP file that people can take away: built (as a job) into
the workspace's ``exports/`` folder, named after the collection, refused above a size limit,
then downloaded from there. The layout inside is the folder export's
(``catalog.labels.class_folder_entries``). It holds the originals, or the ~256 px thumbnail
JPEGs made at ingest (``<class>/<name>.jpg``) for those who may look at images but not take
the originals away (the role table: ``clipcore.jobkinds`` picks the permission)."""

from __future__ import annotations

import logging
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

from clipcore.catalog.labels import class_folder_entries, current_label_rows
from clipcore.catalog.store import Workspace
from clipcore.errors import InputError, UnsafePathError

logger = logging.getLogger(__name__)

EXPORTS = "exports"
DEFAULT_MAX_MB = 2_048
ZIP_CONTENTS = ("originals", "thumbnails")
KEEP_THUMBNAIL_ZIPS = 3  # older thumbnail ZIPs are deleted: anyone who may view builds them


def zip_name(collection: str, content: str = "originals", stamp: str | None = None) -> str:
    """``<collection>-labels-<content>-<YYYYmmdd-HHMMSS>.zip``, the collection's name made file-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", collection).strip(".-") or "collection"
    return f"{safe}-labels-{content}-{stamp or time.strftime('%Y%m%d-%H%M%S')}.zip"


def list_zips(ws: Workspace, content: str | None = None) -> list[Path]:
    """The ZIP exports in ``exports/`` (of one ``content``, or all), newest first. A ZIP
    named before the content was in the name holds originals."""
    folder = ws.root / EXPORTS
    if not folder.is_dir():
        return []
    found = folder.glob("*-labels-*.zip")
    if content == "thumbnails":
        found = (p for p in found if "-labels-thumbnails-" in p.name)
    elif content is not None:
        found = (p for p in found if "-labels-thumbnails-" not in p.name)
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def _thumbnail_name(rel: Path, used: set[Path], image_id: int) -> Path:
    target = rel.with_suffix(".jpg")  # a thumbnail is a JPEG whatever the original was
    if target in used:  # a.png and a.jpg in one class
        target = rel.with_name(f"{rel.stem}-{image_id}.jpg")
    used.add(target)
    return target


def export_zip(
    ws: Workspace, collection: str, *, max_mb: int = DEFAULT_MAX_MB, content: str = "originals",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write every current label's original (or its thumbnail, ``content="thumbnails"``) into
    ``exports/<name>.zip`` as ``<class>/<file>`` (written to a temporary name, then renamed).
    Building a thumbnail ZIP deletes the thumbnail ZIPs older than the newest
    ``KEEP_THUMBNAIL_ZIPS``.

    Returns:
        {"zip": path, "content": content, "files": n, "bytes": size, "classes": {class: n}, "skipped": [reasons]}.
    Raises:
        InputError: an unknown ``content``, nothing labelled, or the files add up to more than ``max_mb`` MB.
    """
    if content not in ZIP_CONTENTS:
        raise InputError(f"a ZIP holds {' or '.join(ZIP_CONTENTS)}; got {content!r}.")
    rows = current_label_rows(ws)
    if not rows:
        raise InputError("nothing is labelled yet, so there is nothing to put in the ZIP.")
    entries, skipped, total = [], [], 0
    used: set[Path] = set()
    for row, rec, rel in class_folder_entries(ws, rows):
        try:
            if content == "thumbnails":
                real = ws.thumbnail_path(rec.content_hash)  # made at ingest; never decoded from the original here
                rel = _thumbnail_name(rel, used, rec.id)
            else:
                real = rec.real_path()
            size = real.stat().st_size
        except (UnsafePathError, OSError) as exc:
            skipped.append(f"{rec.path}: {getattr(exc, 'strerror', None) or exc}")
            continue
        entries.append((real, rel, row["class"]))
        total += size
    if total > max_mb * 1024 * 1024:
        raise InputError(
            f"the labelled {content} add up to {total / 1e6:,.0f} MB, more than the export limit of {max_mb:,} MB; "
            "download the labels as CSV instead, or ask an admin to raise the limit."
        )
    folder = ws.root / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / zip_name(collection, content)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    classes: dict[str, int] = {}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:  # JPEGs do not compress
            for k, (real, rel, label) in enumerate(entries, 1):
                zf.write(real, rel.as_posix())
                classes[label] = classes.get(label, 0) + 1
                if progress is not None:
                    progress(k, len(entries))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    if content == "thumbnails":
        for old in list_zips(ws, "thumbnails")[KEEP_THUMBNAIL_ZIPS:]:
            old.unlink(missing_ok=True)
    logger.info("exported %d %s into %s", len(entries), content, target)
    return {"zip": str(target), "content": content, "files": len(entries), "bytes": target.stat().st_size,
            "classes": dict(sorted(classes.items())), "skipped": skipped}
