"""2-D projections of embeddings for the embedding map: PCA (numpy SVD) or t-SNE (scikit-learn).

Both are deterministic for a given input and seed, so a cached map does not jump
between reruns.
"""

from __future__ import annotations

import logging

import numpy as np

from clipcore.errors import InputError

logger = logging.getLogger(__name__)

METHODS = ("pca", "tsne")
MAX_TSNE_POINTS = 20_000


def _pca(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0, keepdims=True)
    # Thin SVD; the right singular vectors are the principal axes.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    # Fix each axis's sign (largest loading positive) so the map is reproducible.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1.0
    out = centred @ (axes * signs[:, None]).T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]), dtype=out.dtype)])
    return out


def project_2d(vectors: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """Project (n, dim) vectors to (n, 2) float32 coordinates.

    Args:
        vectors: (n, dim) float, e.g. unit-norm CLIP embeddings.
        method: ``pca`` (exact, fast) or ``tsne`` (scikit-learn, PCA-initialised; slower,
            at most 20,000 points).
        seed: random state for t-SNE.
    Raises:
        InputError: unknown method, fewer than 2 vectors, or too many points for t-SNE.
    """
    if method not in METHODS:
        raise InputError(f"projection method must be one of {list(METHODS)}; got {method!r}.")
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"expected an (n, dim) array of vectors; got shape {x.shape}.")
    if len(x) < 2:
        raise InputError(f"a 2-D map needs at least 2 images; got {len(x)}.")
    if method == "pca":
        return _pca(x).astype(np.float32)
    if len(x) > MAX_TSNE_POINTS:
        raise InputError(
            f"t-SNE is limited to {MAX_TSNE_POINTS:,} images here; the collection has {len(x):,}. Use PCA."
        )
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    if len(x) <= 3:
        return _pca(x).astype(np.float32)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, metric="cosine")
    return tsne.fit_transform(x).astype(np.float32)


TSNE_DEFAULT_MAX = 3_000  # above this, t-SNE's minutes are not worth it as a default


def default_method(n: int) -> str:
    """The map's default projection for ``n`` images: t-SNE, which kept every class apart on
    clustered vectors where PCA merged some (kNN class agreement 1.00 vs 0.85-0.98; see
    docs/PERFORMANCE.md), up to ``TSNE_DEFAULT_MAX`` images; PCA above, where t-SNE is slow."""
    return "tsne" if n <= TSNE_DEFAULT_MAX else "pca"


def knn_class_agreement(xy: np.ndarray, labels: list[str] | np.ndarray, k: int = 10) -> float:
    """Mean share of each point's ``k`` nearest neighbours in 2-D that have its class:
    how well the map keeps classes apart (1.0 = every neighbourhood is pure)."""
    from sklearn.neighbors import NearestNeighbors

    y = np.asarray(labels)
    k = min(k, len(y) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy)
    return float((y[idx[:, 1:]] == y[:, None]).mean())


def clustered_vectors(
    n_classes: int = 6, per_class: int = 150, dim: int = 512, spread: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic CLIP-like data: unit vectors around ``n_classes`` centres that share a
    large common direction (as CLIP image embeddings do), so the classes differ in a small
    part of the space. Returns ((n, dim) float32 unit rows, (n,) class index)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    common /= np.linalg.norm(common)
    centres = rng.normal(size=(n_classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(n_classes), per_class)
    noise = rng.normal(size=(len(y), dim)) / np.sqrt(dim)
    x = 3.0 * common + 0.35 * centres[y] + 0.35 * spread * noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


def measure_projections(x: np.ndarray, y: np.ndarray, methods: tuple[str, ...] = METHODS, k: int = 10) -> dict[str, dict]:
    """For each method: kNN class agreement in 2-D, trustworthiness (scikit-learn, ``k``
    neighbours) and seconds taken. The measure behind ``DEFAULT_METHOD``."""
    import time

    from sklearn.manifold import trustworthiness

    out = {}
    for method in methods:
        start = time.perf_counter()
        xy = project_2d(x, method)
        seconds = time.perf_counter() - start
        out[method] = {
            "knn_class_agreement": knn_class_agreement(xy, y, k),
            "trustworthiness": float(trustworthiness(x, xy, n_neighbors=k, metric="cosine")),
            "seconds": seconds,
        }
    return out
