"""Workspace store: migrations, config resolution, atomic writes."""

from __future__ import annotations


import pytest

from clipcore.config import load_settings
from clipcore.errors import ConfigError, WorkspaceError
from clipcore.catalog.store import MIGRATIONS, Workspace, atomic_write_bytes


def test_migrations_apply_once_and_are_recorded(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert ws.schema_version == len(MIGRATIONS)
    names = [r[0] for r in ws.query("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == sorted(n for n, _ in MIGRATIONS)
    assert ws.query("PRAGMA journal_mode")[0][0] == "wal"
    ws.close()
    again = Workspace(tmp_path / "ws")  # reopening applies nothing new and fails nothing
    assert again.schema_version == len(MIGRATIONS)


def test_newer_workspace_is_refused(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with ws.transaction() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES ('9999_future', 'x')")
    ws.close()
    with pytest.raises(WorkspaceError, match="newer clipcore"):
        Workspace(tmp_path / "ws")


def test_missing_or_bad_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace(tmp_path / "nope", create=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace(tmp_path / "file")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="not a readable catalog"):
        Workspace(tmp_path / "junk")


def test_transaction_rolls_back(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(RuntimeError):
        with ws.transaction() as conn:
            conn.execute("INSERT INTO sources (root, added_at) VALUES ('/x', 'now')")
            raise RuntimeError("crash mid-transaction")
    assert ws.query("SELECT COUNT(*) FROM sources")[0][0] == 0


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left behind


def test_settings_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text('[model]\nname = "ViT-B-16"\npretrained = "laion2b_s34b_b88k"\n[workspaces.a]\npath = "wsA"\n')
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    for var in ("CLIPCORE_MODEL", "CLIPCORE_PRETRAINED", "CLIPCORE_WORKSPACE", "CLIPCORE_DEVICE", "CLIPCORE_PRECISION"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.model, s.pretrained) == ("ViT-B-16", "laion2b_s34b_b88k")
    assert s.workspace == (tmp_path / "wsA").resolve()
    monkeypatch.setenv("CLIPCORE_MODEL", "ViT-B-32")
    s = load_settings()
    assert (s.model, s.pretrained) == ("ViT-B-32", "laion2b_s34b_b79k")  # the default tag of the default model
    assert load_settings(model="tiny").pretrained is None  # tiny is always random init
    monkeypatch.setenv("CLIPCORE_PRETRAINED", "none")
    assert load_settings().pretrained is None
    with pytest.raises(ConfigError, match="device must be one of"):
        load_settings(device="tpu")
    cfg.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()
