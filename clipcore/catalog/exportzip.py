"""The class-folder export as one ZIP file that people can take away: built (as a job) into
the workspace's ``exports/`` folder, named after the collection, refused above a size limit,
then downloaded from there. The layout inside is the folder export's
(``catalog.labels.class_folder_entries``)."""

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


def zip_name(collection: str, stamp: str | None = None) -> str:
    """``<collection>-labels-<YYYYmmdd-HHMMSS>.zip``, the collection's name made file-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", collection).strip(".-") or "collection"
    return f"{safe}-labels-{stamp or time.strftime('%Y%m%d-%H%M%S')}.zip"


def list_zips(ws: Workspace) -> list[Path]:
    """The ZIP exports in ``exports/``, newest first."""
    folder = ws.root / EXPORTS
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*-labels-*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)


def export_zip(
    ws: Workspace, collection: str, *, max_mb: int = DEFAULT_MAX_MB, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Write every current label's original into ``exports/<name>.zip`` as ``<class>/<file>``
    (written to a temporary name, then renamed).

    Returns:
        {"zip": path, "files": n, "bytes": size, "classes": {class: n}, "skipped": [reasons]}.
    Raises:
        InputError: nothing labelled, or the originals add up to more than ``max_mb`` MB.
    """
    rows = current_label_rows(ws)
    if not rows:
        raise InputError("nothing is labelled yet, so there is nothing to put in the ZIP.")
    entries, skipped, total = [], [], 0
    for row, rec, rel in class_folder_entries(ws, rows):
        try:
            real = rec.real_path()
            size = real.stat().st_size
        except (UnsafePathError, OSError) as exc:
            skipped.append(f"{rec.path}: {getattr(exc, 'strerror', None) or exc}")
            continue
        entries.append((real, rel, row["class"]))
        total += size
    if total > max_mb * 1024 * 1024:
        raise InputError(
            f"the labelled originals add up to {total / 1e6:,.0f} MB, more than the export limit of {max_mb:,} MB; "
            "download the labels as CSV instead, or ask an admin to raise the limit."
        )
    folder = ws.root / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / zip_name(collection)
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
    logger.info("exported %d originals into %s", len(entries), target)
    return {"zip": str(target), "files": len(entries), "bytes": target.stat().st_size,
            "classes": dict(sorted(classes.items())), "skipped": skipped}
