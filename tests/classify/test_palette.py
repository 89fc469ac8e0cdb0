"""One palette: a fixed colour per method (by internal or display name) and per class."""

from __future__ import annotations

from clipcore.classify.fewshot import METHOD_TITLES
from clipcore.classify.palette import BASELINE_COLOUR, OKABE_ITO, class_colours, method_colour


def test_each_method_has_its_own_fixed_colour_under_either_name():
    colours = {m: method_colour(m) for m in METHOD_TITLES}
    assert len(set(colours.values())) == len(colours)  # no two methods share a colour
    for m, title in METHOD_TITLES.items():
        assert method_colour(title) == colours[m]
    assert method_colour("zero-shot (prompts only): my set v2") == colours["zero_shot"]
    assert method_colour("tiny (random-init, not meaningful)") == BASELINE_COLOUR
    assert method_colour("efficientnet_b4") == BASELINE_COLOUR
    assert BASELINE_COLOUR not in colours.values()  # zero-shot and the baseline never look alike


def test_class_colours_do_not_depend_on_order():
    assert class_colours(["text", "map", "cover"]) == class_colours(["cover", "map", "text", "map"])
    assert class_colours(["a", "b"]) == {"a": OKABE_ITO[0], "b": OKABE_ITO[1]}
