"""Errors a page can show carry an app hint (issue 18, plain words): for each condition the
library is called, the ``ClipcoreError`` caught, and ``for_app()`` (what a page and a job's
message show) must match none of tests/app/test_plain_words.py's patterns, while ``str`` (what
the CLI prints) keeps its command or flag."""

from __future__ import annotations

import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.store import Workspace
from clipcore.classify.baseline import baseline_offline_error
from clipcore.classify.evaluation import parse_ks
from clipcore.classify.splits import freeze_split
from clipcore.embedding.models import embedding_set_key, load_model, offline_error, resolve_device
from clipcore.errors import ClipcoreError
from tests.app.test_plain_words import leaks
from tests.helpers import wait_for_job

KEY = embedding_set_key("tiny")


def _raised(call) -> ClipcoreError:
    with pytest.raises(ClipcoreError) as info:
        call()
    return info.value


def _truncate_vectors(ws: Workspace) -> None:
    dirname, gen = ws.query("SELECT dirname, generation FROM embedding_sets WHERE key = ?", (KEY,))[0]
    path = ws.embeddings_dir / dirname / ("vectors.f32" if gen == 0 else f"vectors.{gen}.f32")
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _check(exc: ClipcoreError, cli_words: str, app_words: str) -> None:
    assert not leaks(exc.for_app()), (leaks(exc.for_app()), exc.for_app())
    assert app_words in exc.for_app(), exc.for_app()
    assert cli_words in str(exc), str(exc)


def test_a_missing_workspace_names_ingest_for_the_cli_and_the_home_button_for_the_app(tmp_path):
    exc = _raised(lambda: Workspace(tmp_path / "nowhere", create=False))
    _check(exc, "clipcore ingest DIR --workspace", "Ingest new files")


def test_a_damaged_vectors_file_names_rebuild_for_each_audience(workspace):
    _truncate_vectors(workspace)
    exc = _raised(lambda: workspace.load_embeddings(KEY))
    _check(exc, "embed --rebuild", "Rebuild embeddings")
    exc = _raised(lambda: workspace.embedding_writer(KEY, 512).__enter__())  # never zero-extended
    _check(exc, "embed --rebuild", "Rebuild embeddings")


def test_a_failed_jobs_message_is_worded_for_the_app(workspace):
    """A job's message is read on a page (the job panel), so it is the app's wording."""
    from clipcore.catalog.jobs import get_job
    from clipcore.jobkinds import start_job

    _truncate_vectors(workspace)
    job = wait_for_job(workspace, start_job(workspace, "embed", ["--model", "tiny", "--pretrained", "none"]))
    assert job["status"] == "failed", job
    message = get_job(workspace, job["id"])["message"]
    assert "Rebuild embeddings" in message and not leaks(message), message


def test_unknown_image_ids_and_annotator_names(workspace):
    _check(_raised(lambda: workspace.images([10**9])), "`info`", "Reload the page")
    ids = sorted(workspace.ground_truth())[:1]
    exc = _raised(lambda: lbl.record_batch(workspace, "cover", ids + [10**9], annotator="alice", source={"kind": "cli"}))
    _check(exc, "`labels`", "Reload the page")
    _check(_raised(lambda: lbl.clean_annotator(" ")), "--annotator", "name box")


def test_evaluation_and_split_errors(tmp_path, demo_dir):
    _check(_raised(lambda: parse_ks("")), "--k", "at least one")
    ws = Workspace(tmp_path / "ws")  # nothing ingested: no labels
    _check(_raised(lambda: freeze_split(ws)), "--labels-from-folders", "Label page")


def test_model_errors(tmp_path):
    import torch

    if not torch.cuda.is_available():
        _check(_raised(lambda: resolve_device("cuda")), "--device", "clipcore.toml")
    exc = _raised(lambda: load_model("tiny", None, checkpoint=str(tmp_path / "gone.bin"), device="cpu"))
    _check(exc, "--checkpoint", "clipcore.toml")
    _check(offline_error("ViT-B-32", "openai", "offline"), "download-model", "Download model weights")
    _check(baseline_offline_error("efficientnet_b4", "offline"), "--checkpoint", "Local weights file")
