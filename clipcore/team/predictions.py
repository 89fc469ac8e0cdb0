"""Whole-collection class probabilities, computed in chunks and stored beside the vectors.

At a million images, scoring every image under a prompt set (or a classifier on the
labels) inside a page run takes seconds and a (n, C) float32 array per session. Instead a
job (``python -m clipcore predict``) computes them ``CHUNK`` rows at a time from the
memory-mapped vectors and stores them; pages read the stored result while it is current:

    embeddings/<set>/predictions/<name>/proba.npy     (n, C) float16, rows in matrix order
    embeddings/<set>/predictions/<name>/ids.npy       (n,) int64 image ids
    embeddings/<set>/predictions/<name>/manifest.json kind, ref, classes, rows, embedding version

``name`` is a hash of (kind, ref): ``ref`` names what was applied, e.g. {"prompt_set":
"reference", "version": 3} for zero-shot or {"method": "logreg", "labels_version": [..]}
for few-shot. A stored result is current while the embedding version it was computed on
is the workspace's; it is written to a temporary folder and renamed, so a reader sees a
whole result or none. Small collections (under ``in_page_max()`` rows: ``[limits]
in_page_max``, default 50,000) are scored in the page instead: there a job would only add
a click.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from clipcore.catalog.store import EmbeddingMatrix, Workspace, utc_now
from clipcore.config import load_limits
from clipcore.team.ranking import ClassProbabilities

CHUNK = 65_536
FORMAT = 1


def in_page_max() -> int:
    """Below this many rows pages score every image in the page (about 0.1 s at 50,000);
    at or above it they read stored scores (``[limits] in_page_max``, env
    ``CLIPCORE_IN_PAGE_MAX``, default 50,000)."""
    return load_limits().in_page_max

Progress = Callable[[int, int], None]


def _name(kind: str, ref: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps([kind, dict(ref)], sort_keys=True).encode()).hexdigest()[:16]


def predictions_dir(ws: Workspace, key: str) -> Path:
    """The folder of stored predictions of embedding set ``key``."""
    return ws.embedding_set(key)[0] / "predictions"


RowScorer = Callable[[int, int], np.ndarray]  # (start, stop) -> (stop - start, C) probabilities


def vector_scorer(predict_proba: Callable[[np.ndarray], np.ndarray], vectors: np.ndarray) -> RowScorer:
    """Rows [start, stop) of ``vectors`` (memory-mapped) through ``predict_proba``, as float32."""
    return lambda start, stop: predict_proba(np.asarray(vectors[start:stop], dtype=np.float32))


def store_predictions(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    kind: str,
    ref: Mapping[str, Any],
    classes: list[str],
    score_rows: RowScorer,
    *,
    embedding_version: int,
    honest: bool = True,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every row of ``matrix``, ``chunk`` rows at a time (``score_rows(start, stop)``),
    into a float16 file, and store the result, replacing an older one of the same ref.

    Returns:
        The manifest written: {kind, ref, classes, rows, key, embedding_version, honest,
        created_at, format}. ``honest``: labelled images were not scored by a model fitted on
        their own labels (see ``ClassProbabilities``).
    """
    target = predictions_dir(ws, matrix.key) / _name(kind, ref)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        n = len(matrix.ids)
        proba = np.lib.format.open_memmap(tmp / "proba.npy", mode="w+", dtype=np.float16, shape=(n, len(classes)))
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            proba[start:stop] = score_rows(start, stop)
            if progress is not None:
                progress(stop, n)
        proba.flush()
        del proba
        np.save(tmp / "ids.npy", np.asarray(matrix.ids, dtype=np.int64))
        manifest = {
            "kind": kind, "ref": dict(ref), "classes": list(classes), "rows": int(len(matrix.ids)),
            "key": matrix.key, "embedding_version": int(embedding_version), "honest": bool(honest),
            "created_at": utc_now(), "format": FORMAT,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}-old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def store_probabilities(
    ws: Workspace, matrix: EmbeddingMatrix, probs: ClassProbabilities, kind: str, ref: Mapping[str, Any], *,
    embedding_version: int, progress: Progress | None = None,
) -> dict[str, Any]:
    """Store probabilities computed already (rows in ``matrix`` order), e.g. a few-shot probe's."""
    if len(probs.ids) != len(matrix.ids) or not np.array_equal(probs.ids, matrix.ids):
        raise ValueError("the probabilities were computed on another embedding matrix")
    return store_predictions(
        ws, matrix, kind, ref, probs.classes, lambda a, b: np.asarray(probs.proba[a:b]),
        embedding_version=embedding_version, honest=probs.honest, progress=progress,
    )


def read_manifest(ws: Workspace, key: str, kind: str, ref: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored manifest for (kind, ref), current or not; None when nothing is stored."""
    try:
        path = predictions_dir(ws, key) / _name(kind, ref) / "manifest.json"
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_predictions(
    ws: Workspace, key: str, kind: str, ref: Mapping[str, Any], *, embedding_version: int, source: Mapping[str, Any]
) -> ClassProbabilities | None:
    """The stored probabilities for (kind, ref) if computed on ``embedding_version``, memory-mapped
    (float16); else None. ``source`` is the provenance the result carries."""
    manifest = read_manifest(ws, key, kind, ref)
    if manifest is None or manifest.get("embedding_version") != embedding_version or manifest.get("format") != FORMAT:
        return None
    folder = predictions_dir(ws, key) / _name(kind, ref)
    try:
        proba = np.load(folder / "proba.npy", mmap_mode="r")
        ids = np.load(folder / "ids.npy")
    except (OSError, ValueError):
        return None
    if proba.shape != (manifest["rows"], len(manifest["classes"])) or len(ids) != manifest["rows"]:
        return None
    return ClassProbabilities(ids, list(manifest["classes"]), proba, {"kind": kind, **dict(source)}, bool(manifest["honest"]))


def latest_stored(ws: Workspace, key: str, kind: str, *, embedding_version: int, **match: Any) -> dict[str, Any] | None:
    """The newest stored manifest of ``kind`` on ``embedding_version`` whose ref has the
    ``match`` items (e.g. the few-shot result of older labels, shown until a new one lands)."""
    best = None
    try:
        folders = list(predictions_dir(ws, key).iterdir())
    except OSError:
        return None
    for folder in folders:
        if folder.name.startswith("."):
            continue
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if manifest.get("kind") != kind or manifest.get("embedding_version") != embedding_version:
            continue
        if any(manifest.get("ref", {}).get(k) != v for k, v in match.items()):
            continue
        if best is None or manifest["created_at"] > best["created_at"]:
            best = manifest
    return best


def zero_shot_ref(prompt_set: str, version: int) -> dict[str, Any]:
    """The ref of zero-shot predictions under one saved prompt-set version."""
    return {"prompt_set": prompt_set, "version": int(version)}


def few_shot_ref(events_version: Any, out_of_fold: bool) -> dict[str, Any]:
    """The ref of few-shot (logistic probe on the current labels) predictions;
    ``events_version`` is ``catalog.labels.label_events_version`` (stored as "labels_version")."""
    return {"method": "logreg", "labels_version": list(events_version), "out_of_fold": bool(out_of_fold)}
