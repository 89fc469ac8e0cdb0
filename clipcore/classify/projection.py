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
