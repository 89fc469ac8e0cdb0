"""Zero-shot classification: prompts -> class embeddings -> per-image class probabilities.

A class embedding is the re-normalised mean of its normalised prompt embeddings (the
CLIP_benchmark recipe); probabilities are a softmax over the model's logit scale
times cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clipcore.errors import InputError
from clipcore.models import ClipModel
from clipcore.prompts import PromptSet, expand_prompts


@dataclass(frozen=True)
class ZeroShotClassifier:
    """Class embeddings of a prompt set for one model.

    ``labels`` (C,) class names; ``class_vectors`` (C, dim) float32, rows unit-norm.
    """

    labels: list[str]
    class_vectors: np.ndarray
    logit_scale: float
    model_key: str

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of each image to each class: (n, C) float32."""
        return np.asarray(vectors @ self.class_vectors.T, dtype=np.float32)

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Softmax over classes of logit_scale * cosine: (n, C) float32, rows sum to 1."""
        logits = self.logit_scale * self.scores(vectors)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(predicted class per image, confidence per image (n,) float32)."""
        proba = self.predict_proba(vectors)
        best = proba.argmax(axis=1)
        return [self.labels[i] for i in best], proba[np.arange(len(best)), best]


def build_classifier(model: ClipModel, prompt_set: PromptSet) -> ZeroShotClassifier:
    """Embed every prompt (through the templates) and average per class.

    Raises:
        InputError: a class without prompts, or fewer than two classes.
    """
    expanded = expand_prompts(prompt_set)
    if len(expanded) < 2:
        raise InputError(f"a zero-shot classifier needs at least 2 classes; the set has {len(expanded)}.")
    labels, rows = [], []
    for label, prompts in expanded.items():
        if not prompts:
            raise InputError(f"class {label!r} has no prompt.")
        emb = model.encode_texts(prompts)
        mean = emb.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-8:
            raise InputError(f"the prompts of class {label!r} cancel out; change one.")
        labels.append(label)
        rows.append(mean / norm)
    return ZeroShotClassifier(labels, np.stack(rows).astype(np.float32), model.logit_scale, model.info.key)
