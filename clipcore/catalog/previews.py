"""The View dialog's bounded copy of an image (<= 1024 px JPEG), made once and kept.

Pillow can draft a JPEG (decode it at 1/2, 1/4, 1/8 size) but not a PNG or TIFF: showing
a 169 MP PNG means decoding all of it (about 0.5 GB of RGB, more while decoding). So the
copy is made once, by ingest for large images (in the job's process) or else at the
first view, under a process-wide slot so that a few clicks cannot decode several at
once, and kept in the workspace's ``previews/`` folder, keyed by content hash.
"""

from __future__ import annotations

import logging

from clipcore.catalog.images import preview_jpeg
from clipcore.catalog.store import ImageRecord, Workspace
from clipcore.errors import WorkspaceError
from clipcore.parallel import heavy_slot

logger = logging.getLogger(__name__)

PREVIEW_SLOTS = 1  # large decodes at once in one app process
PREVIEW_WAIT_S = 120.0


def view_preview(ws: Workspace, record: ImageRecord) -> bytes:
    """JPEG bytes of ``record`` at most 1024 px on its longest side, for display.

    The original's place is checked on every call (``real_path``); its pixels are decoded
    only when no preview is kept yet, and then under the ``preview`` slot.

    Raises:
        UnsafePathError: the original now leads outside its source folder.
        ImageRejected: not a usable image (or a bomb).
        ServerBusy: no slot freed within two minutes.
    """
    real = record.real_path()
    cached = ws.preview_path(record.content_hash) if record.content_hash else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    with heavy_slot("making an image preview", pool="preview", limit=PREVIEW_SLOTS, wait_s=PREVIEW_WAIT_S):
        if cached is not None and cached.is_file():  # made by another session while this one waited
            return cached.read_bytes()
        data = preview_jpeg(real)
        if cached is not None:
            try:
                ws.write_preview(record.content_hash, data)
            except WorkspaceError as exc:  # a read-only workspace: shown, not kept
                logger.info("preview of image %d not kept: %s", record.id, exc)
    return data
