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
    assert role_for(auth, "alice", "private") == "annotator"


def test_a_workspace_block_replaces_the_global_lists_whole(tmp_path):
    """Attack 4: `viewers = ["*"]` for one workspace gave everyone the global annotator role."""
    auth = _auth(
        tmp_path,
        '[auth]\nmode = "proxy"\ntrusted_proxy = true\nadmins = ["lead"]\n'
        '[auth.workspaces.archive]\nviewers = ["*"]\n[auth.workspaces.team]\nadmins = ["lead"]\n',
    )
    assert role_for(auth, "alice", "demo") == "annotator"  # global default: annotators = ["*"]
    assert role_for(auth, "alice", "archive") == "viewer"
    assert role_for(auth, "lead", "archive") == "viewer"  # not named in the block: only "*" applies
    assert role_for(auth, "alice", "team") is None  # a list the block leaves out is empty there
    assert role_for(auth, "lead", "team") == "admin"


def test_a_global_star_list_replaces_the_default_annotators(tmp_path):
    auth = _auth(tmp_path, '[auth]\nmode = "proxy"\ntrusted_proxy = true\nviewers = ["*"]\nadmins = ["lead"]\n')
    assert role_for(auth, "alice", None) == "viewer" and role_for(auth, "lead", None) == "admin"


def test_roles_match_one_identity_only(tmp_path):
    """Attack 1: role lists were matched against both sub and email."""
    import inspect

    assert list(inspect.signature(role_for).parameters) == ["auth", "identity", "workspace"]
    auth = _auth(tmp_path, '[auth]\nmode = "oidc"\nidentity = "email"\nadmins = ["lead@lab.org"]\nannotators = []\n')
    assert role_for(auth, "sub-mallory", None) is None


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
        ('[auth]\nadmins = "lead"\n', r"\[auth\]\.admins: expected a list"),
        ("[auth]\nsession_hours = 0\n", r"\[auth\]\.session_hours: expected a finite positive"),
        ("[auth]\nsession_hours = inf\n", r"\[auth\]\.session_hours: expected a finite positive"),
        ("[auth]\nsession_hours = nan\n", r"\[auth\]\.session_hours: expected a finite positive"),
        ("[auth]\nsession_hours = true\n", r"\[auth\]\.session_hours"),
        ('[auth]\nviewer = ["guest"]\n', r"\[auth\] has unknown key 'viewer'"),
        ('[auth]\nmode = "oidc"\n[auth.workspaces.x]\nviewer = ["guest"]\n', r"\[auth.workspaces.x\] has unknown key 'viewer'"),
        ('[auth]\nworkspaces = "x"\n', r"\[auth\]\.workspaces: expected tables"),
        ('[auth]\n[auth.workspaces]\nx = 1\n', r"\[auth.workspaces.x\]: expected a table"),
        ("model = [1]\n", r"\[model\]: expected a table"),
        ('[model]\nfolders = "models"\n', r"\[model\]\.folders"),
        ('auth = "x"\n', r"\[auth\]: expected a table"),
        ("[auth]\nmode = 1\n", r"\[auth\]\.mode: expected a string"),
        ("[auth]\ntrusted_proxy = \"yes\"\n", r"\[auth\]\.trusted_proxy: expected a boolean"),
        ('[auth]\ntrusted_proxies = ["proxy.lab"]\n', r"\[auth\]\.trusted_proxies: expected a list of IP addresses"),
        ('[auth]\nheader = "X User"\n', r"\[auth\]\.header: expected a header name"),
        ('[auth]\nannotators = ["*"]\nviewers = ["*"]\n', r'\[auth\]\.viewers and \[auth\]\.annotators both hold "\*"'),
        ('[auth]\nmode = "oidc"\nadmins = ["lead@lab.org"]\n', r"\[auth\] identity is not set but role lists name emails"),
        ('[auth]\nmode = "oidc"\nidentity = "name"\n', r"\[auth\] identity must be one of sub, email"),
    ],
)
def test_bad_auth_config_is_one_line_naming_the_key(tmp_path, text, message):
    """Attack 4: unknown keys were ignored, wrong types raised AttributeError, inf/nan passed."""
    with pytest.raises(ConfigError, match=message) as err:
        _auth(tmp_path, text)
    assert "\n" not in str(err.value)


def test_existing_configs_keep_loading(tmp_path):
    auth = _auth(tmp_path, "")
    assert auth.identity == "sub" and auth.roles["annotator"] == ("*",)
    auth = _auth(tmp_path, '[auth]\nmode = "oidc"\nidentity = "email"\nadmins = ["lead@lab.org"]\nsession_hours = 8\n')
    assert auth.identity == "email" and auth.session_hours == 8.0 and auth.roles["annotator"] == ("*",)
    auth = _auth(tmp_path, '[auth]\nmode = "oidc"\nadmins = ["0f3a-sub"]\n')  # subs need no identity key
    assert auth.identity == "sub"
    auth = _auth(tmp_path, '[auth]\nmode = "proxy"\ntrusted_proxy = true\ntrusted_proxies = ["10.0.0.5", "::1"]\n')
    assert auth.trusted_proxies == ("10.0.0.5", "::1")


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
