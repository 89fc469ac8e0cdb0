"""Whole-collection predictions, computed in chunks and stored beside the vectors.

``python -m clipcore predict`` (a job from the app) scores every embedded image with the
latest prompt set (zero-shot) or trains a few-shot method on the labels and scores the
unlabelled images, ``CHUNK_ROWS`` rows at a time from the memory-mapped vectors, and
stores the result as two ``.npy`` files (ids int64, probabilities float16) under
``embeddings/predictions/`` plus one row of the ``predictions`` table (migration 0026).

One stored result per (kind, model key, prompt-set name or method). It records the
embedding version and the source version (prompt-set version; labels version) it was
computed from, so a reader can tell a current result from a stale one and still show
the stale one while a new job runs.

Atomic: the files are written under a temporary name, fsynced and renamed to a fresh
stem; the catalog row is the commit point; the previous files are removed afterwards. A
run killed at any point (kill -9 included) leaves the last stored result as it was, and
the next run starts over cleanly (leftover temporary files are removed).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clipcore.catalog.store import EmbeddingMatrix, Workspace, utc_now
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 65_536
AUTO_ROWS = 50_000  # below this the app computes in-page (seconds); above, it reads stored results


def auto_rows() -> int:
    """The in-page threshold: ``CLIPCORE_PREDICT_AUTO_ROWS`` or ``AUTO_ROWS``."""
    try:
        return int(os.environ.get("CLIPCORE_PREDICT_AUTO_ROWS", AUTO_ROWS))
    except ValueError:
        return AUTO_ROWS
KINDS = ("zero_shot", "few_shot")


@dataclass(frozen=True)
class StoredPredictions:
    """One stored result. ``ids`` (n,) int64; ``proba`` (n, C) float32 over ``classes``."""

    kind: str
    embedding_key: str
    embedding_version: int
    source: str
    source_version: str
    classes: list[str]
    ids: np.ndarray
    proba: np.ndarray
    created_at: str
    meta: dict = field(default_factory=dict)

    def is_current(self, embedding_version: int, source_version: str) -> bool:
        """Computed from these embeddings and this prompt-set/labels version."""
        return self.embedding_version == int(embedding_version) and self.source_version == str(source_version)


def folder(ws: Workspace) -> Path:
    """Where prediction files live (beside the vector files)."""
    return ws.embeddings_dir / "predictions"


def zero_shot_version(prompt_set: Any) -> str:
    """The source version of a prompt set's predictions."""
    return str(prompt_set.version)


def few_shot_version(ws: Workspace, prompt_ref: tuple | None) -> str:
    """The source version of a few-shot method's predictions: the label/split state, plus
    the prompt set for methods that use one."""
    from clipcore.classify.splits import labels_version

    return labels_version(ws) + (f"|{prompt_ref[0]}:{prompt_ref[1]}" if prompt_ref else "")


def _fsync_save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())


def _clean_temporaries(ws: Workspace) -> None:
    for leftover in folder(ws).glob("tmp-*"):
        leftover.unlink(missing_ok=True)


def store(
    ws: Workspace,
    *,
    kind: str,
    embedding_key: str,
    embedding_version: int,
    source: str,
    source_version: str,
    classes: list[str],
    ids: np.ndarray,
    proba: np.ndarray,
    meta: dict | None = None,
) -> StoredPredictions:
    """Write one result atomically, replacing the previous one of (kind, key, source)."""
    if kind not in KINDS:
        raise InputError(f"unknown prediction kind {kind!r}; choose one of {KINDS}.")
    out = folder(ws)
    out.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(ws)
    stem = f"{kind}-{uuid.uuid4().hex[:12]}"
    tmp_ids, tmp_proba = out / f"tmp-{stem}.ids.npy", out / f"tmp-{stem}.proba.npy"
    _fsync_save(tmp_ids, np.asarray(ids, dtype=np.int64))
    _fsync_save(tmp_proba, np.asarray(proba, dtype=np.float16))
    os.replace(tmp_ids, out / f"{stem}.ids.npy")
    os.replace(tmp_proba, out / f"{stem}.proba.npy")
    now = utc_now()
    with ws.transaction() as conn:
        old = conn.execute(
            "SELECT stem FROM predictions WHERE kind = ? AND embedding_key = ? AND source = ?", (kind, embedding_key, source)
        ).fetchone()
        conn.execute(
            "INSERT INTO predictions (kind, embedding_key, embedding_version, source, source_version, classes, rows, "
            "stem, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, embedding_key, source) DO UPDATE SET embedding_version = excluded.embedding_version, "
            "source_version = excluded.source_version, classes = excluded.classes, rows = excluded.rows, "
            "stem = excluded.stem, meta = excluded.meta, created_at = excluded.created_at",
            (kind, embedding_key, int(embedding_version), source, str(source_version), json.dumps(list(classes)),
             int(len(ids)), stem, json.dumps(meta or {}), now),
        )
    if old is not None and old[0] != stem:
        for suffix in (".ids.npy", ".proba.npy"):
            (out / f"{old[0]}{suffix}").unlink(missing_ok=True)
    return load(ws, kind, embedding_key, source)  # type: ignore[return-value]


def load(ws: Workspace, kind: str, embedding_key: str, source: str) -> StoredPredictions | None:
    """The stored result of (kind, key, source), current or not; None when there is none
    (or its files were removed)."""
    rows = ws.query(
        "SELECT embedding_version, source_version, classes, stem, meta, created_at FROM predictions "
        "WHERE kind = ? AND embedding_key = ? AND source = ?",
        (kind, embedding_key, source),
    )
    if not rows:
        return None
    emb_version, source_version, classes, stem, meta, created_at = rows[0]
    try:
        ids = np.load(folder(ws) / f"{stem}.ids.npy", mmap_mode="r")
        proba = np.load(folder(ws) / f"{stem}.proba.npy", mmap_mode="r")
    except (FileNotFoundError, ValueError):
        logger.warning("the stored %s predictions of %s (%s) are unreadable; ignoring them", kind, embedding_key, source)
        return None
    return StoredPredictions(
        kind=kind,
        embedding_key=embedding_key,
        embedding_version=int(emb_version),
        source=source,
        source_version=str(source_version),
        classes=json.loads(classes),
        ids=np.asarray(ids, dtype=np.int64),
        proba=np.asarray(proba, dtype=np.float32),
        created_at=created_at,
        meta=json.loads(meta),
    )


def predict_zero_shot(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    model: Any,
    prompt_set: Any,
    *,
    embedding_version: int | None = None,
    chunk: int = CHUNK_ROWS,
    progress: Any = None,
) -> StoredPredictions:
    """Score every embedded image with ``prompt_set`` in chunks and store the result."""
    from clipcore.classify.zeroshot import build_classifier, classify_matrix

    version = ws.embedding_version(matrix.key) if embedding_version is None else embedding_version
    result = classify_matrix(build_classifier(model, prompt_set), matrix, chunk=chunk, progress=progress)
    return store(
        ws, kind="zero_shot", embedding_key=matrix.key, embedding_version=version, source=prompt_set.name,
        source_version=zero_shot_version(prompt_set), classes=result.labels, ids=result.ids, proba=result.proba,
    )


def predict_few_shot(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    method: str,
    *,
    zero_shot: Any = None,
    prompt_ref: tuple | None = None,
    source: str = "both",
    embedding_version: int | None = None,
    chunk: int = CHUNK_ROWS,
    progress: Any = None,
) -> StoredPredictions:
    """Train ``method`` on the labels (outside the hold-out), score the unlabelled images in
    chunks, and store the result (with the training counts and notes in ``meta``)."""
    from clipcore.classify.fewshot import predict_unlabelled

    version = ws.embedding_version(matrix.key) if embedding_version is None else embedding_version
    source_version = few_shot_version(ws, prompt_ref)  # read before training: a later label makes it stale
    pred = predict_unlabelled(ws, matrix, method=method, source=source, zero_shot=zero_shot, chunk=chunk, progress=progress)
    meta = {"train_counts": pred.train_counts, "held_out": pred.held_out, "split_name": pred.split_name,
            "notes": pred.notes, "label_source": source}
    return store(
        ws, kind="few_shot", embedding_key=matrix.key, embedding_version=version, source=f"{method}:{source}",
        source_version=source_version, classes=pred.classes, ids=pred.ids, proba=pred.proba, meta=meta,
    )


def as_zero_shot_result(stored: StoredPredictions):
    """A ``clipcore.classify.zeroshot.ZeroShotResult`` over the stored rows."""
    from clipcore.classify.zeroshot import ZeroShotResult

    return ZeroShotResult(list(stored.classes), stored.ids, stored.proba)


def as_few_shot_prediction(stored: StoredPredictions):
    """A ``clipcore.classify.fewshot.FewShotPrediction`` over the stored rows."""
    from clipcore.classify.fewshot import FewShotPrediction

    meta = stored.meta
    return FewShotPrediction(
        method=stored.source.split(":", 1)[0],
        classes=list(stored.classes),
        ids=stored.ids,
        proba=stored.proba,
        train_counts=dict(meta.get("train_counts", {})),
        held_out=int(meta.get("held_out", 0)),
        split_name=meta.get("split_name"),
        notes=list(meta.get("notes", [])),
    )
