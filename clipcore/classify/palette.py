"""One colour-blind-safe palette (Okabe & Ito, 2008) with a fixed colour per method and per
class, shared by every chart of the app and by the HTML report, so that a colour means the
same thing everywhere."""

from __future__ import annotations

from typing import Sequence

# Okabe-Ito, without yellow (too pale on white) and black (kept for text and axes).
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#332288")

# Each method's fixed colour is declared with the method (classify.fewshot.CLASSIFIER_METHODS).
BASELINE_COLOUR = "#D55E00"  # vermillion: the EfficientNet baseline, trained or tiny
OTHER_COLOURS = ("#999999", "#332288", "#882255", "#44AA99")


def method_colour(method: str) -> str:
    """The fixed colour of a method, given its internal name (``logreg``) or display name
    (``logistic regression``, ``zero-shot (prompts only): my set v2``); baselines share one."""
    from clipcore.classify.fewshot import CLASSIFIER_METHODS

    name = str(method).split(" · ")[0]  # "<method> · <model>" (several models) keeps the method's colour
    if name in CLASSIFIER_METHODS:
        return CLASSIFIER_METHODS[name].colour
    # A display title (the stored error-rate table is keyed by titles), longest first.
    for spec in sorted(CLASSIFIER_METHODS.values(), key=lambda m: -len(m.title)):
        if name.startswith(spec.title):
            return spec.colour
    lowered = name.lower()
    if "efficientnet" in lowered or "baseline" in lowered or lowered.startswith("tiny"):
        return BASELINE_COLOUR
    return OTHER_COLOURS[sum(map(ord, name)) % len(OTHER_COLOURS)]


def class_colours(classes: Sequence[str]) -> dict[str, str]:
    """A fixed colour per class: the classes sorted by name take the palette in order (cycling
    past eight), so the same collection always gets the same colours."""
    return {c: OKABE_ITO[i % len(OKABE_ITO)] for i, c in enumerate(sorted(set(map(str, classes))))}
