"""Downloading weights from a fake model hub on loopback: byte progress, resume after a
dropped connection, the CLI's progress lines, open_clip finding the file offline, and
the offline failure staying fast.

The hub serves the untrained tiny model's state dict under ViT-B-32/laion2b_s34b_b79k's
hub repo and file name (a 13 MB stand-in for the real 600 MB file): these tests check
the transfer and the cache layout, not pretrained weights.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clipcore.errors import ModelUnavailableError
from tests.embedding.fakehub import FakeHub
from tests.helpers import ROOT, run_cli

MODEL, TAG = "ViT-B-32", "laion2b_s34b_b79k"
REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
FILE = "open_clip_model.safetensors"  # what open_clip tries first for this tag


@pytest.fixture(scope="module")
def payload() -> bytes:
    import open_clip
    import torch
    from safetensors.torch import save

    from clipcore.embedding.models import register_tiny_model

    register_tiny_model()
    torch.manual_seed(0)
    state = open_clip.create_model("tiny").state_dict()
    return save({k: v.detach().contiguous().clone() for k, v in state.items()})


@pytest.fixture
def hub(payload):
    with FakeHub({f"{REPO}/{FILE}": payload}) as fake:
        yield fake


@pytest.fixture
def online(monkeypatch, tmp_path, hub):
    """Network allowed for this test only, the hub cache in tmp, HF_ENDPOINT at the fake."""
    import huggingface_hub.constants as hfc

    cache = tmp_path / "hf" / "hub"
    monkeypatch.delenv("CLIPCORE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub read these once, at import (the test session starts offline).
    monkeypatch.setattr(hfc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hfc, "HF_HUB_CACHE", str(cache))
    return cache


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_progress_reaches_total_and_the_file_lands_in_the_hub_cache(online, hub, payload):
    from clipcore.embedding.models import fetch_weights, find_cached_weights

    calls: list[tuple[int, int | None]] = []
    path = fetch_weights(MODEL, TAG, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (len(payload), len(payload))
    assert len(calls) > 3 and all(t == len(payload) for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert sha(Path(path).read_bytes()) == sha(payload)
    assert str(online) in str(path) and "snapshots" in str(path)
    assert find_cached_weights(MODEL, TAG) == Path(path)  # the offline lookup sees it now
    assert not list(online.rglob("*.clipcore-partial"))


def test_a_dropped_download_resumes_with_a_range_request(online, hub, payload):
    from clipcore.embedding.models import fetch_weights

    cut = 3_000_000
    hub.drop_after, hub.refuse_after_drop = cut, True
    with pytest.raises(ModelUnavailableError, match="download failed.*resum"):
        fetch_weights(MODEL, TAG)
    partial = list(online.rglob("*.clipcore-partial"))
    assert len(partial) == 1 and partial[0].stat().st_size == cut
    assert [r for _, _, r in hub.gets()] == [None, f"bytes={cut}-"]  # its own retry was refused (503)

    hub.allow()
    calls: list[tuple[int, int | None]] = []
    path = fetch_weights(MODEL, TAG, progress=lambda d, t: calls.append((d, t)))
    assert hub.gets()[-1][2] == f"bytes={cut}-"  # the rerun asked only for the rest
    assert calls[0] == (cut, len(payload)) and calls[-1] == (len(payload), len(payload))
    assert sha(Path(path).read_bytes()) == sha(payload)
    assert not partial[0].exists()


def test_a_second_download_of_the_same_file_waits_its_turn(online, hub, payload):
    import fcntl

    from clipcore.embedding.models import fetch_weights

    blobs = online / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" / "blobs"
    blobs.mkdir(parents=True)
    with open(blobs / f"{sha(payload)}.clipcore-partial.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another process downloading it would
        with pytest.raises(ModelUnavailableError, match="another download"):
            fetch_weights(MODEL, TAG)
    assert hub.gets() == []
    assert sha(Path(fetch_weights(MODEL, TAG)).read_bytes()) == sha(payload)


def test_cli_download_shows_progress_and_open_clip_then_loads_it_offline(hub, payload, tmp_path):
    env = {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "CLIPCORE_OFFLINE": "", "HF_HUB_OFFLINE": ""}
    hub.delay_per_chunk_s = 0.05  # a few seconds on loopback, so more than one progress line
    done = run_cli("download-model", "--model", MODEL, "--pretrained", TAG, env=env, timeout=240)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith(f"downloading {MODEL}/{TAG}:")]
    assert lines and "MB/s" in lines[-1], done.stderr
    assert lines[-1].split(": ")[1].startswith(f"{len(payload) / 1e6:,.1f} MB of {len(payload) / 1e6:,.1f} MB")
    path = done.stdout.strip().rsplit(" are at ", 1)[1]

    # open_clip's own loading path, offline, finds the same file; the tiny model loads it.
    check = (
        "import sys, open_clip, torch\n"
        "from safetensors.torch import load_file\n"
        "from clipcore.embedding.models import register_tiny_model\n"
        f"p = open_clip.download_pretrained(open_clip.get_pretrained_cfg({MODEL!r}, {TAG!r}))\n"
        "print(p)\n"
        "register_tiny_model()\n"
        "m = open_clip.create_model('tiny')\n"
        "print(m.load_state_dict(load_file(p)))\n"
    )
    offline = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1",
               "HF_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=offline, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == path
    assert "All keys matched successfully" in out.stdout
    gets = len(hub.gets())
    again = run_cli("download-model", "--model", MODEL, "--pretrained", TAG, env=env, timeout=240)
    assert again.returncode == 0 and len(hub.gets()) == gets  # cached: nothing fetched again


def test_offline_still_fails_fast_and_clearly(tmp_path):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    done = run_cli("download-model", "--model", MODEL, "--pretrained", TAG, env=env)  # CLIPCORE_OFFLINE=1
    assert done.returncode == 2
    assert "offline mode is on" in done.stderr and "--checkpoint" in done.stderr
    # Not offline, but nothing listens at the endpoint: the probe fails fast, naming the host.
    unreachable = run_cli("download-model", "--model", MODEL, "--pretrained", TAG,
                          env={**env, "CLIPCORE_OFFLINE": "", "HF_HUB_OFFLINE": ""})
    assert unreachable.returncode == 2 and "127.0.0.1 is unreachable" in unreachable.stderr
