"""Prompt lab on synthetic embeddings: a planted best prompt must rank first."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.errors import InputError
from clipcore.classify.promptlab import candidate_prompts, suggest_prompts

DIM = 32


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _world(seed: int = 0):
    """Three classes of images around three centres; the current prompt of class "map"
    points half-way to "text", so it loses many maps; one candidate points right at maps."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(3, DIM)))
    labels = ["map", "text", "portrait"]
    y = [labels[i % 3] for i in range(90)]
    X = _unit(centres[[labels.index(t) for t in y]] + 0.35 * rng.normal(size=(90, DIM)))
    current = _unit(np.stack([0.45 * centres[0] + 0.55 * centres[1], centres[1], centres[2]]))
    text_vectors = {"a scan of map": _unit(centres[0] + 0.05 * rng.normal(size=DIM))}  # the planted best

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            if t not in text_vectors:  # every other wording: a weak, noisy direction
                text_vectors[t] = _unit(0.3 * centres[labels.index(t.split()[-1]) if t.split()[-1] in labels else 0] + rng.normal(size=DIM))
            out.append(text_vectors[t])
        return np.stack(out)

    return X, y, labels, current, encode


def test_candidates_are_templates_times_names_and_synonyms():
    c = candidate_prompts(["old_map", "text"], {"old_map": ["chart", " "]}, ["{}", "a scan of {}"])
    assert c["old_map"] == ["old map", "a scan of old map", "chart", "a scan of chart"]
    assert c["text"] == ["text", "a scan of text"]


def test_the_planted_prompt_ranks_first_with_a_positive_gain():
    X, y, labels, current, encode = _world()
    candidates = candidate_prompts(labels, {"map": ["atlas", "chart"]})
    assert "a scan of map" in candidates["map"]
    out = suggest_prompts(X, y, labels, current, candidates, encode, n_folds=5)
    best = out.best("map")
    assert best is not None and best.prompt == "a scan of map"
    assert best.gain > 2 * best.gain_se > 0  # a clear gain, with its uncertainty
    assert out.suggested["map"] == ["a scan of map"]
    assert out.suggested_gain > 0  # chosen on other folds, it still helps on the held-out fold
    ranked = out.per_class["map"]
    assert [c.accuracy for c in ranked] == sorted((c.accuracy for c in ranked), reverse=True)
    assert out.n_images == 90 and out.n_folds == 5


def test_too_few_labelled_images_is_an_input_error():
    X, y, labels, current, encode = _world()
    with pytest.raises(InputError, match="Label more images"):
        suggest_prompts(X[:3], y[:3], labels, current, candidate_prompts(labels), encode)


def test_per_class_contributions_add_up_to_the_suggested_sets_gain():
    X, y, labels, current, encode = _world()
    out = suggest_prompts(X, y, labels, current, candidate_prompts(labels, {"map": ["atlas"]}), encode, n_folds=5)
    assert set(out.contributions) == set(out.suggested) and out.contributions
    assert sum(out.contributions.values()) == pytest.approx(out.suggested_gain_here, abs=1e-9)
    # ...and that sum is the suggested set's accuracy here minus the current set's
    vectors = current.copy()
    for label, (prompt,) in out.suggested.items():
        vectors[labels.index(label)] = encode([prompt])[0]
    pred = (X @ vectors.T).argmax(axis=1)
    accuracy = float((pred == np.asarray([labels.index(t) for t in y])).mean())
    assert out.suggested_gain_here == pytest.approx(accuracy - out.base_accuracy, abs=1e-9)
    assert out.contributions["map"] > 0
