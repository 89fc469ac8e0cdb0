"""Errors carry one hint per audience: the CLI prints its command, a page shows its action."""

from __future__ import annotations

import pickle

import pytest

from clipcore.catalog import labels as lbl
from clipcore.embedding.models import offline_error
from clipcore.errors import ClipcoreError, InputError
from ui.core.text import app_text, md


def test_cli_hint_is_in_str_and_app_hint_in_for_app():
    exc = InputError("no label batch 'abc'.", cli_hint="Batch ids are listed by `labels --history`.",
                     app_hint="The History view lists them.")
    assert str(exc) == "no label batch 'abc'. Batch ids are listed by `labels --history`."
    assert exc.for_app() == "no label batch 'abc'. The History view lists them."
    assert app_text(exc) == exc.for_app() and "History view" in md(exc) and "labels" not in md(exc).split("History")[0][-20:]
    again = pickle.loads(pickle.dumps(exc))  # a job's error crosses a process boundary
    assert again.for_app() == exc.for_app() and str(again) == str(exc)
    assert str(ClipcoreError("plain")) == ClipcoreError("plain").for_app() == "plain"


def test_library_errors_name_the_command_for_the_cli_and_the_button_for_the_app(workspace):
    with pytest.raises(InputError) as caught:
        lbl.revert_batch(workspace, "f13c83ef", annotator="alice")
    assert "labels --history" in str(caught.value) and "History view" in caught.value.for_app()
    assert "--" not in caught.value.for_app()
    offline = offline_error("ViT-B-32", "laion2b_s34b_b79k", "offline mode is on")
    assert "python -m clipcore download-model" in str(offline) and "--model tiny" in str(offline)
    assert "python" not in offline.for_app() and "--" not in offline.for_app()
    assert "Download model weights" in offline.for_app()
