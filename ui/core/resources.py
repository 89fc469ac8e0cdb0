"""The app's cached resources: settings, workspace handles, models, embeddings, the vector
index, thumbnails, text vectors, the catalogue summary. Classifier outputs (zero-/few-shot
probabilities, few-shot predictions, the embedding map) are cached in ui/core/classifier_cache.py. The page prologue is in ui/core/context.py, the first-launch chores in
ui/core/first_launch.py, the link to Home in ui/core/navigation.py.

These two modules hold the ``st.cache_resource`` / ``st.cache_data`` wrappers. Cached objects
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
from clipcore.embedding.models import ClipModel, describe_key, load_model, rekey_legacy_sets
from clipcore.catalog.store import EmbeddingMatrix, Workspace

from ui.core import state
from ui.core.text import app_text

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
    state by ui.core.context's prologue); the first one by default."""
    entries = workspace_entries()
    name = st.session_state.get(state.WORKSPACE)
    for entry in entries:
        if entry.name == name:
            return entry
    return entries[0]


@st.cache_resource(show_spinner=False)
def workspace_at(path: str) -> Workspace:
    """The shared handle on the workspace at ``path`` (legacy set keys renamed once)."""
    ws = Workspace(path)
    rekey_legacy_sets(ws)  # sets stored under the old key function keep serving
    return ws


def workspace() -> Workspace:
    """Handle on the current workspace (shared by all sessions; one SQLite connection per thread)."""
    return workspace_at(str(current_entry().path))


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
        return ActiveModel(_model(TINY_MODEL, None, None, device, precision), app_text(exc))


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


def model_of(name: str, pretrained: str | None, checkpoint: str | None) -> ClipModel | None:
    """Another embedding set's model (cached like the active one, on the configured device
    and precision), or None when its weights cannot be loaded here."""
    cfg = settings()
    try:
        return _model(name, pretrained, checkpoint, cfg.device, cfg.precision)
    except ModelUnavailableError as exc:
        logger.warning("model %s cannot be loaded for comparison: %s", name, exc)
        return None


@st.cache_resource(show_spinner="Loading embeddings...", max_entries=8)
def embeddings_at(ws_path: str, key: str, version: int) -> EmbeddingMatrix:
    """The embedding matrix of ``key`` at one embedding version (shared by all sessions)."""
    return workspace_at(ws_path).load_embeddings(key)


def embeddings(ws: Workspace, key: str) -> EmbeddingMatrix:
    """The embedding matrix of ``key``; reloaded only when new embeddings were committed.

    Raises:
        WorkspaceError: nothing embedded with this model yet.
    """
    return embeddings_at(str(ws.root), key, ws.embedding_version(key))


@st.cache_resource(show_spinner="Opening the vector index...", max_entries=8)
def _vector_index(ws_path: str, key: str, version: int, built_at: str):
    from clipcore.retrieval.index import open_index

    return open_index(workspace_at(ws_path), embeddings_at(ws_path, key, version))


def vector_index(ws: Workspace, key: str):
    """The ``VectorIndex`` over ``key`` (HNSW when built, else exact); reopened when either
    the embeddings or the persisted index change."""
    from clipcore.retrieval.index import read_manifest

    manifest = read_manifest(ws, key)
    return _vector_index(str(ws.root), key, ws.embedding_version(key), manifest.built_at if manifest else "")


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
        raise ClipcoreError(f"the model changed from {describe_key(model_key)} to {describe_key(model.info.key)}; reload the page.")
    return model.encode_texts([text])[0]


@st.cache_data(show_spinner=False, max_entries=64)
def books(root: str, version: tuple[int, int]) -> list[dict]:
    """The imported books of a workspace (``catalog.metadata.books``), once per change of its
    images or metadata: the aggregate reads every page, too slow for each rerun at a million."""
    from clipcore.catalog.metadata import books as list_books

    return list_books(workspace_at(root))


@st.cache_data(max_entries=32, show_spinner=False)
def _catalogue_summary(root: str, changes: int) -> dict:
    from clipcore.catalog.sample import collection_sample

    ws = workspace_at(root)
    return {
        "counts": ws.counts(),
        "embedded": ws.embedding_keys(),
        "per_class": ws.ground_truth_counts(),
        "sample": collection_sample(ws, 12),
    }


def catalogue_summary(ws: Workspace) -> dict:
    """{"counts", "embedded" (per model), "per_class" (ground truth), "sample" (12 ids)}:
    aggregates over the whole catalogue (about a second at a million images), cached until
    the store's change counter moves (an ingest, an embed, a ground-truth import)."""
    return _catalogue_summary(str(ws.root), ws.change_count())


# -- filters with counts (clipcore.team.facets), each part cached on its own version ----------


@st.cache_resource(show_spinner=False, max_entries=4)
def _catalog_facets(root: str, changes: int):
    from clipcore.team.facets import catalog_facets

    return catalog_facets(workspace_at(root))


@st.cache_resource(show_spinner=False, max_entries=4)
def _label_facets(root: str, changes: int):
    """The labels part over this catalogue read's rows, brought up to date on every call (a
    label action reads only the newer events; a revert reads every label again)."""
    from clipcore.team.facets import LabelFacetsCache

    return LabelFacetsCache(_catalog_facets(root, changes).ids)


@st.cache_resource(show_spinner=False, max_entries=4)
def _prediction_facet(root: str, changes: int, source: str, _probs):
    from clipcore.team.facets import prediction_codes

    ids = _catalog_facets(root, changes).ids
    return prediction_codes(ids, _probs.ids, _probs.classes, _probs.proba.argmax(axis=1))


def facet_table(ws: Workspace, probs=None):
    """``clipcore.team.facets.FacetTable`` of the workspace: the catalogue part cached on
    ``change_count()``, the labels kept up to date from the label events (only the events
    newer than the cached ones are read after an assign), the prediction cached on its
    scores' provenance (``probs``: ``team.ranking.ClassProbabilities`` or None)."""
    import json

    from clipcore.team.facets import facet_table as build

    root, changes = str(ws.root), ws.change_count()
    pred = None
    if probs is not None:
        pred = _prediction_facet(root, changes, json.dumps(probs.source, sort_keys=True, default=str), probs)
    return build(_catalog_facets(root, changes), _label_facets(root, changes).current(ws), pred)
