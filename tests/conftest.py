"""Shared fixtures: a small demo collection, a workspace ingested and embedded with the
untrained ``tiny`` model, and an isolated config for app tests. Everything is offline."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# No test may reach a model hub: weights come from the local cache or not at all.
os.environ.setdefault("CLIPCORE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The server-wide job cap counts pid files here: one folder per test run, so parallel
# runs (and the developer's own app) do not count against each other.
os.environ.setdefault("CLIPCORE_JOBS_DIR", tempfile.mkdtemp(prefix="clipcore-test-jobs-"))


@pytest.fixture(scope="session")
def tiny_model():
    """The untrained tiny CLIP (fp32, so results do not depend on the CPU)."""
    from clipcore.embedding.models import load_model

    return load_model("tiny", precision="fp32", device="cpu")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """8 demo images per class in <dir>/<class>/."""
    from clipcore.sources.demo import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, per_class=8, seed=0)
    return out


@pytest.fixture(scope="session")
def _built_workspace(tmp_path_factory, demo_dir, tiny_model) -> Path:
    from clipcore.embedding.pipeline import embed_workspace
    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.store import Workspace

    root = tmp_path_factory.mktemp("ws-template") / "ws"
    ws = Workspace(root)
    ingest_folder(ws, demo_dir, labels_from_folders=True)
    embed_workspace(ws, tiny_model, batch_size=16)
    ws.close()
    return root


@pytest.fixture
def workspace(_built_workspace, tmp_path):
    """A fresh copy of the demo workspace (32 images, ground truth, tiny embeddings)."""
    from clipcore.catalog.store import Workspace

    root = tmp_path / "ws"
    shutil.copytree(_built_workspace, root)
    ws = Workspace(root)
    yield ws
    ws.close()


@pytest.fixture
def app_config(_built_workspace, demo_dir, tmp_path, monkeypatch) -> Path:
    """A clipcore.toml for app tests: tiny model, a copy of the demo workspace.

    Sets CLIPCORE_CONFIG so that AppTest (and a spawned streamlit) use it.
    """
    ws_root = tmp_path / "app-ws"
    shutil.copytree(_built_workspace, ws_root)
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(
        "[model]\n"
        'name = "tiny"\n'
        'precision = "fp32"\n'
        'device = "cpu"\n\n'
        "[workspaces.demo]\n"
        f'path = "{ws_root}"\n'
        f'source = "{demo_dir}"\n'
        "labels_from_folders = true\n"
        "demo = true\n"
    )
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    return cfg
