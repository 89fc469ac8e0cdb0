"""Whole-collection predictions: chunked = in-memory, stored and reused, stale on change,
and a `predict` run killed with SIGKILL leaves the store clean for the next run.
Computed with the untrained tiny model: the numbers mean nothing, only their agreement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from clipcore.catalog.labels import record_batch
from clipcore.classify import predictions
from clipcore.classify.fewshot import predict_unlabelled
from clipcore.classify.prompts import save_prompt_set
from clipcore.classify.zeroshot import build_classifier, classify_matrix
from clipcore.catalog.store import EmbeddingMatrix
from tests.helpers import ROOT, run_cli

PROMPTS = {"cover": ["a book cover"], "text": ["a page of printed text"], "map": ["an old map"]}


def _cfg(tmp_path):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text('[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n')
    return {"CLIPCORE_CONFIG": str(cfg)}


def test_chunked_zero_shot_equals_in_memory(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    clf = build_classifier(tiny_model, save_prompt_set(workspace, "s", PROMPTS))
    whole = clf.predict_proba(np.asarray(matrix.vectors))
    seen = []
    chunked = classify_matrix(clf, matrix, chunk=5, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(chunked.proba, whole, rtol=1e-6, atol=1e-7)
    assert seen[-1] == (len(matrix.ids), len(matrix.ids)) and len(seen) == -(-len(matrix.ids) // 5)


def test_chunked_few_shot_equals_one_chunk(workspace, tiny_model):
    matrix = workspace.load_embeddings(tiny_model.info.key)
    ids = [int(i) for i in matrix.ids]
    record_batch(workspace, "a", ids[:4], annotator="t", source={"kind": "test"})
    record_batch(workspace, "b", ids[4:8], annotator="t", source={"kind": "test"})
    one = predict_unlabelled(workspace, matrix, method="logreg", source="labels", chunk=10_000)
    small = predict_unlabelled(workspace, matrix, method="logreg", source="labels", chunk=3)
    assert np.array_equal(one.ids, small.ids) and not set(ids[:8]) & set(one.ids.tolist())
    np.testing.assert_allclose(small.proba, one.proba, rtol=1e-6, atol=1e-7)


def test_stored_result_is_reused_and_goes_stale(workspace, tiny_model):
    key = tiny_model.info.key
    matrix = workspace.load_embeddings(key)
    ps = save_prompt_set(workspace, "s", PROMPTS)
    version = workspace.embedding_version(key)
    stored = predictions.predict_zero_shot(workspace, matrix, tiny_model, ps, chunk=7)
    again = predictions.load(workspace, "zero_shot", key, "s")
    assert again is not None and again.is_current(version, predictions.zero_shot_version(ps))
    whole = classify_matrix(build_classifier(tiny_model, ps), matrix)
    assert np.array_equal(again.ids, whole.ids)
    np.testing.assert_allclose(again.proba, whole.proba, atol=1e-3)  # stored as float16
    assert again.created_at == stored.created_at  # read back, not recomputed
    # prompts change -> stale (the old result is still there to show)
    ps2 = save_prompt_set(workspace, "s", {**PROMPTS, "map": ["a printed map"]})
    assert not again.is_current(version, predictions.zero_shot_version(ps2))
    # embeddings change -> stale
    workspace.forget_embeddings([int(matrix.ids[0])])
    assert not again.is_current(workspace.embedding_version(key), predictions.zero_shot_version(ps))
    # recomputing replaces the files, leaving one pair
    predictions.predict_zero_shot(workspace, workspace.load_embeddings(key), tiny_model, ps2)
    assert len(list(predictions.folder(workspace).glob("*.npy"))) == 2
    assert len(predictions.load(workspace, "zero_shot", key, "s").ids) == len(matrix.ids) - 1


def test_few_shot_goes_stale_when_labels_change(workspace, tiny_model):
    key = tiny_model.info.key
    matrix = workspace.load_embeddings(key)
    ids = [int(i) for i in matrix.ids]
    record_batch(workspace, "a", ids[:3], annotator="t", source={"kind": "test"})
    record_batch(workspace, "b", ids[3:6], annotator="t", source={"kind": "test"})
    stored = predictions.predict_few_shot(workspace, matrix, "logreg", source="labels", chunk=4)
    assert stored.meta["train_counts"] == {"a": 3, "b": 3} and len(stored.ids) == len(ids) - 6
    version = workspace.embedding_version(key)
    assert stored.is_current(version, predictions.few_shot_version(workspace, None))
    record_batch(workspace, "b", ids[6:7], annotator="t", source={"kind": "test"})
    assert not stored.is_current(version, predictions.few_shot_version(workspace, None))
    pred = predictions.as_few_shot_prediction(stored)
    assert pred.method == "logreg" and pred.classes == ["a", "b"]


def test_cli_predict_and_restart_after_kill(workspace, tiny_model, tmp_path):
    save_prompt_set(workspace, "s", PROMPTS)
    root = str(workspace.root)
    env = _cfg(tmp_path)
    done = run_cli("predict", "--workspace", root, "--zero-shot", "--json", "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    first = predictions.load(workspace, "zero_shot", tiny_model.info.key, "s")
    assert first is not None and len(first.ids) == len(workspace.load_embeddings(tiny_model.info.key).ids)
    # A run killed with SIGKILL mid-write: simulate by leaving temporaries and killing a live run.
    predictions.folder(workspace).joinpath("tmp-zero_shot-dead.proba.npy").write_bytes(b"half")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "CLIPCORE_OFFLINE": "1", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipcore", "predict", "--workspace", root, "--zero-shot", "--chunk", "1", "--quiet"],
        cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # not a timing assertion: kill it wherever it is
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = predictions.load(workspace, "zero_shot", tiny_model.info.key, "s")
    assert kept is not None
    np.testing.assert_allclose(kept.proba, first.proba)  # either the old result or a complete new one
    again = run_cli("predict", "--workspace", root, "--zero-shot", "--json", "--quiet", env=env)
    assert again.returncode == 0, again.stderr
    assert not list(predictions.folder(workspace).glob("tmp-*"))
    assert len(list(predictions.folder(workspace).glob("*.npy"))) == 2


def test_cli_predict_needs_a_prompt_set(workspace, tmp_path):
    out = run_cli("predict", "--workspace", str(workspace.root), "--zero-shot", env=_cfg(tmp_path))
    assert out.returncode == 2 and "prompt set" in out.stderr


def test_predict_is_a_job(workspace, tmp_path, monkeypatch):
    from clipcore.catalog.jobs import start_job
    from tests.helpers import wait_for_job

    for k, v in _cfg(tmp_path).items():
        monkeypatch.setenv(k, v)
    save_prompt_set(workspace, "s", PROMPTS)
    job = wait_for_job(workspace, start_job(workspace, "predict", ["--zero-shot", "--quiet"]))
    assert job["status"] == "done", job
    assert job["result"]["rows"] == job["total"] and job["done"] == job["total"]
