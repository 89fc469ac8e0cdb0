"""AppTest of Home's "Download model weights" panel: shown while the configured model's
weights are missing (the app runs on tiny), admin-only where roles apply; the download is
a background job against a fake hub on loopback, its bar reads "x MB of y MB, z MB/s"
from the job table, and when it is done the app tries the downloaded file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from tests.embedding.fakehub import FakeHub
from tests.helpers import app_workspace, wait_for_job

ROOT = Path(__file__).resolve().parents[2]
REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"


def _payload() -> bytes:
    """A 2 MB safetensors file that is not a ViT-B-32: the app must say it could not load it."""
    import torch
    from safetensors.torch import save

    return save({"not_clip": torch.zeros(512 * 1024)})


PAYLOAD = _payload()
MB = f"{len(PAYLOAD) / 1e6:,.1f}"
LEAD, ALICE = "lead@lab.org", "alice@lab.org"


@pytest.fixture
def vit_config(app_config, tmp_path, monkeypatch):
    """The demo workspace, configured for ViT-B-32 (weights not here: the app falls back to tiny)."""
    import huggingface_hub.constants as hfc

    text = app_config.read_text().replace('name = "tiny"', 'name = "ViT-B-32"\npretrained = "laion2b_s34b_b79k"')
    app_config.write_text(text)
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hfc, "HF_HUB_CACHE", str(cache))
    return app_config


def _home(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if user is not None:
        at.user = user
    return at.run()


def _button(at: AppTest):
    return next(b for b in at.button if b.key == "home_download")


def test_admin_downloads_as_a_job_with_size_and_speed(vit_config, monkeypatch):
    with FakeHub({f"{REPO}/open_clip_model.safetensors": PAYLOAD}) as hub:
        # The job's process goes online (only here), to the fake hub.
        monkeypatch.setenv("CLIPCORE_OFFLINE", "")
        monkeypatch.setenv("HF_HUB_OFFLINE", "")
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        hub.delay_per_chunk_s = 1.0  # about 8 s, so the running bar can be seen
        at = _home()
        assert not at.exception
        assert any("untrained" in w.value.lower() for w in at.warning)
        assert not _button(at).disabled
        _button(at).click().run()
        ws = app_workspace(vit_config)
        job = next(j for j in list_jobs(ws) if j["kind"] == "download-model")
        assert job["args"][:4] == ["--model", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k"]
        seen = []
        deadline = time.monotonic() + 180  # a bound on the poll loop, not a timing assertion
        while time.monotonic() < deadline:  # the bar, read as the page shows it while the job runs
            at.run()
            bars = [p for p in at.get("progress") if "Downloading" in p.proto.text]
            if bars:
                seen.append(bars[0].proto.text.replace("\\", ""))  # md() escapes the dots
            if list_jobs(ws)[0]["status"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        done = wait_for_job(ws, job["id"])
        assert done["status"] == "done", done
        assert done["total"] == len(PAYLOAD) and done["message"].startswith(f"{MB} MB of {MB} MB, ")
        assert any(f" MB of {MB} MB, " in text and "MB/s" in text for text in seen), seen
        assert [r for _, _, r in hub.gets()] == [None], hub.log
    at.run()  # the app now tries the downloaded file (not real weights here) and says why it cannot use it
    assert not at.exception
    assert any("could not load the weights" in i.value for i in at.info)
    reasons = [c.value for c in at.code]
    assert any("could not load weights" in r and "snapshots" in r for r in reasons), reasons


def test_only_an_admin_may_start_the_download(vit_config):
    vit_config.write_text(
        vit_config.read_text() + f'\n[auth]\nmode = "oidc"\nidentity = "email"\nadmins = ["{LEAD}"]\nannotators = ["{ALICE}"]\n'
    )
    user = {"is_logged_in": True, "email": ALICE, "email_verified": True, "sub": "sub-alice", "name": "Alice"}
    at = _home(user)
    assert not at.exception
    assert _button(at).disabled
    assert any("Only an admin can start it" in m.value for m in at.markdown)
    admin = _home({**user, "email": LEAD, "sub": "sub-lead", "name": "Lead"})
    assert not _button(admin).disabled


def test_no_panel_when_the_configured_model_is_tiny(app_config):
    at = _home()
    assert not at.exception
    assert not [b for b in at.button if b.key == "home_download"]
