"""Labels as events: batches, current labels, undo/revert, history, conflicts, claims, export.

Every labelling action is one *batch* (one class, one annotator, one source) holding
events: ``assign`` for each selected image, ``reject`` for each deselected one (a
negative for that class). Nothing is ever overwritten: an image's current label is its
latest ``assign`` event whose batch has not been reverted, and reverting a batch only
marks it. Each write is one SQLite transaction, so several annotators (threads or
processes) can label the same workspace at once without losing an event.

Claims (``label_claims``) let annotators split a ranking: an image claimed by one
annotator, and not yet expired, is not handed to another.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from clipcore.csvsafe import dict_rows_csv
from clipcore.errors import InputError, PermissionDenied, UnsafePathError
from clipcore.catalog.store import Workspace, atomic_write_bytes, utc_now
from clipcore.catalog.metadata import image_metadata

logger = logging.getLogger(__name__)

MAX_LABEL_CHARS = 200
MAX_ANNOTATOR_CHARS = 100
DEFAULT_CLAIM_TTL_S = 15 * 60
EXPORT_FORMATS = ("csv", "json", "folders")
RESOLUTION_SOURCE = "resolution"

# The one definition of a usable image is the store's ``live_images`` view.
# Correlated, so each row is one primary-key lookup in the live_images view; an
# "i.id IN (SELECT id FROM live_images)" list would read every image first (300 ms at 1M).
_LIVE_IMAGES = "EXISTS (SELECT 1 FROM live_images l WHERE l.id = i.id)"


# -- validation ------------------------------------------------------------------------


def clean_label(label: Any) -> str:
    """A class name as stored: stripped, non-empty, one line, at most 200 characters.

    Raises:
        InputError: empty, multi-line or too long.
    """
    text = str(label if label is not None else "").strip()
    if not text:
        raise InputError("a class name is empty; type the class to assign.")
    if any(ch in text for ch in "\r\n\x00"):
        raise InputError(f"class name {text[:40]!r} spans several lines; use one line.")
    if len(text) > MAX_LABEL_CHARS:
        raise InputError(f"class name has {len(text)} characters; at most {MAX_LABEL_CHARS}.")
    return text


def clean_annotator(name: Any) -> str:
    """An annotator name: stripped, non-empty, one line, at most 100 characters.

    Raises:
        InputError: empty, multi-line or too long.
    """
    text = str(name if name is not None else "").strip()
    if not text:
        raise InputError("no annotator name;", cli_hint="give your name with --annotator NAME.",
                         app_hint="type your name in the sidebar's name box.")
    if any(ch in text for ch in "\r\n\x00"):
        raise InputError("an annotator name must be one line.")
    if len(text) > MAX_ANNOTATOR_CHARS:
        raise InputError(f"annotator name has {len(text)} characters; at most {MAX_ANNOTATOR_CHARS}.")
    return text


def _clean_ids(ids: Iterable[Any], what: str) -> list[int]:
    out: list[int] = []
    for raw in ids:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise InputError(f"{what}: expected integer image ids; got {raw!r}.") from None
        out.append(value)
    return list(dict.fromkeys(out))


def _check_known(conn, ids: Sequence[int]) -> None:
    missing: list[int] = []
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        marks = ",".join("?" * len(chunk))
        found = {r[0] for r in conn.execute(f"SELECT id FROM images i WHERE id IN ({marks}) AND {_LIVE_IMAGES}", chunk)}
        missing.extend(i for i in chunk if i not in found)
    if missing:
        raise InputError(
            f"unknown or missing image id(s) {missing[:10]} (a file deleted from its folder is missing after "
            "the next ingest).",
            cli_hint="Ids come from search results or `labels`.",
            app_hint="Reload the page to see the collection as it is now.",
        )


# -- writing ---------------------------------------------------------------------------


def record_batch(
    ws: Workspace,
    label: str,
    image_ids: Iterable[int],
    *,
    annotator: str,
    source: Mapping[str, Any],
    rejected_ids: Iterable[int] = (),
    also: Callable[[sqlite3.Connection, str], None] | None = None,
) -> str:
    """Assign ``label`` to ``image_ids`` (and record ``rejected_ids`` as negatives) as one batch.

    One transaction: the batch row, one ``assign`` event per image id and one ``reject``
    event per rejected id; the annotator's claims on these images are released.

    Args:
        source: where the batch came from, JSON-serialisable, e.g.
            ``{"kind": "text", "query": "a cover", "model": "ViT-B-32/..."}``.
        also: called with the connection and the new batch id inside the same transaction
            (a review that records its correction batch: both or neither).
    Returns:
        The new batch id (32 hex characters).
    Raises:
        InputError: bad class or annotator name, no image at all, an id both assigned
            and rejected, an unknown id, or a source that is not a JSON object.
    """
    args = _batch_args(label, annotator, image_ids, rejected_ids, source)
    return _write_batch(ws, *args, since_event=None, also=also).batch_id or ""


def _batch_args(label, annotator, image_ids, rejected_ids, source) -> tuple[str, str, str, list[int], list[int]]:
    label = clean_label(label)
    annotator = clean_annotator(annotator)
    assigned = _clean_ids(image_ids, "image_ids")
    rejected = _clean_ids(rejected_ids, "rejected_ids")
    if not assigned and not rejected:
        raise InputError("a batch needs at least one image; select images to label.")
    both = sorted(set(assigned) & set(rejected))
    if both:
        raise InputError(f"image id(s) {both[:10]} are both assigned and rejected; pick one.")
    return label, annotator, _source_json(source), assigned, rejected


@dataclass(frozen=True)
class AssignResult:
    """What :func:`assign_page` wrote: the batch (None when every image was skipped) and
    the images skipped because a colleague labelled them after the page was drawn."""

    batch_id: str | None
    assigned: int
    rejected: int
    skipped: dict[int, str]  # image id -> the annotator who labelled it since

    def skipped_message(self) -> str:
        """"3 images were labelled by bob since this page was drawn", or ''."""
        if not self.skipped:
            return ""
        who = sorted(set(self.skipped.values()))
        n = len(self.skipped)
        return f"{n} image{'s' if n != 1 else ''} {'were' if n != 1 else 'was'} labelled by {', '.join(who)} since this page was drawn"


def assign_page(
    ws: Workspace,
    label: str,
    image_ids: Iterable[int],
    *,
    annotator: str,
    source: Mapping[str, Any],
    rejected_ids: Iterable[int] = (),
    drawn_at: int,
    overwrite: bool = False,
) -> AssignResult:
    """:func:`record_batch` for a page drawn when the latest label event was ``drawn_at``
    (``label_events_version(ws)[0]``): images another annotator labelled since are skipped,
    in the same transaction, unless ``overwrite``.

    Raises:
        InputError: as :func:`record_batch`.
    """
    args = _batch_args(label, annotator, image_ids, rejected_ids, source)
    return _write_batch(ws, *args, since_event=None if overwrite else int(drawn_at))


def _source_json(source: Any) -> str:
    if not isinstance(source, Mapping):
        raise InputError(f"source must be a mapping (JSON object); got {type(source).__name__}.")
    try:
        return json.dumps(dict(source), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"source is not JSON-serialisable: {exc}.") from exc


def _labelled_since(conn, ids: Sequence[int], since_event: int, annotator: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(
            "SELECT e.image_id, e.annotator FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            f"WHERE e.id > ? AND e.kind = 'assign' AND e.annotator != ? AND b.reverted_at IS NULL AND e.image_id IN ({marks}) "
            "ORDER BY e.id",
            [since_event, annotator, *chunk],
        ):
            found[int(r[0])] = r[1]
    return found


def _write_batch(
    ws: Workspace, label: str, annotator: str, source_json: str, assigned: list[int], rejected: list[int], *, since_event: int | None,
    also: Callable[[sqlite3.Connection, str], None] | None = None,
) -> AssignResult:
    batch_id = uuid.uuid4().hex
    now = utc_now()
    with ws.transaction() as conn:
        _check_known(conn, assigned + rejected)
        skipped = {} if since_event is None else _labelled_since(conn, assigned + rejected, since_event, annotator)
        assigned = [i for i in assigned if i not in skipped]
        rejected = [i for i in rejected if i not in skipped]
        if not assigned and not rejected:
            return AssignResult(None, 0, 0, skipped)
        rows = [(batch_id, i, label, "assign", annotator, now) for i in assigned]
        rows += [(batch_id, i, label, "reject", annotator, now) for i in rejected]
        conn.execute(
            "INSERT INTO label_batches (id, label, annotator, created_at, source, size) VALUES (?, ?, ?, ?, ?, ?)",
            (batch_id, label, annotator, now, source_json, len(assigned)),
        )
        conn.executemany(
            "INSERT INTO label_events (batch_id, image_id, label, kind, annotator, at) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
        conn.executemany(
            "DELETE FROM label_claims WHERE image_id = ? AND annotator = ?", [(i, annotator) for i in assigned + rejected]
        )
        if also is not None:
            also(conn, batch_id)
    logger.info(
        "batch %s: %d x %r, %d rejected, %d skipped, by %s", batch_id, len(assigned), label, len(rejected), len(skipped), annotator
    )
    return AssignResult(batch_id, len(assigned), len(rejected), skipped)


BATCH_PREFIX_MIN = 6


def _full_batch_id(conn, text: str) -> str:
    """The batch id that ``text`` names: the whole id, or a prefix of at least
    ``BATCH_PREFIX_MIN`` characters (the app and the CLI show the first 8) that only one
    batch starts with."""
    raw = str(text).strip()
    if conn.execute("SELECT 1 FROM label_batches WHERE id = ?", (raw,)).fetchone():
        return raw
    text = raw.lower()
    if len(text) < BATCH_PREFIX_MIN or any(ch not in "0123456789abcdef" for ch in text):
        raise InputError(
            f"no label batch {text!r}; give the id or its first {BATCH_PREFIX_MIN}+ characters",
            cli_hint="(batch ids are listed by `labels --history`).", app_hint="(the History view lists them).",
        )
    # ids are hex, so the prefix has no LIKE wildcards; a range scan uses the primary key
    rows = conn.execute(
        "SELECT id FROM label_batches WHERE id >= ? AND id < ? LIMIT 2", (text, text + "g")
    ).fetchall()
    hints = {"cli_hint": "Batch ids are listed by `labels --history`.", "app_hint": "The History view lists them."}
    if not rows:
        raise InputError(f"no label batch {text!r}.", **hints)
    if len(rows) > 1:
        raise InputError(f"{text!r} starts more than one batch id; type more of it.", **hints)
    return str(rows[0][0])


def revert_batch(ws: Workspace, batch_id: str, *, annotator: str, only_own: bool = False) -> int:
    """Mark a batch reverted; its events stay in the history but no longer count.

    Idempotent: reverting an already reverted batch changes nothing and returns 0.
    Args:
        batch_id: the whole id or a unique prefix of at least ``BATCH_PREFIX_MIN``
            characters (the 8 the history shows).
        only_own: refuse a batch that ``annotator`` did not make (an annotator's undo;
            admins revert anyone's).
    Returns:
        The number of labels (``assign`` events) this call reverted.
    Raises:
        InputError: no batch with this id, or a bad annotator name.
        PermissionDenied: ``only_own`` and the batch is someone else's.
    """
    annotator = clean_annotator(annotator)
    with ws.transaction() as conn:
        batch_id = _full_batch_id(conn, batch_id)
        row = conn.execute("SELECT reverted_at, annotator FROM label_batches WHERE id = ?", (batch_id,)).fetchone()
        if only_own and row[1] != annotator:
            raise PermissionDenied(f"batch {batch_id[:8]} was made by {row[1]}; only an admin can revert a colleague's batch.")
        if row[0] is not None:
            return 0
        conn.execute(
            "UPDATE label_batches SET reverted_at = ?, reverted_by = ? WHERE id = ?", (utc_now(), annotator, batch_id)
        )
        n = conn.execute(
            "SELECT COUNT(*) FROM label_events WHERE batch_id = ? AND kind = 'assign'", (batch_id,)
        ).fetchone()[0]
    logger.info("batch %s reverted by %s (%d labels)", batch_id, annotator, n)
    return int(n)


def rename_annotator(ws: Workspace, old: str, new: str) -> dict[str, int]:
    """Give everything recorded under the identity ``old`` to ``new``, in one transaction:
    batches (maker and reverter), events and claims. The migration for a team whose
    sign-in identity changes (``[auth] identity`` from email to ``sub``): the person keeps
    their batches (undo, history, stats). Idempotent.

    Returns:
        How many rows moved, per table.
    Raises:
        InputError: a bad name, or ``new`` already has labels of its own (two people's
            history would merge: move them one way by hand, deliberately).
    """
    old, new = clean_annotator(old), clean_annotator(new)
    if old == new:
        return {"batches": 0, "events": 0, "reverts": 0, "claims": 0}
    with ws.transaction() as conn:
        if conn.execute("SELECT 1 FROM label_batches WHERE annotator = ? LIMIT 1", (new,)).fetchone() and conn.execute(
            "SELECT 1 FROM label_batches WHERE annotator = ? LIMIT 1", (old,)
        ).fetchone():
            raise InputError(f"{new!r} has labels already; renaming {old!r} onto it would merge two histories.")
        moved = {
            "batches": conn.execute("UPDATE label_batches SET annotator = ? WHERE annotator = ?", (new, old)).rowcount,
            "events": conn.execute("UPDATE label_events SET annotator = ? WHERE annotator = ?", (new, old)).rowcount,
            "reverts": conn.execute("UPDATE label_batches SET reverted_by = ? WHERE reverted_by = ?", (new, old)).rowcount,
            "claims": conn.execute("UPDATE label_claims SET annotator = ? WHERE annotator = ?", (new, old)).rowcount,
        }
    logger.info("annotator %r renamed to %r: %s", old, new, moved)
    return moved


def last_batch(ws: Workspace, annotator: str) -> dict[str, Any] | None:
    """The annotator's most recent batch that is not reverted (what "undo" undoes), or None."""
    rows = ws.query(
        "SELECT * FROM label_batches WHERE annotator = ? AND reverted_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (annotator,),
    )
    return batch_dict(rows[0]) if rows else None


# -- reading ---------------------------------------------------------------------------


def _current_rows(ws: Workspace) -> list:
    # SQLite returns the bare columns of the row holding MAX(e.id) in each group.
    return ws.query(
        "SELECT e.image_id, e.label, e.annotator, e.batch_id, e.at, MAX(e.id) AS event_id, i.path "
        "FROM label_events e JOIN label_batches b ON b.id = e.batch_id JOIN images i ON i.id = e.image_id "
        f"WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND {_LIVE_IMAGES} "
        "GROUP BY e.image_id ORDER BY e.image_id"
    )


def current_labels(ws: Workspace) -> dict[int, str]:
    """image id -> current label (latest ``assign`` event of a batch that is not reverted)."""
    return {int(r[0]): r[1] for r in _current_rows(ws)}


def labels_of(ws: Workspace, ids: Iterable[int]) -> dict[int, str]:
    """image id -> current label, for those of ``ids`` that have one (the rule of
    ``current_labels``, read for a few ids: a grid's tiles, not the whole collection)."""
    wanted = [int(i) for i in ids]
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        marks = ",".join("?" * len(chunk))
        rows = ws.query(
            "SELECT e.image_id, e.label, MAX(e.id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            f"WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND e.image_id IN ({marks}) GROUP BY e.image_id",
            chunk,
        )
        out.update((int(r[0]), r[1]) for r in rows)
    return out


@dataclass(frozen=True)
class LabelArrays:
    """Labels as arrays, for paths that must not hold a Python dict of every labelled id.

    ``ids`` (n,) int64 ascending; ``codes`` (n,) int32 index into ``classes`` (sorted names).
    """

    ids: np.ndarray
    codes: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return int(len(self.ids))

    def codes_of(self, image_ids: np.ndarray) -> np.ndarray:
        """(len(image_ids),) int32 class code of each id, -1 where it has no label."""
        wanted = np.asarray(image_ids, dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(len(wanted), -1, dtype=np.int32)
        pos = np.clip(np.searchsorted(self.ids, wanted), 0, len(self.ids) - 1)
        return np.where(self.ids[pos] == wanted, self.codes[pos], -1).astype(np.int32)

    def counts(self) -> dict[str, int]:
        """class -> labelled images (one entry per class, small)."""
        per = np.bincount(self.codes, minlength=len(self.classes)) if len(self.codes) else np.zeros(len(self.classes), int)
        return {c: int(n) for c, n in zip(self.classes, per) if n}


def _label_arrays(ws: Workspace, pairs_sql: str) -> LabelArrays:
    """``pairs_sql`` selects (image_id, label); codes are numbered in SQL, rows streamed into arrays."""
    sql = (
        f"WITH cur(image_id, label) AS ({pairs_sql}), "
        "cls AS (SELECT label, ROW_NUMBER() OVER (ORDER BY label) - 1 AS code FROM (SELECT DISTINCT label FROM cur)) "
        "SELECT cur.image_id, cls.code FROM cur JOIN cls ON cls.label = cur.label ORDER BY cur.image_id"
    )
    with ws.snapshot() as conn:
        classes = [r[0] for r in conn.execute(f"WITH cur(image_id, label) AS ({pairs_sql}) SELECT DISTINCT label FROM cur ORDER BY label")]
        flat = np.fromiter((v for row in conn.execute(sql) for v in row), dtype=np.int64)
    pairs = flat.reshape(-1, 2)
    return LabelArrays(pairs[:, 0].copy(), pairs[:, 1].astype(np.int32), classes)


def current_label_arrays(ws: Workspace) -> LabelArrays:
    """``current_labels`` as arrays (no dict of every labelled id)."""
    return _label_arrays(
        ws,
        # SQLite returns the bare label of the row holding MAX(e.id) in each group (as _current_rows).
        "SELECT image_id, label FROM (SELECT e.image_id, e.label, MAX(e.id) FROM label_events e "
        "JOIN label_batches b ON b.id = e.batch_id JOIN images i ON i.id = e.image_id "
        f"WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND {_LIVE_IMAGES} GROUP BY e.image_id)",
    )


def ground_truth_arrays(ws: Workspace) -> LabelArrays:
    """``Workspace.ground_truth`` as arrays (no dict of every id)."""
    return _label_arrays(ws, "SELECT g.image_id, g.label FROM ground_truth g JOIN live_images i ON i.id = g.image_id")


def current_label_rows(ws: Workspace) -> list[dict[str, Any]]:
    """Current labels with provenance: [{"id", "path", "class", "annotator", "batch_id", "at"}], by id."""
    return [
        {"id": int(r["image_id"]), "path": r["path"], "class": r["label"], "annotator": r["annotator"], "batch_id": r["batch_id"], "at": r["at"]}
        for r in _current_rows(ws)
    ]


def label_history(ws: Workspace) -> list[dict[str, Any]]:
    """Every event, oldest first: [{"event_id", "id", "path", "class", "kind", "annotator",
    "batch_id", "at", "reverted_at", "reverted_by"}]."""
    rows = ws.query(
        "SELECT e.id AS event_id, e.image_id, i.path, e.label, e.kind, e.annotator, e.batch_id, e.at, "
        "b.reverted_at, b.reverted_by FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
        "JOIN images i ON i.id = e.image_id ORDER BY e.id"
    )
    return [
        {
            "event_id": int(r["event_id"]),
            "id": int(r["image_id"]),
            "path": r["path"],
            "class": r["label"],
            "kind": r["kind"],
            "annotator": r["annotator"],
            "batch_id": r["batch_id"],
            "at": r["at"],
            "reverted_at": r["reverted_at"],
            "reverted_by": r["reverted_by"],
        }
        for r in rows
    ]


def batch_dict(r) -> dict[str, Any]:
    """A ``label_batches`` row as the dict :func:`list_batches` returns (source parsed)."""
    try:
        source = json.loads(r["source"])
    except (TypeError, ValueError):
        source = {"raw": r["source"]}
    return {
        "batch_id": r["id"],
        "class": r["label"],
        "annotator": r["annotator"],
        "created_at": r["created_at"],
        "source": source,
        "size": int(r["size"]),
        "reverted_at": r["reverted_at"],
        "reverted_by": r["reverted_by"],
    }


def list_batches(ws: Workspace, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Batches, newest first: [{"batch_id", "class", "annotator", "created_at", "source" (dict),
    "size" (assigned), "rejected", "reverted_at", "reverted_by"}]."""
    sql = (
        "SELECT b.*, (SELECT COUNT(*) FROM label_events e WHERE e.batch_id = b.id AND e.kind = 'reject') AS rejected "
        "FROM label_batches b ORDER BY b.created_at DESC, b.rowid DESC"
    )
    params: tuple = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    out = []
    for r in ws.query(sql, params):
        d = batch_dict(r)
        d["rejected"] = int(r["rejected"])
        out.append(d)
    return out


def describe_source(source: Mapping[str, Any]) -> str:
    """One line for people: "text: 'a cover'", "similar to #12", "zero-shot: cover (prompts v2)"."""
    kind = source.get("kind", "?")
    if kind == "text":
        detail = repr(source.get("query", ""))
    elif kind == "image":
        detail = f"similar to #{source.get('image_id')}"
    elif kind in ("zero-shot", "few-shot"):
        detail = str(source.get("class", ""))
        if source.get("prompt_set"):
            v = source.get("prompt_set_version")
            detail += f" ({source['prompt_set']} " + (f"v{v})" if v is not None else "as first proposed, unsaved)")
    elif kind == "auto-accept":
        detail = f"confidence >= {source.get('threshold', 0):.3f}"
    else:
        detail = str(source.get("note", ""))
    extra = " · learned re-rank" if source.get("reranked") else ""
    return f"{kind}: {detail}{extra}" if detail else f"{kind}{extra}"


def rejected_for(ws: Workspace, label: str) -> set[int]:
    """Images deselected for ``label`` in batches that are not reverted (negatives of the class)."""
    rows = ws.query(
        "SELECT DISTINCT e.image_id FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
        "WHERE e.kind = 'reject' AND e.label = ? AND b.reverted_at IS NULL",
        (label,),
    )
    return {int(r[0]) for r in rows}


def rejections(ws: Workspace) -> dict[str, set[int]]:
    """class -> images deselected for it (non-reverted batches)."""
    out: dict[str, set[int]] = defaultdict(set)
    rows = ws.query(
        "SELECT DISTINCT e.label, e.image_id FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
        "WHERE e.kind = 'reject' AND b.reverted_at IS NULL"
    )
    for r in rows:
        out[r[0]].add(int(r[1]))
    return dict(out)


def label_progress(ws: Workspace, *, total: int | None = None) -> dict[str, Any]:
    """{"total": images, "labelled": n, "unlabelled": n, "per_class": {class: n}} from current labels.

    ``total``: the live image count where the caller has it (counting reads every image)."""
    labels = current_label_arrays(ws)  # counted in arrays: no dict of every labelled id
    total = ws.counts()["images"] if total is None else int(total)
    return {
        "total": total,
        "labelled": len(labels),
        "unlabelled": max(total - len(labels), 0),
        "per_class": dict(sorted(labels.counts().items())),
    }


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def annotator_stats(ws: Workspace, *, window_s: float = 600.0, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per annotator: images decided (assigned + rejected, non-reverted), current labels held,
    and pace in images per minute over the last ``window_s`` seconds.

    Pace = decisions in the window / minutes from the window's first batch to now (at
    least one minute), so a single quick batch does not read as thousands per minute.
    Returns [{"annotator", "decided", "current", "pace_per_min", "last_at"}], busiest first.
    """
    now = now or datetime.now(timezone.utc)
    start = (now - timedelta(seconds=window_s)).isoformat(timespec="milliseconds")
    decided = {
        r[0]: (int(r[1]), r[2])
        for r in ws.query(
            "SELECT e.annotator, COUNT(*), MAX(e.at) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            "WHERE b.reverted_at IS NULL GROUP BY e.annotator"
        )
    }
    recent = {
        r[0]: (int(r[1]), r[2])
        for r in ws.query(
            "SELECT e.annotator, COUNT(*), MIN(e.at) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            "WHERE b.reverted_at IS NULL AND e.at >= ? GROUP BY e.annotator",
            (start,),
        )
    }
    # Current labels held per annotator, aggregated in SQL (the bare column comes from the
    # row holding MAX(e.id) of each image, as in _current_rows): no row per labelled image.
    held = {
        r[0]: int(r[1])
        for r in ws.query(
            "SELECT annotator, COUNT(*) FROM (SELECT e.annotator, MAX(e.id) FROM label_events e "
            "JOIN label_batches b ON b.id = e.batch_id JOIN images i ON i.id = e.image_id "
            f"WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND {_LIVE_IMAGES} GROUP BY e.image_id) GROUP BY annotator"
        )
    }
    out = []
    for name, (n, last_at) in decided.items():
        pace = 0.0
        if name in recent:
            n_recent, first_at = recent[name]
            minutes = max((now - _parse_ts(first_at)).total_seconds() / 60.0, 1.0)
            pace = n_recent / minutes
        out.append({"annotator": name, "decided": n, "current": held.get(name, 0), "pace_per_min": round(pace, 1), "last_at": last_at})
    out.sort(key=lambda d: (-d["decided"], d["annotator"]))
    return out


def annotator_pace(ws: Workspace, annotator: str, *, window_s: float = 600.0) -> float:
    """Images per minute decided by ``annotator`` recently (see ``annotator_stats``)."""
    for row in annotator_stats(ws, window_s=window_s):
        if row["annotator"] == annotator:
            return float(row["pace_per_min"])
    return 0.0


# -- conflicts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """An image on which annotators disagree since its last resolution."""

    image_id: int
    path: str
    current: str | None
    votes: dict[str, list[str]]  # "assign: C" / "reject: C" -> annotators
    latest: str | None = None  # the class of the latest assignment since the last resolution
    majority: str | None = None  # the class most annotators assigned (ties: the latest of them)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "id": self.image_id, "path": self.path, "current": self.current, "votes": self.votes,
            "latest": self.latest, "majority": self.majority,
        }

    def classes(self) -> set[str]:
        """Every class named in a vote (assigned or rejected)."""
        return {k.split(": ", 1)[1] for k in self.votes}


def find_conflicts(ws: Workspace) -> list[Conflict]:
    """Images whose annotators disagree: two different annotators assigned different classes,
    or one assigned a class that another rejected. Only events (of non-reverted batches)
    after the image's latest resolution count. Ordered by image id."""
    rows = ws.query(
        "SELECT e.image_id, e.label, e.kind, e.annotator, b.source, i.path FROM label_events e "
        "JOIN label_batches b ON b.id = e.batch_id JOIN images i ON i.id = e.image_id "
        "WHERE b.reverted_at IS NULL AND e.image_id IN ("
        "  SELECT e2.image_id FROM label_events e2 JOIN label_batches b2 ON b2.id = e2.batch_id"
        "  WHERE b2.reverted_at IS NULL GROUP BY e2.image_id HAVING COUNT(DISTINCT e2.annotator) > 1"
        ") ORDER BY e.image_id, e.id"
    )
    per_image: dict[int, list] = defaultdict(list)
    paths: dict[int, str] = {}
    for r in rows:
        if _is_resolution(r["source"]):
            per_image[int(r["image_id"])] = []  # a resolution settles everything before it
        per_image[int(r["image_id"])].append(r)
        paths[int(r["image_id"])] = r["path"]
    current = current_labels(ws)
    out = []
    for image_id, events in sorted(per_image.items()):
        if _disagree(events):
            votes: dict[str, list[str]] = defaultdict(list)
            for e in events:
                key = f"{e['kind']}: {e['label']}"
                if e["annotator"] not in votes[key]:
                    votes[key].append(e["annotator"])
            latest, majority = _latest_and_majority(events)
            out.append(Conflict(image_id, paths[image_id], current.get(image_id), dict(votes), latest, majority))
    return out


def _latest_and_majority(events: list) -> tuple[str | None, str | None]:
    assigns = [e for e in events if e["kind"] == "assign"]
    if not assigns:
        return None, None
    # An annotator's vote is their latest assignment; the events are in event order.
    last_by: dict[str, tuple[int, str]] = {}
    for order, e in enumerate(assigns):
        last_by[e["annotator"]] = (order, e["label"])
    counts: Counter = Counter(label for _, label in last_by.values())
    last_seen = {label: order for order, label in last_by.values()}
    majority = max(counts, key=lambda c: (counts[c], last_seen[c]))
    return assigns[-1]["label"], majority


RESOLVE_STRATEGIES = ("latest", "majority", "class")


def resolve_in_bulk(
    ws: Workspace,
    strategy: str,
    *,
    annotator: str,
    label: str | None = None,
    image_ids: Iterable[int] | None = None,
) -> dict[str, tuple[str, int]]:
    """Settle many conflicts at once, one resolution batch per resulting class.

    Strategies: ``latest`` keeps each image's latest assignment; ``majority`` keeps the
    class most annotators assigned (a tie goes to the latest of the tied); ``class``
    settles every conflict that involves ``label`` as ``label``. ``image_ids`` limits it
    to those conflicts.
    Returns:
        {class: (batch id, number of images)}.
    Raises:
        InputError: an unknown strategy, or ``class`` without a label.
    """
    if strategy not in RESOLVE_STRATEGIES:
        raise InputError(f"strategy must be one of {list(RESOLVE_STRATEGIES)}; got {strategy!r}.")
    if strategy == "class":
        label = clean_label(label)
    only = None if image_ids is None else set(_clean_ids(image_ids, "image_ids"))
    chosen: dict[str, list[int]] = defaultdict(list)
    for c in find_conflicts(ws):
        if only is not None and c.image_id not in only:
            continue
        if strategy == "class":
            winner = label if label in c.classes() else None
        else:
            winner = c.latest if strategy == "latest" else c.majority
        if winner:
            chosen[winner].append(c.image_id)
    note = f"bulk: {strategy}"
    return {
        cls: (resolve_conflicts(ws, ids, cls, annotator=annotator, note=note), len(ids)) for cls, ids in sorted(chosen.items())
    }


def _is_resolution(source_json: str) -> bool:
    try:
        return json.loads(source_json).get("kind") == RESOLUTION_SOURCE
    except (TypeError, ValueError, AttributeError):
        return False


def _disagree(events: list) -> bool:
    assigned: dict[str, set[str]] = defaultdict(set)  # label -> annotators
    rejected: dict[str, set[str]] = defaultdict(set)
    for e in events:
        (assigned if e["kind"] == "assign" else rejected)[e["label"]].add(e["annotator"])
    # Two people disagree when one assigned a class and another assigned a different
    # class, or rejected that same class; one person changing their mind is no conflict.
    labels = list(assigned)
    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            if len(assigned[labels[a]] | assigned[labels[b]]) > 1:
                return True
    return any(len(assigned[lbl] | rejected[lbl]) > 1 for lbl in assigned if lbl in rejected)


def resolve_conflicts(ws: Workspace, image_ids: Iterable[int], label: str, *, annotator: str, note: str = "") -> str:
    """Settle conflicts by assigning ``label`` to ``image_ids`` in a resolution batch.

    Events before a resolution no longer count as disagreement; the batch is
    revertible like any other (which brings the conflict back).
    Returns:
        The batch id.
    """
    return record_batch(ws, label, image_ids, annotator=annotator, source={"kind": RESOLUTION_SOURCE, "note": note})


# -- claims ----------------------------------------------------------------------------


def claim_images(
    ws: Workspace, candidates: Sequence[int], n: int, *, annotator: str, ttl_s: float = DEFAULT_CLAIM_TTL_S
) -> list[int]:
    """Claim the first ``n`` of ``candidates`` (ranked) that no other annotator holds.

    One transaction (serialised across processes), so two annotators asking at once
    never get the same image. The annotator's own earlier claims count as free and are
    renewed; expired claims are dropped.
    Returns:
        The claimed ids, in candidate order (fewer than ``n`` when candidates run out).
    """
    annotator = clean_annotator(annotator)
    if n < 1:
        raise InputError(f"claim at least 1 image; got {n}.")
    now = datetime.now(timezone.utc)
    now_s = now.isoformat(timespec="milliseconds")
    expires = (now + timedelta(seconds=ttl_s)).isoformat(timespec="milliseconds")
    with ws.transaction() as conn:
        conn.execute("DELETE FROM label_claims WHERE expires_at <= ?", (now_s,))
        taken = {int(r[0]) for r in conn.execute("SELECT image_id FROM label_claims WHERE annotator != ?", (annotator,))}
        chosen: list[int] = []
        for raw in candidates:
            i = int(raw)
            if i not in taken and i not in chosen:
                chosen.append(i)
                if len(chosen) >= n:
                    break
        conn.executemany(
            "INSERT INTO label_claims (image_id, annotator, claimed_at, expires_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(image_id) DO UPDATE SET annotator = excluded.annotator, claimed_at = excluded.claimed_at, "
            "expires_at = excluded.expires_at",
            [(i, annotator, now_s, expires) for i in chosen],
        )
    return chosen


def release_claims(ws: Workspace, annotator: str, image_ids: Iterable[int] | None = None) -> int:
    """Drop the annotator's claims (all, or on ``image_ids``); returns how many were dropped."""
    annotator = clean_annotator(annotator)
    with ws.transaction() as conn:
        if image_ids is None:
            return conn.execute("DELETE FROM label_claims WHERE annotator = ?", (annotator,)).rowcount
        ids = _clean_ids(image_ids, "image_ids")
        return sum(
            conn.execute("DELETE FROM label_claims WHERE annotator = ? AND image_id = ?", (annotator, i)).rowcount
            for i in ids
        )


def claimed_by_others(ws: Workspace, annotator: str) -> set[int]:
    """Images held (unexpired) by annotators other than ``annotator``."""
    rows = ws.query(
        "SELECT image_id FROM label_claims WHERE annotator != ? AND expires_at > ?", (annotator, utc_now())
    )
    return {int(r[0]) for r in rows}


# -- export ----------------------------------------------------------------------------

CURRENT_COLUMNS = ["id", "path", "class", "annotator", "batch_id", "at", "book", "page", "homepage"]
HISTORY_COLUMNS = [
    "event_id", "id", "path", "class", "kind", "annotator", "batch_id", "at", "reverted_at", "reverted_by",
    "book", "page", "homepage",
]


def _with_book(ws: Workspace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows plus ``book`` (the imported book's title), ``page`` and ``homepage`` (the item in
    its library's viewer); None for other images."""
    meta = image_metadata(ws, sorted({r["id"] for r in rows}))
    for r in rows:
        m = meta.get(r["id"], {})
        r["book"], r["page"], r["homepage"] = m.get("book_label"), m.get("page"), m.get("homepage")
    return rows


def labels_csv(ws: Workspace, *, history: bool = False) -> str:
    """Current labels (or every event) as CSV text with a header row; text cells that a
    spreadsheet would run as a formula get a leading ``'`` (:mod:`clipcore.csvsafe`)."""
    rows = _with_book(ws, label_history(ws) if history else current_label_rows(ws))
    return dict_rows_csv(HISTORY_COLUMNS if history else CURRENT_COLUMNS, rows)


def labels_json(ws: Workspace, *, history: bool = False) -> str:
    """Current labels (or every event, plus batches) as a JSON document (UTF-8 text)."""
    if history:
        doc: dict[str, Any] = {"events": _with_book(ws, label_history(ws)), "batches": list_batches(ws)}
    else:
        doc = {"labels": _with_book(ws, current_label_rows(ws))}
    return json.dumps(doc, ensure_ascii=False, indent=1)


_UNSAFE_CHARS = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


def folder_name(label: str) -> str:
    """A class name made safe as one folder name (separators and reserved characters
    become ``_``; non-Latin letters are kept; never ``.`` or ``..``)."""
    name = _UNSAFE_CHARS.sub("_", label).strip().rstrip(".")
    if name in ("", ".", ".."):
        name = "_" + name.replace(".", "_")
    return name[:150]


def class_folder_entries(ws: Workspace, rows: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Any, Path]]:
    """(label row, image record, ``<class>/<file>`` relative path) of each current label:
    the layout of a class-folder export (an imported page is named after its book, since
    0001.jpg is in every book; a clash gets ``-<id>`` before the suffix)."""
    records = {r.id: r for r in ws.images([row["id"] for row in rows])} if rows else {}
    books = image_metadata(ws, list(records))
    used: set[Path] = set()
    for row in rows:
        rec = records[row["id"]]
        folder = Path(folder_name(row["class"]))
        name = Path(rec.path).name
        if rec.id in books and books[rec.id]["book"]:
            name = folder_name(f"{books[rec.id]['book']}-{name}")
        target = folder / name
        if target in used:
            target = folder / f"{Path(name).stem}-{rec.id}{Path(name).suffix}"
        used.add(target)
        yield row, rec, target


def export_labels(ws: Workspace, out_dir: str | Path, fmt: str = "csv", *, history: bool = False) -> dict[str, Any]:
    """Write labels to ``out_dir``.

    ``csv`` / ``json``: ``labels.csv`` / ``labels.json`` (``labels-history.*`` with
    ``history``), written atomically. ``folders``: a copy of each labelled original as
    ``out_dir/<class>/<file>`` (a name clash gets ``-<id>`` before the suffix).
    Returns:
        {"format", "out", "files": n written, "labels": n labels or events, "classes": {class: n}}.
    Raises:
        InputError: unknown format, folder export with history, or an unusable out_dir.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format must be one of {list(EXPORT_FORMATS)}; got {fmt!r}.")
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"export target {str(out)!r} is a file; give a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create export folder {str(out)!r}: {exc.strerror or exc}.") from exc
    if fmt in ("csv", "json"):
        stem = "labels-history" if history else "labels"
        text = labels_csv(ws, history=history) if fmt == "csv" else labels_json(ws, history=history)
        atomic_write_bytes(out / f"{stem}.{fmt}", text.encode("utf-8"))
        rows = label_history(ws) if history else current_label_rows(ws)
        return {
            "format": fmt,
            "out": str(out),
            "files": 1,
            "labels": len(rows),
            "classes": dict(sorted(Counter(r["class"] for r in rows).items())),
        }
    if history:
        raise InputError("a folder export holds current labels only; drop --history or use csv/json.")
    rows = current_label_rows(ws)
    written = 0
    missing: list[str] = []
    for row, rec, rel in class_folder_entries(ws, rows):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            real = rec.real_path()  # no symlink escape: checked now, not only at ingest
        except UnsafePathError as exc:
            missing.append(str(exc))
            continue
        try:
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copy2(real, tmp)
            os.replace(tmp, target)
            written += 1
        except OSError as exc:
            missing.append(f"{rec.path}: {exc.strerror or exc}")
    if missing:
        logger.warning("export skipped %d unreadable originals, e.g. %s", len(missing), missing[0])
    return {
        "format": fmt,
        "out": str(out),
        "files": written,
        "labels": len(rows),
        "classes": dict(sorted(Counter(r["class"] for r in rows).items())),
        "skipped": missing,
    }


def relabelled_by_others(ws: Workspace, annotator: str, since_event: int | None = None) -> tuple[dict[str, int], int]:
    """Who gave another class to images that ``annotator`` had labelled, after event
    ``since_event`` (None: after the annotator's own latest label event).

    Counts a colleague's assignment (in a batch not reverted) of an image that
    ``annotator`` had assigned a different class to earlier (in a batch not reverted).

    Returns:
        ({colleague: number of images}, the latest label event id now): pass the second
        value as ``since_event`` next time to hear only of newer overwrites.
    """
    with ws.snapshot() as conn:
        latest = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0])
        if since_event is None:
            since_event = int(conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM label_events WHERE annotator = ?", (annotator,)
            ).fetchone()[0])
        rows = conn.execute(
            "SELECT e.annotator, COUNT(DISTINCT e.image_id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
            "WHERE e.id > ? AND e.kind = 'assign' AND e.annotator != ? AND b.reverted_at IS NULL AND EXISTS ("
            "  SELECT 1 FROM label_events m JOIN label_batches mb ON mb.id = m.batch_id "
            "  WHERE m.image_id = e.image_id AND m.id < e.id AND m.annotator = ? AND m.kind = 'assign' "
            "  AND mb.reverted_at IS NULL AND m.label != e.label) "
            "GROUP BY e.annotator ORDER BY e.annotator",
            (since_event, annotator, annotator),
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}, latest


def label_events_version(ws: Workspace) -> tuple[int, int]:
    """(latest label event id, reverted batch count): changes whenever a label is recorded or
    a batch reverted. Stored in few-shot prediction refs; its first value is a page's
    ``drawn_at`` (see :func:`record_batch`). Ground truth and splits are not in it
    (``classify.splits.training_data_version`` is)."""
    row = ws.query(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM label_events), "
        "(SELECT COUNT(*) FROM label_batches WHERE reverted_at IS NOT NULL)"
    )[0]
    return int(row[0]), int(row[1])
