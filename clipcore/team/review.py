"""The review queue: a lead walks through a colleague's recent batches and accepts or
corrects each one.

Owns the table ``batch_reviews`` (one row per reviewed batch). An acceptance is recorded
as such; a correction is a new label batch (``catalog.labels.record_batch``, source kind
``review``) that gives the images the lead picked their right class, written in the same
transaction as the review row, so a crash leaves both or neither.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from clipcore.catalog import labels as lbl
from clipcore.catalog.store import Workspace, utc_now
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

REVIEW_SOURCE = "review"


def _batch(ws: Workspace, batch_id: str) -> dict[str, Any]:
    rows = ws.query("SELECT * FROM label_batches WHERE id = ?", (str(batch_id),))
    if not rows:
        raise InputError(f"no label batch {str(batch_id)[:8]!r}; pick one from the review queue.")
    return dict(rows[0])


def review_queue(
    ws: Workspace, reviewer: str, *, annotator: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Batches waiting for review, newest first: not reverted, not yet reviewed, with at
    least one label, made by someone other than ``reviewer`` (and by ``annotator`` when
    given). Review corrections are not queued again.

    Returns:
        ``[{"batch_id", "class", "annotator", "created_at", "source" (dict), "size"}]``.
    """
    reviewer = lbl.clean_annotator(reviewer)
    sql = (
        "SELECT b.* FROM label_batches b WHERE b.reverted_at IS NULL AND b.size > 0 AND b.annotator != ? "
        "AND NOT EXISTS (SELECT 1 FROM batch_reviews r WHERE r.batch_id = b.id) "
        "AND NOT EXISTS (SELECT 1 FROM batch_reviews r WHERE r.correction_batch = b.id)"
    )
    params: list[Any] = [reviewer]
    if annotator:
        sql += " AND b.annotator = ?"
        params.append(annotator)
    sql += " ORDER BY b.created_at DESC, b.rowid DESC LIMIT ?"
    params.append(int(limit))
    return [lbl.batch_dict(r) for r in ws.query(sql, params)]


def batch_images(ws: Workspace, batch_id: str) -> list[int]:
    """The live images a batch assigned its class to, in the order they were recorded."""
    rows = ws.query(
        "SELECT e.image_id FROM label_events e WHERE e.batch_id = ? AND e.kind = 'assign' "
        "AND EXISTS (SELECT 1 FROM live_images l WHERE l.id = e.image_id) ORDER BY e.id",
        (str(batch_id),),
    )
    return [int(r[0]) for r in rows]


def _check_reviewable(ws: Workspace, batch_id: str, reviewer: str) -> dict[str, Any]:
    batch = _batch(ws, batch_id)
    if batch["annotator"] == reviewer:
        raise InputError(f"batch {batch_id[:8]} is your own; a colleague reviews it.")
    if batch["reverted_at"] is not None:
        raise InputError(f"batch {batch_id[:8]} was reverted; there is nothing left to review.")
    return batch


def _insert_review(conn, batch_id: str, reviewer: str, verdict: str, correction: str | None) -> None:
    if conn.execute("SELECT 1 FROM batch_reviews WHERE batch_id = ?", (batch_id,)).fetchone():
        raise InputError(f"batch {batch_id[:8]} has been reviewed already.")
    conn.execute(
        "INSERT INTO batch_reviews (batch_id, reviewer, verdict, correction_batch, reviewed_at) VALUES (?, ?, ?, ?, ?)",
        (batch_id, reviewer, verdict, correction, utc_now()),
    )


def accept_batch(ws: Workspace, batch_id: str, *, reviewer: str) -> None:
    """Record that ``reviewer`` accepted ``batch_id`` as it is.

    Raises:
        InputError: no such batch, the reviewer's own batch, a reverted batch, or a batch
            reviewed already.
    """
    reviewer = lbl.clean_annotator(reviewer)
    _check_reviewable(ws, batch_id, reviewer)
    with ws.transaction() as conn:
        _insert_review(conn, str(batch_id), reviewer, "accepted", None)
    logger.info("batch %s accepted by %s", batch_id, reviewer)


def correct_batch(ws: Workspace, batch_id: str, image_ids: Iterable[int], label: str, *, reviewer: str) -> str:
    """Correct ``batch_id``: ``image_ids`` (some of its images) get ``label`` in a new batch
    by ``reviewer``; the review is recorded with that batch, in one transaction.

    Returns:
        The correction batch's id.
    Raises:
        InputError: as :func:`accept_batch`; no image picked, an image not in the batch,
            or the batch's own class (that is an acceptance).
    """
    reviewer = lbl.clean_annotator(reviewer)
    label = lbl.clean_label(label)
    batch = _check_reviewable(ws, batch_id, reviewer)
    ids = [int(i) for i in image_ids]
    if not ids:
        raise InputError("pick the images that are wrong before correcting the batch.")
    outside = sorted(set(ids) - set(batch_images(ws, batch_id)))
    if outside:
        raise InputError(f"image id(s) {outside[:10]} are not in batch {str(batch_id)[:8]}.")
    if label == batch["label"]:
        raise InputError(f"the batch already says {label!r}; accept it instead, or pick the right class.")
    source = {"kind": REVIEW_SOURCE, "reviews": str(batch_id), "note": f"correction of {str(batch_id)[:8]} ({batch['label']})"}
    new_id = lbl.record_batch(
        ws, label, ids, annotator=reviewer, source=source,
        also=lambda conn, new: _insert_review(conn, str(batch_id), reviewer, "corrected", new),
    )
    logger.info("batch %s corrected by %s: %d images -> %r (batch %s)", batch_id, reviewer, len(ids), label, new_id)
    return new_id


def reviews(ws: Workspace) -> dict[str, dict[str, Any]]:
    """batch id -> {"reviewer", "verdict", "correction_batch", "reviewed_at"} for reviewed batches."""
    return {
        r["batch_id"]: {k: r[k] for k in ("reviewer", "verdict", "correction_batch", "reviewed_at")}
        for r in ws.query("SELECT * FROM batch_reviews")
    }
