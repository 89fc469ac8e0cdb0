"""Evaluate's Checks panel text: display names, plain words, the banner's warning left out."""

from __future__ import annotations

from clipcore import UNTRAINED_WARNING

from ui.evaluate.checks import collect_checks, plain_check


def test_internal_method_names_become_display_names():
    out = plain_check("logreg with 1 example per class has error 10.0%, far below zero-shot's 60.0%")
    assert out.startswith("Logistic regression with 1 example")
    assert "logreg" not in out
    assert plain_check("knn and random_forest") == "K nearest neighbours and random forest"
    assert plain_check("knnx stays") == "Knnx stays"  # whole words only


def test_checks_are_listed_once_without_the_untrained_banner():
    checks = collect_checks([UNTRAINED_WARNING, "a", "a", " "], ["b"])
    assert checks == ["A", "Baseline: B"]
