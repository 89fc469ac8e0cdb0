"""Cached classifier outputs for the pages: zero-/few-shot class probabilities of every
image, few-shot predictions, and the 2-D embedding map. Keys include the workspace path,
the model key, the embedding version and the prompt-set or labels version, so a cached
result is never stale; the workspace and embedding caches are in ui/resources.py.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from clipcore.catalog.store import Workspace
from clipcore.embedding.models import describe_key
from clipcore.errors import ClipcoreError
from clipcore.parallel import heavy_slot
from ui.core.resources import active_model, catalogue_summary, embeddings_at, workspace_at


@st.cache_data(show_spinner="Projecting the embeddings to 2-D...", max_entries=16)
def _embedding_map(ws_path: str, key: str, version: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    from clipcore.classify.projection import project_2d

    matrix = embeddings_at(ws_path, key, version)
    rows = np.arange(len(matrix.ids))
    if len(rows) > MAP_MAX_POINTS:  # a browser chart of a million points would not draw
        rows = np.linspace(0, len(rows) - 1, MAP_MAX_POINTS).astype(np.int64)
    return np.asarray(matrix.ids)[rows], project_2d(np.asarray(matrix.vectors[rows], dtype=np.float32), method)


MAP_MAX_POINTS = 20_000


def embedding_map(ws: Workspace, key: str, method: str = "pca") -> tuple[np.ndarray, np.ndarray]:
    """(ids (n,) int64, coordinates (n, 2) float32) of every embedded image, or of
    ``MAP_MAX_POINTS`` spread over a larger collection, projected with ``method`` ("pca" or
    "tsne"); recomputed only when the embeddings change."""
    return _embedding_map(str(ws.root), key, ws.embedding_version(key), method)


# The Few-shot page's bounded budgets (each stated in the page's notes when it applies): a
# page run trains on, predicts and cross-validates at most this many images.
PAGE_TRAIN_MAX = 20_000
PAGE_PREDICT_MAX = 20_000
PAGE_CV_MAX = 10_000
HEAVY_WAIT_S = 60.0  # how long a page waits for a free heavy slot (clipcore.parallel.heavy_slot)


@st.cache_data(show_spinner="Training the few-shot classifier...", max_entries=32)
def _fewshot_prediction(
    ws_path: str,
    key: str,
    emb_version: int,
    training_version: str,
    prompt_ref: tuple | None,
    method: str,
    source: str,
    cross_validated: bool = False,
):
    from clipcore.classify.fewshot import NEEDS_PROMPTS, cross_validated_labelled, predict_unlabelled
    from clipcore.classify.prompts import resolve_prompt_set
    from clipcore.classify.splits import labelled_images
    from clipcore.classify.zeroshot import build_classifier

    ws = workspace_at(ws_path)
    matrix = embeddings_at(ws_path, key, emb_version)
    zero_shot = None
    if method in NEEDS_PROMPTS:
        model = active_model().model
        if model.info.key != key:
            raise ClipcoreError(f"the model changed from {describe_key(key)} to {describe_key(model.info.key)}; reload the page.")
        prompts = resolve_prompt_set(ws, classes=lambda: labelled_images(ws, source).values())
        zero_shot = build_classifier(model, prompts) if prompts is not None else None
    # In-process training, for any role that may view: under the server-wide cap (a busy
    # server waits, then says so; the refusal is not cached).
    with heavy_slot("training a few-shot classifier", wait_s=HEAVY_WAIT_S):
        if cross_validated:
            return cross_validated_labelled(ws, matrix, method=method, source=source, zero_shot=zero_shot, max_images=PAGE_CV_MAX)
        return predict_unlabelled(ws, matrix, method=method, source=source, zero_shot=zero_shot,
                                  max_train=PAGE_TRAIN_MAX, max_predict=PAGE_PREDICT_MAX)


def fewshot_prediction(ws: Workspace, key: str, method: str, source: str, *, cross_validated: bool = False):
    """A few-shot classifier's predictions for the unlabelled images (``clipcore.classify.fewshot.FewShotPrediction``),
    or with ``cross_validated`` its out-of-fold predictions for the labelled training images.

    Cached by workspace, model key, embedding version, label state and prompt-set version,
    so switching pages or widgets never retrains.

    Raises:
        ClipcoreError: too few labels, or a method that needs prompts without any.
    """
    from clipcore.classify.prompts import latest_prompt_set
    from clipcore.classify.splits import training_data_version

    prompts = latest_prompt_set(ws)
    prompt_ref = (prompts.name, prompts.version) if prompts else None
    return _fewshot_prediction(
        str(ws.root), key, ws.embedding_version(key), training_data_version(ws), prompt_ref, method, source, cross_validated
    )


@st.cache_resource(show_spinner="Scoring every image with the prompt set...", max_entries=8)
def _zero_shot_probabilities(ws_path: str, key: str, emb_version: int, prompt_set: str, prompt_version: int):
    from clipcore.classify.prompts import load_prompt_set

    ps = load_prompt_set(workspace_at(ws_path), prompt_set, prompt_version)
    return _score_with(ps, ws_path, key, emb_version, prompt_version)


def _score_with(ps, ws_path: str, key: str, emb_version: int, prompt_version: int | None):
    from clipcore.team.ranking import zero_shot_probabilities
    from clipcore.classify.zeroshot import build_classifier

    model = active_model().model
    if model.info.key != key:
        raise ClipcoreError(f"the model changed from {describe_key(key)} to {describe_key(model.info.key)}; reload the page.")
    source = {"model": key, "prompt_set": ps.name, "prompt_set_version": prompt_version}
    return zero_shot_probabilities(build_classifier(model, ps), embeddings_at(ws_path, key, emb_version), source)


@st.cache_resource(show_spinner="Scoring every image with the prompt set...", max_entries=8)
def _draft_zero_shot_probabilities(ws_path: str, key: str, emb_version: int, prompt_set_json: str):
    from clipcore.classify.prompts import PromptSet

    d = json.loads(prompt_set_json)
    return _score_with(PromptSet(d["name"], d["classes"], d["templates"]), ws_path, key, emb_version, None)


@st.cache_resource(show_spinner="Opening the stored predictions...", max_entries=8)
def _stored(ws_path: str, key: str, kind: str, ref_json: str, emb_version: int, created_at: str, source_json: str):
    from clipcore.team.predictions import load_predictions

    return load_predictions(workspace_at(ws_path), key, kind, json.loads(ref_json), embedding_version=emb_version,
                            source=json.loads(source_json))


def _read_stored(ws: Workspace, key: str, manifest: dict | None, version: int, source: dict):
    if manifest is None or manifest.get("embedding_version") != version:
        return None
    return _stored(str(ws.root), key, manifest["kind"], json.dumps(manifest["ref"], sort_keys=True), version,
                   manifest["created_at"], json.dumps(source, sort_keys=True))


def scored_in_page(ws: Workspace, key: str) -> bool:
    """Whether this collection is small enough to score every image inside a page run;
    from ``team.predictions.in_page_max()`` rows on the pages read what a `predict` job stored."""
    from clipcore.team.predictions import in_page_max

    return ws.embedding_set(key)[1] < in_page_max()


def zero_shot_probabilities(ws: Workspace, key: str, classes=None):
    """Class probabilities of every image under the latest prompt set
    (``clipcore.team.ranking.ClassProbabilities``), or None without a set of 2+ classes.

    With no saved set, the set a prompt editor opens with (``starting_prompt_set``: the
    reference study's prompts or the class names, never written by opening a page), scored
    in the page for a small collection (its source has ``prompt_set_version`` None).
    Stored ones (``python -m clipcore predict --zero-shot``) when current; else computed in
    the page for a small collection; else None (``ui.widgets.prediction_jobs`` offers the job).
    Shared by all sessions; recomputed when the prompt set or embeddings change.
    ``classes``: the ground truth's classes; by default from the catalogue summary, cached on
    the change counter (not a GROUP BY over every ground-truth row on every rerun: ~320 ms at 1M)."""
    from clipcore.classify.prompts import starting_prompt_set
    from clipcore.team.predictions import read_manifest, zero_shot_ref

    if classes is None:
        classes = catalogue_summary(ws)["per_class"]
    ps, saved = starting_prompt_set(ws, classes)
    if ps is None or len(ps.classes) < 2:
        return None
    version = ws.embedding_version(key)
    if not saved:  # a draft: nothing stored for it, and nothing written to score it
        if not scored_in_page(ws, key):
            return None
        return _draft_zero_shot_probabilities(str(ws.root), key, version, json.dumps(ps.to_dict(), sort_keys=True))
    source = {"model": key, "prompt_set": ps.name, "prompt_set_version": ps.version}
    stored = _read_stored(ws, key, read_manifest(ws, key, "zero-shot", zero_shot_ref(ps.name, ps.version)), version, source)
    if stored is not None or not scored_in_page(ws, key):
        return stored
    return _zero_shot_probabilities(str(ws.root), key, version, ps.name, ps.version)


@st.cache_resource(show_spinner="Training on the labels so far...", max_entries=8)
def _few_shot_probabilities(ws_path: str, key: str, emb_version: int, events_version: tuple, out_of_fold: bool):
    from clipcore.catalog.labels import current_label_arrays
    from clipcore.team.ranking import few_shot_probabilities

    labels = current_label_arrays(workspace_at(ws_path))  # arrays, not a dict of every labelled id
    return few_shot_probabilities(embeddings_at(ws_path, key, emb_version), labels, out_of_fold=out_of_fold)


def few_shot_probabilities(ws: Workspace, key: str, *, out_of_fold: bool = False):
    """Class probabilities of every image from a classifier on the current labels
    (``clipcore.team.ranking.ClassProbabilities``), or None with fewer than 2 labelled classes.
    Shared by all sessions; recomputed when labels or embeddings change."""
    from clipcore.catalog.labels import current_label_arrays, label_events_version
    from clipcore.team.predictions import latest_stored

    if len(current_label_arrays(ws).counts()) < 2:
        return None
    version = ws.embedding_version(key)
    if scored_in_page(ws, key):
        return _few_shot_probabilities(str(ws.root), key, version, label_events_version(ws), out_of_fold)
    # A large collection: the newest stored result (it may predate the latest labels; a
    # `predict --few-shot` job refreshes it), or None until one is stored.
    # An out-of-fold result differs from an in-sample one only on the labelled images (their
    # honest, held-out scores), so it serves an in-sample request too: the page's "Compute
    # few-shot scores" job stores out-of-fold results, and the query and suggestions read them.
    found = [latest_stored(ws, key, "few-shot", embedding_version=version, out_of_fold=oof)
             for oof in ((True,) if out_of_fold else (False, True))]
    found = [m for m in found if m is not None]
    manifest = max(found, key=lambda m: m["created_at"]) if found else None
    source = {"model": key, "labels_version": manifest["ref"]["labels_version"]} if manifest else {}
    return _read_stored(ws, key, manifest, version, source)


SAMPLE_IMAGES = 10_000  # a large collection's Zero-shot page scores drafts on this many (accuracy to about ±1%)


@st.cache_resource(show_spinner="Sampling images to score drafts on...", max_entries=4)
def _scoring_sample(ws_path: str, key: str, emb_version: int, changes: int):
    from clipcore.catalog.store import EmbeddingMatrix

    ws = workspace_at(ws_path)
    matrix = embeddings_at(ws_path, key, emb_version)
    spread = ws.spread_images(4 * SAMPLE_IMAGES)  # spread over the collection; labelled ones first
    labelled = [(i, c) for i, c in spread if c is not None]
    chosen = (labelled + [(i, c) for i, c in spread if c is None])[:SAMPLE_IMAGES]
    ids = np.array(sorted(i for i, _ in chosen), dtype=np.int64)
    rows = matrix.rows_of(ids)
    ids, rows = ids[rows >= 0], rows[rows >= 0]
    sample = EmbeddingMatrix(key=key, ids=ids, vectors=np.ascontiguousarray(matrix.vectors[rows], dtype=np.float32))
    return sample, {i: c for i, c in chosen if c is not None}


def scoring_scope(ws: Workspace, key: str, matrix) -> tuple:
    """(matrix, ground truth, sampled) that the Zero-shot page scores its draft prompts on:
    every image and all ground truth for a small collection; above
    ``team.predictions.in_page_max()`` images, ``SAMPLE_IMAGES`` images spread over the
    collection (those with ground truth first) and their ground truth, with ``sampled``
    True. Every image's scores then come from a `predict` job."""
    if scored_in_page(ws, key):
        return matrix, ws.ground_truth(), False
    sample, truth = _scoring_sample(str(ws.root), key, ws.embedding_version(key), ws.change_count())
    return sample, truth, True
