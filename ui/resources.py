"""The app's cached resources: settings, workspace handles, models, embeddings, predictions,
thumbnails. The page prologue is in ui/context.py, the first-launch build in
ui/first_launch.py, the navigation workaround in ui/navigation.py.

These are the only ``st.cache_resource`` / ``st.cache_data`` wrappers. Cached objects
are read-only once cached; their keys include the workspace path and model key.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from clipcore.config import DEFAULT_DEMO_SOURCE, TINY_MODEL, Settings, WorkspaceEntry, load_settings
from clipcore.errors import ClipcoreError, ModelUnavailableError
from clipcore.embedding.models import ClipModel, load_model, rekey_legacy_sets
from clipcore.catalog.store import EmbeddingMatrix, Workspace

from ui import state

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveModel:
    """The model the app uses, and why it is not the configured one (if so)."""

    model: ClipModel
    fallback_reason: str | None

    @property
    def untrained(self) -> bool:
        """Random weights: every result must carry the untrained banner."""
        return self.model.info.untrained


def settings() -> Settings:
    """Settings from clipcore.toml and the environment (cheap; read on each rerun)."""
    return load_settings()


def workspace_entries() -> list[WorkspaceEntry]:
    """Workspaces the user may choose: those in clipcore.toml, then the collections made in
    the app (the registry); the default one when there are none.

    Raises:
        WorkspaceError: the registry file cannot be read.
    """
    from clipcore.catalog.registry import merged_entries

    cfg = settings()
    entries = merged_entries(cfg)
    if entries:
        return entries
    return [WorkspaceEntry("default", cfg.workspace.resolve(), Path(DEFAULT_DEMO_SOURCE).resolve(), True, demo=True)]


def current_entry() -> WorkspaceEntry:
    """The workspace chosen in this browser session (``?ws=`` in the URL, kept in session
    state by ui.context's prologue); the first one by default."""
    entries = workspace_entries()
    name = st.session_state.get(state.WORKSPACE)
    for entry in entries:
        if entry.name == name:
            return entry
    return entries[0]


@st.cache_resource(show_spinner=False)
def _workspace(path: str) -> Workspace:
    ws = Workspace(path)
    rekey_legacy_sets(ws)  # sets stored under the old key function keep serving
    return ws


def workspace() -> Workspace:
    """Handle on the current workspace (shared by all sessions; one SQLite connection per thread)."""
    return _workspace(str(current_entry().path))


@st.cache_resource(show_spinner="Loading the CLIP model...")
def _model(name: str, pretrained: str | None, checkpoint: str | None, device: str, precision: str) -> ClipModel:
    # Never a 600 MB download behind a spinner: Home's download panel runs it as a job, with a bar.
    return load_model(name, pretrained, checkpoint=checkpoint, device=device, precision=precision, allow_download=False)


@st.cache_resource(show_spinner="Loading the CLIP model...")
def _active(name: str, pretrained: str | None, checkpoint: str | None, device: str, precision: str, fallback: bool) -> ActiveModel:
    try:
        return ActiveModel(_model(name, pretrained, checkpoint, device, precision), None)
    except ModelUnavailableError as exc:
        if not fallback:
            raise
        logger.warning("falling back to the tiny model: %s", exc)
        return ActiveModel(_model(TINY_MODEL, None, None, device, precision), str(exc))


def active_model() -> ActiveModel:
    """The configured model, or ``tiny`` (with the reason) when its weights are unavailable."""
    cfg = settings()
    return _active(
        cfg.model,
        cfg.pretrained,
        str(cfg.checkpoint) if cfg.checkpoint else None,
        cfg.device,
        cfg.precision,
        cfg.fallback_to_tiny,
    )


@st.cache_resource(show_spinner="Loading embeddings...", max_entries=8)
def _embeddings(ws_path: str, key: str, version: int) -> EmbeddingMatrix:
    return _workspace(ws_path).load_embeddings(key)


def embeddings(ws: Workspace, key: str) -> EmbeddingMatrix:
    """The embedding matrix of ``key``; reloaded only when new embeddings were committed.

    Raises:
        WorkspaceError: nothing embedded with this model yet.
    """
    return _embeddings(str(ws.root), key, ws.embedding_version(key))


@st.cache_resource(show_spinner="Opening the vector index...", max_entries=8)
def _vector_index(ws_path: str, key: str, version: int, built_at: str):
    from clipcore.retrieval.index import open_index

    return open_index(_workspace(ws_path), _embeddings(ws_path, key, version))


def vector_index(ws: Workspace, key: str):
    """The ``VectorIndex`` over ``key`` (HNSW when built, else exact); reopened when either
    the embeddings or the persisted index change."""
    from clipcore.retrieval.index import read_manifest

    manifest = read_manifest(ws, key)
    return _vector_index(str(ws.root), key, ws.embedding_version(key), manifest.built_at if manifest else "")


@st.cache_data(show_spinner="Projecting the embeddings to 2-D...", max_entries=16)
def _embedding_map(ws_path: str, key: str, version: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    from clipcore.classify.projection import project_2d

    matrix = _embeddings(ws_path, key, version)
    return np.asarray(matrix.ids), project_2d(np.asarray(matrix.vectors), method)


def embedding_map(ws: Workspace, key: str, method: str = "pca") -> tuple[np.ndarray, np.ndarray]:
    """(ids (n,) int64, coordinates (n, 2) float32) of every embedded image, projected with
    ``method`` ("pca" or "tsne"); recomputed only when the embeddings change."""
    return _embedding_map(str(ws.root), key, ws.embedding_version(key), method)


@st.cache_data(show_spinner="Training the few-shot classifier...", max_entries=32)
def _fewshot_prediction(
    ws_path: str,
    key: str,
    emb_version: int,
    labels_version: str,
    prompt_ref: tuple | None,
    method: str,
    source: str,
    cross_validated: bool = False,
):
    from clipcore.classify.evaluation import class_name_prompts
    from clipcore.classify.fewshot import NEEDS_PROMPTS, cross_validated_labelled, predict_unlabelled
    from clipcore.classify.prompts import latest_prompt_set
    from clipcore.classify.splits import labelled_images
    from clipcore.classify.zeroshot import build_classifier

    ws = _workspace(ws_path)
    matrix = _embeddings(ws_path, key, emb_version)
    zero_shot = None
    if method in NEEDS_PROMPTS:
        model = active_model().model
        if model.info.key != key:
            raise ClipcoreError(f"model changed from {key} to {model.info.key}; reload the page.")
        prompts = latest_prompt_set(ws)
        if prompts is None:
            classes = sorted(set(labelled_images(ws, source).values()))
            prompts = class_name_prompts(classes) if len(classes) >= 2 else None
        zero_shot = build_classifier(model, prompts) if prompts is not None else None
    predict = cross_validated_labelled if cross_validated else predict_unlabelled
    return predict(ws, matrix, method=method, source=source, zero_shot=zero_shot)


def fewshot_prediction(ws: Workspace, key: str, method: str, source: str, *, cross_validated: bool = False):
    """A few-shot classifier's predictions for the unlabelled images (``clipcore.classify.fewshot.FewShotPrediction``),
    or with ``cross_validated`` its out-of-fold predictions for the labelled training images.

    Cached by workspace, model key, embedding version, label state and prompt-set version,
    so switching pages or widgets never retrains.

    Raises:
        ClipcoreError: too few labels, or a method that needs prompts without any.
    """
    from clipcore.classify.prompts import latest_prompt_set
    from clipcore.classify.splits import labels_version

    prompts = latest_prompt_set(ws)
    prompt_ref = (prompts.name, prompts.version) if prompts else None
    return _fewshot_prediction(
        str(ws.root), key, ws.embedding_version(key), labels_version(ws), prompt_ref, method, source, cross_validated
    )


@st.cache_resource(show_spinner="Scoring every image with the prompt set...", max_entries=8)
def _zero_shot_probabilities(ws_path: str, key: str, emb_version: int, prompt_set: str, prompt_version: int):
    from clipcore.classify.prompts import load_prompt_set
    from clipcore.team.ranking import zero_shot_probabilities
    from clipcore.classify.zeroshot import build_classifier

    model = active_model().model
    if model.info.key != key:
        raise ClipcoreError(f"model changed from {key} to {model.info.key}; reload the page.")
    ps = load_prompt_set(_workspace(ws_path), prompt_set, prompt_version)
    source = {"model": key, "prompt_set": prompt_set, "prompt_set_version": prompt_version}
    return zero_shot_probabilities(build_classifier(model, ps), _embeddings(ws_path, key, emb_version), source)


def zero_shot_probabilities(ws: Workspace, key: str):
    """Class probabilities of every image under the latest prompt set
    (``clipcore.team.ranking.ClassProbabilities``), or None without a set of 2+ classes.
    Shared by all sessions; recomputed when the prompt set or embeddings change."""
    from clipcore.classify.prompts import latest_prompt_set

    ps = latest_prompt_set(ws)
    if ps is None or len(ps.classes) < 2:
        return None
    return _zero_shot_probabilities(str(ws.root), key, ws.embedding_version(key), ps.name, ps.version)


@st.cache_resource(show_spinner="Training on the labels so far...", max_entries=8)
def _few_shot_probabilities(ws_path: str, key: str, emb_version: int, labels_version: tuple, out_of_fold: bool):
    from clipcore.catalog.labels import current_labels
    from clipcore.team.ranking import few_shot_probabilities

    labels = current_labels(_workspace(ws_path))
    return few_shot_probabilities(_embeddings(ws_path, key, emb_version), labels, out_of_fold=out_of_fold)


def few_shot_probabilities(ws: Workspace, key: str, *, out_of_fold: bool = False):
    """Class probabilities of every image from a classifier on the current labels
    (``clipcore.team.ranking.ClassProbabilities``), or None with fewer than 2 labelled classes.
    Shared by all sessions; recomputed when labels or embeddings change."""
    from clipcore.catalog.labels import current_labels, labels_version

    if len(set(current_labels(ws).values())) < 2:
        return None
    return _few_shot_probabilities(str(ws.root), key, ws.embedding_version(key), labels_version(ws), out_of_fold)


def thumbnail_url(path: str) -> str:
    """The ~256 px thumbnail file as a data URL, for grids drawn as one HTML block; the
    placeholder when the thumbnail is missing (not cached, so a later thumbnail shows).

    Inline images skip one HTTP round trip per tile: a 24-tile grid drew in ~110 ms
    instead of ~300 ms with st.image in Chromium here (docs/PERFORMANCE.md).
    """
    if not Path(path).is_file():
        return PLACEHOLDER_URL
    return _thumbnail_data_url(path)


@st.cache_data(show_spinner=False, max_entries=5_000)
def _thumbnail_data_url(path: str) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


# A grey tile for an image without a thumbnail (grids never fall back to the original).
_PLACEHOLDER_SVG = (
    b"<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'><rect width='256' height='256' fill='#ddd'/>"
    b"<text x='128' y='134' font-size='20' text-anchor='middle' fill='#666'>no thumbnail</text></svg>"
)
PLACEHOLDER_URL = "data:image/svg+xml;base64," + base64.b64encode(_PLACEHOLDER_SVG).decode("ascii")


@st.cache_data(show_spinner=False, max_entries=20_000)
def small_thumbnail(path: str) -> str:
    """A ~48 px JPEG data URL of a thumbnail file, for table cells (made once per file);
    the placeholder when the thumbnail is missing."""
    from clipcore.catalog.images import thumbnail_data_url

    if not Path(path).is_file():
        return PLACEHOLDER_URL
    return thumbnail_data_url(path)


@st.cache_data(show_spinner=False, max_entries=512)
def text_vector(model_key: str, text: str) -> np.ndarray:
    """(dim,) unit vector of one text with the active model (cached across reruns and sessions)."""
    model = active_model().model
    if model.info.key != model_key:
        raise ClipcoreError(f"model changed from {model_key} to {model.info.key}; reload the page.")
    return model.encode_texts([text])[0]


@st.cache_data(show_spinner=False, max_entries=64)
def books(root: str, version: tuple[int, int]) -> list[dict]:
    """The imported books of a workspace (``catalog.metadata.books``), once per change of its
    images or metadata: the aggregate reads every page, too slow for each rerun at a million."""
    from clipcore.catalog.metadata import books as list_books

    return list_books(_workspace(root))
