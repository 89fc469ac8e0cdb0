"""Filters with counts (FiftyOne's sidebar): for every live image its current label, ground
truth, prediction, annotator (of the current label) and book, as integer codes in numpy
arrays, so that a filter is a boolean mask and the counts of every value are one
``np.bincount`` each, over the whole collection or over a subset of rows (a ranked query's
first results).

The arrays are read from SQL in three parts with their own cache keys, so a label action
touches only the labels (``catalog_facets``: ``Workspace.change_count()``;
``label_facets``: ``catalog.labels.label_events_version``; predictions: the caller's
stored scores). The labels part is brought up to date incrementally
(``updated_label_facets``, kept by a ``LabelFacetsCache``): after an assign only the label
events newer than the cached version are read and applied; a revert, or a version that
went backwards, reads everything again. Named views (a filter saved by name) live in ``<workspace>/views.json``
(written atomically; this module owns the file). ``label_matching`` gives one class to
every image a filter matches ("Select all N matching") as one label batch.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from clipcore.catalog.labels import AssignResult, assign_page, clean_label, label_events_version
from clipcore.catalog.store import Workspace, atomic_write_bytes, read_json_object
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

FACETS = ("label", "ground_truth", "prediction", "annotator", "book")
FLAGS = ("unlabelled", "disagrees")
VIEWS_FILE = "views.json"
MAX_VIEWS = 200


@dataclass(frozen=True)
class Codes:
    """One facet: ``codes`` (n,) int32 per row, -1 for no value; ``values`` the names."""

    codes: np.ndarray
    values: list[str]


def _codes(ids: np.ndarray, pairs: Sequence[tuple[int, str]]) -> Codes:
    """Codes per row of ``ids`` (ascending) from (image id, value) pairs; ids not in
    ``ids`` are ignored."""
    codes = np.full(len(ids), -1, np.int32)
    if not pairs or not len(ids):
        return Codes(codes, [])
    pid = np.fromiter((p[0] for p in pairs), np.int64, len(pairs))
    # Codes in order of first appearance through a dict: np.unique on a million Python
    # strings sorts them by Python comparisons (seconds at 1M).
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(str(p[1]), len(index)) for p in pairs), np.int32, len(pairs))
    values = list(index)
    pos = np.searchsorted(ids, pid)
    pos_ok = np.minimum(pos, len(ids) - 1)
    hit = (pos < len(ids)) & (ids[pos_ok] == pid)
    codes[pos[hit]] = inverse[hit]
    return Codes(codes, values)


@dataclass(frozen=True)
class CatalogFacets:
    """What changes with the catalogue: live ids (ascending), ground truth, book."""

    ids: np.ndarray
    ground_truth: Codes
    book: Codes


def catalog_facets(ws: Workspace) -> CatalogFacets:
    """Live image ids with their ground truth and book (one read snapshot)."""
    with ws.snapshot() as conn:
        ids = np.fromiter((r[0] for r in conn.execute("SELECT id FROM live_images ORDER BY id")), np.int64)
        gt = conn.execute("SELECT image_id, label FROM ground_truth").fetchall()
        books = conn.execute(
            "SELECT image_id, COALESCE(NULLIF(book_label, ''), group_name) FROM image_meta "
            "WHERE group_name IS NOT NULL AND group_name != ''"
        ).fetchall()
    return CatalogFacets(ids, _codes(ids, gt), _codes(ids, books))


@dataclass(frozen=True)
class LabelFacets:
    """Current label and its annotator per row of ``ids``, as of ``version`` (the
    ``catalog.labels.label_events_version`` read in the same snapshot)."""

    label: Codes
    annotator: Codes
    version: tuple[int, int] = (0, 0)
    ids: np.ndarray | None = None
    anchor: str | None = None  # the batch of the event ``version[0]``: the same store's history


_CURRENT_SQL = (
    "SELECT e.image_id, e.label, e.annotator, MAX(e.id) FROM label_events e "
    "JOIN label_batches b ON b.id = e.batch_id "
    "WHERE e.kind = 'assign' AND b.reverted_at IS NULL GROUP BY e.image_id"
)
# Assigns newer than a version, oldest first (the primary key's range: no scan of older events).
_NEWER_SQL = (
    "SELECT e.image_id, e.label, e.annotator FROM label_events e "
    "JOIN label_batches b ON b.id = e.batch_id "
    "WHERE e.id > ? AND e.kind = 'assign' AND b.reverted_at IS NULL ORDER BY e.id"
)


def _pruned(codes: np.ndarray, values: list[str]) -> Codes:
    """Drop values no row has (a class whose last image was relabelled, or whose images are
    no longer live), so that an incremental update and a full read list the same values."""
    used = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
    if used.all():
        return Codes(codes, values)
    remap = np.append(np.cumsum(used) - 1, -1).astype(np.int32)  # code -1 reads the last slot: -1
    return Codes(remap[codes], [v for v, u in zip(values, used) if u])


def _anchor(ws: Workspace, event_id: int) -> str | None:
    rows = ws.query("SELECT batch_id FROM label_events WHERE id = ?", (event_id,))
    return str(rows[0][0]) if rows else None


def _full(rows, ids: np.ndarray, version: tuple[int, int], anchor: str | None) -> LabelFacets:
    label, annotator = _codes(ids, [(r[0], r[1]) for r in rows]), _codes(ids, [(r[0], r[2]) for r in rows])
    return LabelFacets(_pruned(label.codes, label.values), _pruned(annotator.codes, annotator.values), version, ids, anchor)


def label_facets(ws: Workspace, ids: np.ndarray) -> LabelFacets:
    """The current label (latest assign of a batch not reverted) and who made it, per row
    (one GROUP BY over every label event)."""
    with ws.snapshot():
        version = label_events_version(ws)
        rows = ws.query(_CURRENT_SQL)
        anchor = _anchor(ws, version[0])
    return _full(rows, ids, version, anchor)


def _applied(old: Codes, pos: np.ndarray, new_values: list[str]) -> Codes:
    codes, values = old.codes.copy(), list(old.values)  # the cached table may be in use: never write it
    index = {v: k for k, v in enumerate(values)}
    codes[pos] = np.fromiter((index.setdefault(v, len(index)) for v in new_values), np.int32, len(new_values))
    values = list(index)
    return _pruned(codes, values)


def _renamed(ws: Workspace, old: LabelFacets) -> bool:
    """Whether an annotator of ``old`` has no batch any more: ``catalog.labels.rename_annotator``
    (a migration) rewrote the events in place, which moves no version."""
    return any(
        not ws.query("SELECT 1 FROM label_batches WHERE annotator = ? LIMIT 1", (name,)) for name in old.annotator.values
    )


def updated_label_facets(ws: Workspace, old: LabelFacets) -> LabelFacets:
    """``old`` brought up to the store's label events now, over the same rows (``old.ids``).

    When only assigns happened since ``old.version`` (its event id grew, its reverted count
    did not), only the newer events are read and applied: each is newer than every event
    ``old`` was built from, so it is its image's current label. A revert, a version that
    went backwards or whose latest event is not the one ``old`` saw (another store restored in
    its place), or an annotator renamed since (a migration that
    rewrites events in place; noticed at the next change of the version, as before) reads
    everything again (``label_facets``). Returns
    ``old`` itself when nothing changed.
    """
    ids = old.ids if old.ids is not None else np.zeros(0, np.int64)
    with ws.snapshot():
        version = label_events_version(ws)
        if version == old.version:
            return old
        anchor = _anchor(ws, version[0])
        if (
            version[1] != old.version[1] or version[0] < old.version[0] or old.ids is None
            or _anchor(ws, old.version[0]) != old.anchor or _renamed(ws, old)
        ):
            return _full(ws.query(_CURRENT_SQL), ids, version, anchor)
        rows = ws.query(_NEWER_SQL, (old.version[0],))
    latest: dict[int, tuple[str, str]] = {}
    for image_id, label, annotator in rows:  # oldest first: the last one of an image wins
        latest[int(image_id)] = (str(label), str(annotator))
    if not latest or not len(ids):
        return LabelFacets(old.label, old.annotator, version, old.ids, anchor)
    pid = np.fromiter(latest, np.int64, len(latest))
    pos = np.searchsorted(ids, pid)
    ok = np.minimum(pos, len(ids) - 1)
    hit = (pos < len(ids)) & (ids[ok] == pid)  # an image no longer live is not a row
    kept = [v for v, h in zip(latest.values(), hit) if h]
    pos = pos[hit]
    return LabelFacets(
        _applied(old.label, pos, [v[0] for v in kept]), _applied(old.annotator, pos, [v[1] for v in kept]), version,
        old.ids, anchor,
    )


class LabelFacetsCache:
    """The labels part over one catalogue read's rows (``ids``), kept up to date: the first
    call reads every label, later ones apply what changed (``updated_label_facets``).
    Thread-safe; what it returned once is never changed afterwards."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self._lock = threading.Lock()
        self._facets: LabelFacets | None = None

    def current(self, ws: Workspace) -> LabelFacets:
        with self._lock:
            if self._facets is None:
                self._facets = label_facets(ws, self.ids)
            else:
                self._facets = updated_label_facets(ws, self._facets)
            return self._facets


def prediction_codes(ids: np.ndarray, pred_ids: np.ndarray, classes: Sequence[str], best: np.ndarray) -> Codes:
    """Codes per row of ``ids`` from predictions: ``pred_ids`` (m,) with ``best`` (m,) the
    index into ``classes`` of each one's predicted class."""
    codes = np.full(len(ids), -1, np.int32)
    pred_ids = np.asarray(pred_ids, np.int64)
    if len(ids) and len(pred_ids):
        pos = np.searchsorted(ids, pred_ids)
        ok = np.minimum(pos, len(ids) - 1)
        hit = (pos < len(ids)) & (ids[ok] == pred_ids)
        codes[pos[hit]] = np.asarray(best)[hit]
    return Codes(codes, [str(c) for c in classes])


def _translate(src: Codes, dst: Codes) -> np.ndarray:
    """src code -> dst code of the same name (-1 where dst lacks it), as an array."""
    where = {v: k for k, v in enumerate(dst.values)}
    return np.asarray([where.get(v, -1) for v in src.values], np.int32)


@dataclass(frozen=True)
class FacetTable:
    """Every facet as codes over the same rows (``ids``, ascending)."""

    ids: np.ndarray
    facets: dict[str, Codes] = field(default_factory=dict)

    def _disagrees(self) -> np.ndarray:
        label, pred = self.facets["label"], self.facets.get("prediction")
        if pred is None or not pred.values:
            return np.zeros(len(self.ids), bool)
        as_label = np.append(_translate(pred, label), -1)[pred.codes]  # -1 code -> last slot, -1
        return (label.codes >= 0) & (pred.codes >= 0) & (as_label != label.codes)

    def flag(self, name: str) -> np.ndarray:
        """(n,) bool: "unlabelled" (no current label) or "disagrees" (the label is not the prediction)."""
        if name == "unlabelled":
            return self.facets["label"].codes < 0
        if name == "disagrees":
            return self._disagrees()
        raise InputError(f"unknown filter {name!r}; filters are {list(FLAGS)}.")

    def mask(self, selection: Mapping[str, Sequence[str]], flags: Sequence[str] = ()) -> np.ndarray:
        """(n,) bool: rows with one of the chosen values in every facet chosen (values of one
        facet are alternatives, facets are all required) and every flag."""
        keep = np.ones(len(self.ids), bool)
        for name, chosen in selection.items():
            if not chosen:
                continue
            if name not in self.facets:
                raise InputError(f"unknown filter {name!r}; filters are {list(self.facets)}.")
            facet = self.facets[name]
            wanted = [k for k, v in enumerate(facet.values) if v in set(chosen)]
            keep &= np.isin(facet.codes, np.asarray(wanted, np.int32))
        for name in flags:
            keep &= self.flag(name)
        return keep

    def rows_of(self, image_ids: Sequence[int]) -> np.ndarray:
        """Row positions of ``image_ids`` (those that are live), in the given order."""
        wanted = np.asarray(list(image_ids), np.int64)
        if not len(self.ids) or not len(wanted):
            return np.zeros(0, np.int64)
        pos = np.searchsorted(self.ids, wanted)
        ok = np.minimum(pos, len(self.ids) - 1)
        return pos[(pos < len(self.ids)) & (self.ids[ok] == wanted)]

    def counts(self, rows: np.ndarray | None = None) -> dict[str, dict[str, int]]:
        """{facet: {value: images}} (values with none left out, most first) and
        {"flags": {"unlabelled": n, "disagrees": n}}, over all rows or ``rows``."""
        out: dict[str, dict[str, int]] = {}
        for name, facet in self.facets.items():
            codes = facet.codes if rows is None else facet.codes[rows]
            n = np.bincount(codes[codes >= 0], minlength=len(facet.values))
            pairs = [(facet.values[k], int(n[k])) for k in np.flatnonzero(n)]
            out[name] = dict(sorted(pairs, key=lambda p: (-p[1], p[0])))
        out["flags"] = {f: int(self.flag(f).sum() if rows is None else self.flag(f)[rows].sum()) for f in FLAGS}
        return out


def facet_table(catalog: CatalogFacets, labels: LabelFacets, prediction: Codes | None = None) -> FacetTable:
    """The three cached parts as one table (no copy of the arrays)."""
    facets = {"label": labels.label, "ground_truth": catalog.ground_truth}
    if prediction is not None:
        facets["prediction"] = prediction
    facets.update(annotator=labels.annotator, book=catalog.book)
    return FacetTable(catalog.ids, facets)


# -- every image a filter matches ------------------------------------------------------------


class MatchChanged(InputError):
    """The filter matches another number of images than the one the user confirmed."""

    def __init__(self, now: int, expected: int) -> None:
        super().__init__(
            f"{now:,} images match these filters now, not the {expected:,} you confirmed: the labels "
            "changed meanwhile. Nothing was labelled; check the new count and confirm again."
        )
        self.now, self.expected = now, expected


def matching_rows(
    table: FacetTable, selection: Mapping[str, Sequence[str]], flags: Sequence[str] = (), rows: np.ndarray | None = None
) -> np.ndarray:
    """(k,) int64 row positions the filter matches: ascending over the whole table, or in the
    order of ``rows`` (a ranked query's first results) when given."""
    mask = table.mask(selection, flags)
    if rows is None:
        return np.flatnonzero(mask)
    rows = np.asarray(rows, np.int64)
    return rows[mask[rows]]


def label_matching(
    ws: Workspace,
    table: FacetTable,
    label: str,
    selection: Mapping[str, Sequence[str]],
    flags: Sequence[str] = (),
    *,
    annotator: str,
    drawn_at: int,
    limit: int,
    rows: np.ndarray | None = None,
    expected: int | None = None,
    source: Mapping | None = None,
) -> AssignResult:
    """Give ``label`` to every image the filter matches, as one label batch (undone,
    reverted and listed like any other).

    ``table`` must be read after ``drawn_at`` (``catalog.labels.label_events_version(ws)[0]``)
    so that the ids are those of the store now: an image another annotator labelled after
    ``drawn_at`` is skipped in the writing transaction (``AssignResult.skipped``), never
    overwritten.

    Args:
        rows: a ranked query's first results (row positions); None: the whole collection.
        expected: the count the user confirmed; when the filter matches another number now,
            nothing is written.
        limit: the most images one call labels (``config.Limits.max_label_all``).
        source: the batch's provenance; ``{"kind": "filter", "all_matching": n}`` is added.
    Returns:
        What was written (``catalog.labels.AssignResult``).
    Raises:
        MatchChanged: ``expected`` differs from the count now.
        InputError: nothing matches, more than ``limit`` match, or a bad class or annotator.
    """
    ids = table.ids[matching_rows(table, selection, flags, rows)]
    n = len(ids)
    if expected is not None and n != int(expected):
        raise MatchChanged(n, int(expected))
    if n == 0:
        raise InputError("no image matches these filters; nothing was labelled.")
    if n > limit:
        raise InputError(
            f"{n:,} images match these filters; at most {limit:,} can be labelled at once. "
            "Narrow the filters (a book, a ground-truth class, Unlabelled) and try again."
        )
    src = {**dict(source or {}), "kind": "filter", "all_matching": n}
    return assign_page(ws, label, [int(i) for i in ids], annotator=annotator, source=src, drawn_at=drawn_at)


# -- named views ------------------------------------------------------------------------------


def saved_views(ws: Workspace) -> dict[str, dict]:
    """Views saved by name: {name: {"filters": {facet: [values]}, "flags": [...]}}."""
    return read_json_object(ws.root / VIEWS_FILE, "saved views")


def save_view(ws: Workspace, name: str, filters: Mapping[str, Sequence[str]], flags: Sequence[str] = ()) -> None:
    """Save (or replace) the view ``name``.

    Raises:
        InputError: a bad name, an unknown facet or flag, or too many views.
    """
    name = clean_label(name)
    unknown = [k for k in filters if k not in FACETS] + [f for f in flags if f not in FLAGS]
    if unknown:
        raise InputError(f"unknown filter(s) {unknown}; filters are {list(FACETS) + list(FLAGS)}.")
    views = saved_views(ws)
    if name not in views and len(views) >= MAX_VIEWS:
        raise InputError(f"{MAX_VIEWS} views are saved already; replace one by saving under its name.")
    views[name] = {"filters": {k: [str(v) for v in vs] for k, vs in filters.items() if vs}, "flags": list(flags)}
    atomic_write_bytes(ws.root / VIEWS_FILE, json.dumps(views, ensure_ascii=False, indent=1, sort_keys=True).encode())
