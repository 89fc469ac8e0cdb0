"""The app's shared, cached resources: settings, workspace handles, models, embeddings.

These are the only ``st.cache_resource`` / ``st.cache_data`` wrappers. Cached objects
are read-only once cached; their keys include the workspace path and model key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from clipcore import UNTRAINED_WARNING
from clipcore.config import DEFAULT_DEMO_SOURCE, TINY_MODEL, Settings, WorkspaceEntry, load_settings
from clipcore.errors import ClipcoreError, ModelUnavailableError
from clipcore.embedding.models import ClipModel, load_model
from clipcore.catalog.store import EmbeddingMatrix, Workspace

from ui import state

logger = logging.getLogger(__name__)
_demo_lock = threading.Lock()


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
    """Workspaces the user may choose: those listed in config, else the default one."""
    cfg = settings()
    if cfg.workspaces:
        return list(cfg.workspaces)
    return [WorkspaceEntry("default", cfg.workspace.resolve(), Path(DEFAULT_DEMO_SOURCE).resolve(), True, demo=True)]


def current_entry() -> WorkspaceEntry:
    """The workspace chosen in this browser session (first configured one by default)."""
    entries = workspace_entries()
    name = st.session_state.get(state.WORKSPACE)
    for entry in entries:
        if entry.name == name:
            return entry
    return entries[0]


@st.cache_resource(show_spinner=False)
def _workspace(path: str) -> Workspace:
    return Workspace(path)


def workspace() -> Workspace:
    """Handle on the current workspace (shared by all sessions; one SQLite connection per thread)."""
    return _workspace(str(current_entry().path))


@st.cache_resource(show_spinner="Loading the CLIP model...")
def _model(name: str, pretrained: str | None, checkpoint: str | None, device: str, precision: str) -> ClipModel:
    return load_model(name, pretrained, checkpoint=checkpoint, device=device, precision=precision)


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
    ws_path: str, key: str, emb_version: int, labels_version: str, prompt_ref: tuple | None, method: str, source: str
):
    from clipcore.classify.evaluation import class_name_prompts
    from clipcore.classify.fewshot import NEEDS_PROMPTS, predict_unlabelled
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
    return predict_unlabelled(ws, matrix, method=method, source=source, zero_shot=zero_shot)


def fewshot_prediction(ws: Workspace, key: str, method: str, source: str):
    """A few-shot classifier's predictions for the unlabelled images (``clipcore.classify.fewshot.FewShotPrediction``).

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
        str(ws.root), key, ws.embedding_version(key), labels_version(ws), prompt_ref, method, source
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


@st.cache_data(show_spinner=False, max_entries=5_000)
def thumbnail_url(path: str) -> str:
    """The ~256 px thumbnail file as a data URL, for grids drawn as one HTML block.

    Inline images skip one HTTP round trip per tile: a 24-tile grid drew in ~110 ms
    instead of ~300 ms with st.image in Chromium here (docs/PERFORMANCE.md).
    """
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


@st.cache_data(show_spinner=False, max_entries=20_000)
def small_thumbnail(path: str) -> str:
    """A ~48 px JPEG data URL of a thumbnail file, for table cells (made once per file)."""
    from clipcore.catalog.images import thumbnail_data_url

    return thumbnail_data_url(path)


@st.cache_data(show_spinner=False, max_entries=512)
def text_vector(model_key: str, text: str) -> np.ndarray:
    """(dim,) unit vector of one text with the active model (cached across reruns and sessions)."""
    model = active_model().model
    if model.info.key != model_key:
        raise ClipcoreError(f"model changed from {model_key} to {model.info.key}; reload the page.")
    return model.encode_texts([text])[0]


def ensure_demo_workspace(entry: WorkspaceEntry, model: ClipModel) -> str | None:
    """On first launch, build the demo collection and workspace (generate, ingest, embed).

    Only for a workspace marked ``demo = true`` in config (about 200 images: seconds);
    other workspaces are built by background jobs from Home. Does nothing when the
    workspace already holds images that are embedded (fully or in part: the rest is a
    background job started from Home), or while a job is running.
    Returns a one-line summary of what was built, or None. Runs once per process (other
    sessions wait on the lock).
    """
    from clipcore.catalog.jobs import list_jobs

    if not entry.demo or entry.source is None:
        return None
    ws = _workspace(str(entry.path))

    def ready() -> bool:
        return ws.counts()["images"] > 0 and (
            ws.embedding_version(model.info.key) > 0 or bool(list_jobs(ws, active_only=True))
        )

    if ready():
        return None
    from clipcore.sources.demo import generate_demo
    from clipcore.embedding.pipeline import embed_workspace
    from clipcore.catalog.ingest import ingest_folder

    with _demo_lock:
        if ready():  # another session built it while this one waited for the lock
            return None
        with st.status("Preparing the workspace (first launch)...", expanded=True) as status:
            built = []
            if ws.counts()["images"] == 0:
                if not entry.source.exists() or not any(entry.source.iterdir()):
                    st.write(f"Generating the demo collection in `{entry.source}`...")
                    generate_demo(entry.source)
                    built.append("generated the demo collection")
                st.write("Cataloguing images and making thumbnails...")
                bar = st.progress(0.0)
                report = ingest_folder(
                    ws,
                    entry.source,
                    labels_from_folders=entry.labels_from_folders,
                    progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d}/{t} files"),
                )
                built.append(f"catalogued {report.added} images")
            missing = len(ws.missing_embeddings(model.info.key))
            if missing:
                st.write(f"Embedding {missing} images with {model.info.key}...")
                bar = st.progress(0.0)
                embed_workspace(ws, model, progress=lambda d, t: bar.progress(d / max(t, 1), text=f"{d}/{t} images"))
                built.append(f"embedded {missing} images")
            status.update(label="Workspace ready", state="complete", expanded=False)
        return "; ".join(built) or None


def model_banner(active: ActiveModel) -> None:
    """The untrained-model warning (every page shows it when the model is ``tiny``)."""
    if active.untrained:
        msg = f"**{UNTRAINED_WARNING}.** The app is using `{active.model.info.key}`."
        if active.fallback_reason:
            msg += f" The configured model could not be loaded: {active.fallback_reason}"
        st.warning(msg, icon="⚠️")


def show_error(exc: ClipcoreError) -> None:
    """How pages show an expected error: one line, no stack trace."""
    st.error(str(exc), icon="🚫")


@dataclass(frozen=True)
class PageContext:
    """What every page needs: the workspace, the model and its embeddings."""

    entry: WorkspaceEntry
    ws: Workspace
    active: ActiveModel
    matrix: EmbeddingMatrix | None

    @property
    def model(self) -> ClipModel:
        """The active CLIP model."""
        return self.active.model

    @property
    def key(self) -> str:
        """Embedding key of the active model."""
        return self.active.model.info.key


_left_pages_folder_mode = False


def _leave_pages_folder_mode() -> None:
    """Run the page through app.py's st.navigation, also on a server's very first request.

    Streamlit sees a ``pages/`` folder beside app.py and, until some run has called
    st.navigation, serves a URL such as /search the old way: the page script alone, with
    a file-name sidebar and without app.py. Leaving that mode and rerunning once per
    process makes the same URL go through app.py (its navigation, titles and layout).
    Once per process, because AppTest resets the mode on every run by design.
    """
    global _left_pages_folder_mode
    if _left_pages_folder_mode:
        return
    _left_pages_folder_mode = True
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to undo
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def page_context(*, require_embeddings: bool = True) -> PageContext:
    """Common page prologue: banner, workspace, model, embeddings; stops the page with a
    clear message when the workspace is empty or lacks embeddings for the model."""
    _leave_pages_folder_mode()
    try:
        active = active_model()
    except ClipcoreError as exc:
        show_error(exc)
        st.stop()
    model_banner(active)
    entry = current_entry()
    ws = workspace()
    try:
        ensure_demo_workspace(entry, active.model)
    except ClipcoreError as exc:
        show_error(exc)
    if ws.counts()["images"] == 0:
        st.info(
            f"The workspace `{entry.path}` holds no images yet. Ingest a folder from the Home page, "
            f"or run `python -m clipcore ingest DIR --workspace {entry.path}`."
        )
        st.stop()
    matrix = None
    if require_embeddings:
        try:
            matrix = embeddings(ws, active.model.info.key)
        except ClipcoreError:
            st.info(
                f"No images are embedded with `{active.model.info.key}` yet. Start embedding from the Home page, "
                f"or run `python -m clipcore embed --workspace {entry.path}`."
            )
            st.stop()
    return PageContext(entry, ws, active, matrix)
