"""The Ray Data engine on a local Ray (2 CPUs, one half-CPU actor, the tiny model, ~200 JPEGs).

Same vectors, counts and failure reasons as the local engine; a run whose driver is
killed mid-way, or whose model actor is killed mid-way, is completed (by itself or by a
rerun) with nothing embedded twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray engine needs pip install -r requirements-ray.txt")

from clipcore.catalog.ingest import ingest_folder  # noqa: E402
from clipcore.catalog.store import Workspace  # noqa: E402
from clipcore.embedding.pipeline import embed_workspace  # noqa: E402
from clipcore.embedding.ray_engine import _init_ray, embed_workspace_ray  # noqa: E402
from clipcore.sources.demo import generate_demo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PER_CLASS = 50  # 4 classes: 200 JPEGs


@pytest.fixture(scope="module")
def local_ray():
    _init_ray(ray, None, 2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_model):
    """A 200-JPEG workspace (one file deleted and one truncated after ingest), and a copy embedded locally."""
    base = tmp_path_factory.mktemp("ray-collection")
    generate_demo(base / "images", per_class=PER_CLASS, seed=1)
    template = base / "template"
    ws = Workspace(template)
    ingest_folder(ws, base / "images")
    ws.close()
    files = sorted((base / "images" / "cover").iterdir())
    files[0].unlink()
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 3])
    local = base / "local"
    shutil.copytree(template, local)
    ws = Workspace(local)
    report = embed_workspace(ws, tiny_model, batch_size=16, decoder="pillow")
    ws.close()
    return template, local, report


def _copy(template: Path, target: Path) -> Workspace:
    shutil.copytree(template, target)
    return Workspace(target)


def _assert_same_vectors(ws: Workspace, local_root: Path, key: str) -> None:
    local = Workspace(local_root)
    a, b = ws.load_embeddings(key), local.load_embeddings(key)
    assert sorted(a.ids.tolist()) == sorted(b.ids.tolist())
    assert len(set(a.ids.tolist())) == len(a.ids)  # nothing embedded twice
    assert ws.query("SELECT rows FROM embedding_sets WHERE key = ?", (key,))[0][0] == len(a.ids)  # no orphan rows
    order = np.sort(a.ids)
    cos = np.sum(a.vectors[a.rows_of(order)] * b.vectors[b.rows_of(order)], axis=1)
    assert float(cos.min()) >= 0.999
    local.close()


def test_ray_engine_matches_local_engine(local_ray, collection, tiny_model, tmp_path):
    template, local_root, local_report = collection
    assert local_report.embedded == 4 * PER_CLASS - 2 and len(local_report.failed) == 2
    ws = _copy(template, tmp_path / "ws")
    report = embed_workspace_ray(ws, tiny_model, actors=1, batch_size=16)
    assert report.engine == "ray" and report.embedded == local_report.embedded
    assert report.stages["decode"] > 0 and report.stages["model"] > 0 and "import" in report.stages
    assert sorted((f["id"], f["reason"], f["path"]) for f in report.failed) == sorted(
        (f["id"], f["reason"], f["path"]) for f in local_report.failed
    )
    _assert_same_vectors(ws, local_root, tiny_model.info.key)
    assert not list((ws.root / "shards").rglob("*.parquet"))  # imported shards are removed
    again = embed_workspace_ray(ws, tiny_model, batch_size=16)
    assert again.embedded == 0 and len(again.failed) == 2
    ws.close()


def test_killed_run_is_completed_by_a_rerun_without_duplicates(local_ray, collection, tiny_model, tmp_path):
    template, local_root, local_report = collection
    ws = _copy(template, tmp_path / "ws")
    shard_dir = tmp_path / "shards"
    cmd = [
        sys.executable, "-m", "clipcore", "embed", "--engine", "ray", "--address", "auto",
        "--workspace", str(ws.root), "--model", "tiny", "--device", "cpu", "--precision", "fp32",
        "--batch-size", "8", "--shard-dir", str(shard_dir), "--quiet", "--json",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLIPCORE_OFFLINE": "1", "CLIPCORE_CONFIG": str(ROOT / "clipcore.toml")}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(shard_dir.glob("*.parquet"))) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the driver dies mid-run: its workers and actor go with it
    finally:
        proc.wait()
    assert ws.missing_embeddings(tiny_model.info.key)  # it really was interrupted
    report = embed_workspace_ray(ws, tiny_model, batch_size=16, shard_dir=shard_dir)
    assert sorted(f["id"] for f in report.failed) == sorted(f["id"] for f in local_report.failed)
    assert report.embedded == local_report.embedded
    _assert_same_vectors(ws, local_root, tiny_model.info.key)
    ws.close()


def test_killed_actor_mid_run_leaves_nothing_duplicated(local_ray, collection, tiny_model, tmp_path):
    """SIGKILL the model actor once it has written a shard; the run (or its rerun) completes."""
    template, local_root, local_report = collection
    _copy(template, tmp_path / "ws").close()
    shard_dir = tmp_path / "shards"
    outcome: dict = {}

    def run() -> None:
        ws = Workspace(tmp_path / "ws")
        try:
            outcome["report"] = embed_workspace_ray(ws, tiny_model, batch_size=8, shard_dir=shard_dir)
        except Exception as exc:  # a dead actor may end the run; the rerun below must then finish it
            outcome["error"] = exc
        finally:
            ws.close()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 600
    victim = None
    while victim is None and worker.is_alive() and time.monotonic() < deadline:
        shards = list(shard_dir.glob("*.parquet"))
        if shards:  # shard names are <node>-<actor pid>-<uuid>.parquet
            victim = int(shards[0].name.rsplit("-", 2)[-2])
        time.sleep(0.1)
    assert victim is not None, outcome
    os.kill(victim, signal.SIGKILL)
    worker.join(600)
    assert not worker.is_alive()
    ws = Workspace(tmp_path / "ws")
    rerun = embed_workspace_ray(ws, tiny_model, batch_size=16, shard_dir=shard_dir)
    first = outcome.get("report")
    assert (first.embedded if first else 0) + rerun.embedded == local_report.embedded
    assert sorted(f["id"] for f in rerun.failed) == sorted(f["id"] for f in local_report.failed)
    _assert_same_vectors(ws, local_root, tiny_model.info.key)
    ws.close()
