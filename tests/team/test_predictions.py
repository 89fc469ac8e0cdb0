"""Stored whole-collection predictions: computed in chunks, equal to the in-memory ones,
current only for the embeddings they were computed on, written whole or not at all; the
`predict` CLI; the Label page reading them when the collection is too large to score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.classify.prompts import ensure_reference_prompt_set, save_prompt_set
from clipcore.classify.zeroshot import build_classifier
from clipcore.team import predictions, ranking
from tests.helpers import app_workspace, run_cli

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = {"cover": ["a book cover"], "text": ["printed text"], "illustration": ["a picture"], "blank page": ["an empty page"]}


def _store_zero_shot(ws, tiny_model, chunk):
    ps = save_prompt_set(ws, "mine", PROMPTS, [])
    classifier = build_classifier(tiny_model, ps)
    matrix = ws.load_embeddings(tiny_model.info.key)
    version = ws.embedding_version(tiny_model.info.key)
    ref = predictions.zero_shot_ref(ps.name, ps.version)
    predictions.store_predictions(
        ws, matrix, "zero-shot", ref, list(classifier.labels), predictions.vector_scorer(classifier.predict_proba, matrix.vectors),
        embedding_version=version, chunk=chunk,
    )
    return classifier, matrix, ref, version


def test_chunked_stored_zero_shot_equals_the_in_memory_scores(workspace, tiny_model):
    classifier, matrix, ref, version = _store_zero_shot(workspace, tiny_model, chunk=5)  # 32 rows: 7 chunks
    stored = predictions.load_predictions(workspace, matrix.key, "zero-shot", ref, embedding_version=version, source={})
    expected = ranking.zero_shot_probabilities(classifier, matrix, {})
    assert stored is not None and stored.classes == expected.classes and stored.honest
    assert np.array_equal(stored.ids, expected.ids)
    assert stored.proba.dtype == np.float16
    np.testing.assert_allclose(np.asarray(stored.proba, np.float32), expected.proba, atol=1e-3)
    assert stored.predictions()[0] == expected.predictions()[0]


def test_stored_scores_go_stale_with_the_embeddings_and_a_rerun_replaces_them(workspace, tiny_model):
    _, matrix, ref, version = _store_zero_shot(workspace, tiny_model, chunk=8)
    workspace.forget_embeddings([int(matrix.ids[0])])
    new_version = workspace.embedding_version(matrix.key)
    assert new_version != version
    assert predictions.load_predictions(workspace, matrix.key, "zero-shot", ref, embedding_version=new_version, source={}) is None
    folder = predictions.predictions_dir(workspace, matrix.key)
    (folder / ".half-written-by-a-killed-job").mkdir()  # what a kill -9 mid-write leaves
    _store_zero_shot_again = predictions.store_predictions(
        workspace, workspace.load_embeddings(matrix.key), "zero-shot", ref, ["a", "b"],
        lambda a, b: np.tile([0.25, 0.75], (b - a, 1)), embedding_version=new_version,
    )
    assert _store_zero_shot_again["rows"] == len(matrix.ids) - 1
    again = predictions.load_predictions(workspace, matrix.key, "zero-shot", ref, embedding_version=new_version, source={})
    assert again is not None and again.classes == ["a", "b"] and len(again.ids) == len(matrix.ids) - 1
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 1  # replaced, not added


def test_latest_few_shot_result_is_found_whatever_labels_it_came_from(workspace, tiny_model):
    ids = workspace.image_ids().tolist()
    truth = workspace.ground_truth()
    for c in ("cover", "text"):
        lbl.record_batch(workspace, c, [i for i in ids if truth[i] == c][:4], annotator="ada", source={})
    matrix = workspace.load_embeddings(tiny_model.info.key)
    version = workspace.embedding_version(matrix.key)
    probs = ranking.few_shot_probabilities(matrix, lbl.current_labels(workspace), out_of_fold=True)
    ref = predictions.few_shot_ref(lbl.label_events_version(workspace), out_of_fold=True)
    predictions.store_probabilities(workspace, matrix, probs, "few-shot", ref, embedding_version=version)
    lbl.record_batch(workspace, "text", [ids[-1]], annotator="ada", source={})  # labels move on
    found = predictions.latest_stored(workspace, matrix.key, "few-shot", embedding_version=version, out_of_fold=True)
    assert found is not None and found["ref"] == ref and found["honest"] == probs.honest
    assert predictions.latest_stored(workspace, matrix.key, "few-shot", embedding_version=version, out_of_fold=False) is None


def test_predict_cli_stores_zero_and_few_shot_scores(workspace):
    ensure_reference_prompt_set(workspace)
    ws = str(workspace.root)
    done = run_cli("predict", "--zero-shot", "--model", "tiny", "--workspace", ws, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["kind"] == "zero-shot" and out["rows"] == 32 and out["ref"]["prompt_set"] == "reference study"
    failed = run_cli("predict", "--few-shot", "--model", "tiny", "--workspace", ws)
    assert failed.returncode == 2 and "at least 2 classes" in failed.stderr and "Traceback" not in failed.stderr


@pytest.fixture
def large(monkeypatch):
    """Treat the 32-image demo as a collection too large to score in the page."""
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "10")


def test_label_page_reads_stored_scores_when_the_collection_is_large(app_config, large):
    ws = app_workspace(app_config)
    ensure_reference_prompt_set(ws)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("app_pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception
    assert any("Zero-shot and few-shot scores" in e.label for e in at.expander)
    assert "Most confident zero-shot" not in at.selectbox(key="label_kind").options  # nothing stored yet: not offered
    done = run_cli("predict", "--zero-shot", "--model", "tiny", "--precision", "fp32", "--device", "cpu",
                   "--workspace", str(ws.root))
    assert done.returncode == 0, done.stderr
    at.run()
    assert not at.exception
    kind = at.selectbox(key="label_kind")
    assert "Most confident zero-shot" in kind.options
    kind.select("zero-shot").run()
    assert not at.exception
