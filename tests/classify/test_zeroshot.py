"""Zero-shot: whole-workspace predictions, evaluation, cell images, comparison, CSV, CLI."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from clipcore import cli
from clipcore.errors import InputError
from clipcore.classify.metrics import accuracy
from clipcore.classify.prompts import PromptSet
from clipcore.classify.zeroshot import (
    build_classifier,
    cell_image_ids,
    classify_matrix,
    compare_results,
    evaluate_result,
    prediction_rows,
    predictions_csv,
)

TWO = PromptSet("two", {"cover": ["book cover"], "text": ["printed text", "cursive ideograms"]})
FOUR = PromptSet(
    "four",
    {"cover": ["book binding"], "text": ["printed text"], "blank page": ["empty page"], "illustration": ["a picture"]},
)


@pytest.fixture
def matrix(workspace, tiny_model):
    return workspace.load_embeddings(tiny_model.info.key)


def test_classify_matrix_gives_a_distribution_per_image(matrix, tiny_model):
    result = classify_matrix(build_classifier(tiny_model, TWO), matrix)
    assert result.labels == ["cover", "text"]
    assert result.proba.shape == (len(matrix.ids), 2)
    assert np.allclose(result.proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(result.ids, matrix.ids)
    best = result.proba.argmax(axis=1)
    assert result.predicted == [result.labels[i] for i in best]
    assert np.allclose(result.confidence, result.proba[np.arange(len(best)), best])


def test_classifier_and_embeddings_must_share_a_model(matrix, tiny_model):
    clf = build_classifier(tiny_model, TWO)
    other = type(clf)(clf.labels, clf.class_vectors, clf.logit_scale, "ViT-B-32/laion")
    with pytest.raises(InputError, match="same model"):
        classify_matrix(other, matrix)


def test_evaluation_only_counts_images_of_the_sets_classes(workspace, matrix, tiny_model):
    truth = workspace.ground_truth()
    result = classify_matrix(build_classifier(tiny_model, TWO), matrix)
    summary = evaluate_result(result, truth)
    assert summary["n"] == 16  # 8 covers + 8 text pages
    assert summary["left_out"] == {"blank page": 8, "illustration": 8}
    pred = dict(zip(result.ids.tolist(), result.predicted))
    ids = summary["image_ids"]
    assert summary["accuracy"] == pytest.approx(accuracy([truth[i] for i in ids], [pred[i] for i in ids]))
    m = np.asarray(summary["confusion_matrix"]["matrix"])
    assert summary["confusion_matrix"]["labels"] == ["cover", "text"] and m.sum() == 16
    # Each cell's images are exactly the images counted in that cell, most confident first.
    conf = dict(zip(result.ids.tolist(), result.confidence.tolist()))
    for i, t in enumerate(["cover", "text"]):
        for j, p in enumerate(["cover", "text"]):
            cell = cell_image_ids(result, truth, t, p)
            assert len(cell) == m[i, j]
            assert all(truth[k] == t and pred[k] == p for k in cell)
            assert [conf[k] for k in cell] == sorted((conf[k] for k in cell), reverse=True)
    assert evaluate_result(result, {}) is None


def test_compare_uses_the_same_images_for_both_versions(workspace, matrix, tiny_model):
    truth = workspace.ground_truth()
    a = classify_matrix(build_classifier(tiny_model, TWO), matrix)
    b = classify_matrix(build_classifier(tiny_model, FOUR), matrix)
    cmp = compare_results(a, b, truth)
    assert cmp["n"] == 16
    assert cmp["a"]["image_ids"] == cmp["b"]["image_ids"]
    assert cmp["accuracy_difference"] == pytest.approx(cmp["b"]["accuracy"] - cmp["a"]["accuracy"])
    # B still predicts over its four classes, so its matrix has all four labels.
    assert cmp["b"]["confusion_matrix"]["labels"] == list(FOUR.classes)
    disjoint = classify_matrix(build_classifier(tiny_model, PromptSet("x", {"p": ["a"], "q": ["b"]})), matrix)
    assert compare_results(a, disjoint, truth)["accuracy_difference"] is None


def test_csv_has_path_prediction_confidence_and_every_class_score(workspace, matrix, tiny_model):
    result = classify_matrix(build_classifier(tiny_model, TWO), matrix)
    paths = workspace.paths(result.ids.tolist())
    rows = list(csv.DictReader(io.StringIO(predictions_csv(result, paths))))
    assert len(rows) == len(result.ids)
    assert list(rows[0]) == ["path", "predicted", "confidence", "score: cover", "score: text"]
    for row, dict_row in zip(rows, prediction_rows(result, paths)):
        assert row["path"] == dict_row["path"] and row["predicted"] == dict_row["predicted"]
        scores = [float(row["score: cover"]), float(row["score: text"])]
        assert sum(scores) == pytest.approx(1.0, abs=1e-4)
        assert float(row["confidence"]) == pytest.approx(max(scores), abs=1e-6)


def test_cli_zeroshot_json(workspace, tmp_path, capsys):
    prompts = tmp_path / "prompts.yaml"
    prompts.write_text("cover: [book cover]\ntext:\n  - printed text\n")
    code = cli.main(["zeroshot", "--prompts", str(prompts), "--workspace", str(workspace.root), "--model", "tiny", "--precision", "fp32", "--json", "--quiet"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["predictions"]) == 32
    assert set(out["predictions"][0]) == {"id", "path", "class", "confidence"}
    assert {p["class"] for p in out["predictions"]} <= {"cover", "text"}
    assert 0.0 <= out["accuracy"] <= 1.0 and out["balanced_accuracy"] is not None
    assert out["confusion_matrix"]["labels"] == ["cover", "text"]
    assert sum(map(sum, out["confusion_matrix"]["matrix"])) == 16
    assert out["warning"] == "untrained model - results are not meaningful"


def test_cli_zeroshot_bad_prompt_file_exits_2(workspace, tmp_path, capsys):
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"cover": ["book cover"]}))
    code = cli.main(["zeroshot", "--prompts", str(prompts), "--workspace", str(workspace.root), "--model", "tiny", "--json"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "at least 2 classes" in err and err.count("\n") == 1
