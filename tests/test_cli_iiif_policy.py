"""Who may open private addresses to an IIIF import started from the app (issue 19, item 8)."""

from __future__ import annotations

import argparse

from clipcore.cli import _iiif_policy


def _args(**kw) -> argparse.Namespace:
    base = dict(job_id=None, allow_private=False, timeout=None, retries=None, per_host=None, max_images=None, max_manifests=None)
    return argparse.Namespace(**{**base, **kw})


def test_no_environment_variable_opens_private_addresses_to_app_imports(tmp_path, monkeypatch):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text("")
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    monkeypatch.setenv("CLIPCORE_IIIF_ALLOW_PRIVATE", "1")  # was a silent override
    assert not _iiif_policy(_args(job_id="job-1")).allow_private
    assert not _iiif_policy(_args(job_id="job-1", allow_private=True)).allow_private  # a flag the app could pass
    assert _iiif_policy(_args(allow_private=True)).allow_private  # the CLI user's own flag
    cfg.write_text("[iiif]\nallow_private = true\n")
    assert _iiif_policy(_args(job_id="job-1")).allow_private  # the admin's config
