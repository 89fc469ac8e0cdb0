"""The [auth] table, roles per workspace and the weights-file check."""

from __future__ import annotations

import pytest

from clipcore.config import checked_weights_file, load_auth
from clipcore.errors import ConfigError
from clipcore.team.roles import allowed, role_for


def _auth(tmp_path, text: str):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(text)
    return load_auth(cfg)


def test_defaults_none_mode_local_admin(tmp_path):
    auth = _auth(tmp_path, "")
    assert auth.mode == "none" and role_for(auth, "", None) == "admin"


def test_roles_per_workspace_named_beats_star(tmp_path):
    auth = _auth(
        tmp_path,
        '[auth]\nmode = "oidc"\nadmins = ["lead"]\nviewers = ["guest"]\n'
        '[auth.workspaces.private]\nadmins = ["lead"]\nannotators = ["alice"]\nviewers = []\n',
    )
    assert role_for(auth, "lead", "demo") == "admin"
    assert role_for(auth, "alice", "demo") == "annotator"  # default annotators = ["*"]
    assert role_for(auth, "guest", "demo") == "viewer"  # named beats "*"
    assert role_for(auth, "bob", "private") is None  # the block's lists replace the global ones
    assert role_for(auth, "x", "private", aliases=("alice",)) == "annotator"


def test_permission_table_floor():
    assert allowed("viewer", "view") and not allowed("viewer", "label")
    assert allowed("annotator", "undo_own") and not allowed("annotator", "revert_any")
    assert all(allowed("admin", a) for a in ("revert_any", "resolve_conflicts", "start_jobs"))
    assert not allowed(None, "view")
    with pytest.raises(ValueError, match="unknown action"):
        allowed("admin", "delete_everything")


@pytest.mark.parametrize(
    "text,message",
    [
        ('[auth]\nmode = "ldap"\n', "mode must be one of"),
        ('[auth]\nmode = "proxy"\n', "trusted_proxy = true"),
        ('[auth]\nadmins = "lead"\n', "must be a list"),
        ("[auth]\nsession_hours = 0\n", "positive number"),
    ],
)
def test_bad_auth_config_names_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _auth(tmp_path, text)


def test_weights_only_from_model_folders(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "b0.pth").write_bytes(b"x")
    (tmp_path / "secret.pth").write_bytes(b"x")
    assert checked_weights_file("b0.pth", (models,)) == (models / "b0.pth").resolve()
    assert checked_weights_file(str(models / "b0.pth"), (models,)) == (models / "b0.pth").resolve()
    outside = [str(tmp_path / "secret.pth"), str(tmp_path / "missing.pth"), "../secret.pth", "/etc/passwd"]
    messages = set()
    for path in outside:
        with pytest.raises(ConfigError) as err:
            checked_weights_file(path, (models,))
        messages.add(str(err.value))
    assert len(messages) == 1  # same answer whether the outside file exists or not
    with pytest.raises(ConfigError, match="no weights file"):
        checked_weights_file("other.pth", (models,))


def test_a_weights_path_may_start_with_the_model_folders_name(tmp_path):
    models = tmp_path / "weights" / "clip"
    (models / "sub").mkdir(parents=True)
    (models / "sub" / "tiny-seed7.bin").write_bytes(b"x")
    want = (models / "sub" / "tiny-seed7.bin").resolve()
    for typed in ("sub/tiny-seed7.bin", "clip/sub/tiny-seed7.bin", "weights/clip/sub/tiny-seed7.bin"):
        assert checked_weights_file(typed, (models,)) == want
    with pytest.raises(ConfigError, match="no weights file"):
        checked_weights_file("clip/other.bin", (models,))
    with pytest.raises(ConfigError, match="must lie in a model folder"):
        checked_weights_file("clip/../../secret.bin", (models,))
