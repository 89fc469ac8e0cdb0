"""Config validation: typed messages naming the key, what was expected and what arrived."""

from __future__ import annotations

import pytest

from clipcore.config import load_limits, load_settings
from clipcore.errors import ConfigError
from tests.helpers import run_cli


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[model]\nfallback_to_tiny = "false"\n', "[model].fallback_to_tiny: expected a boolean (true or false, unquoted); got str 'false'. Write fallback_to_tiny = false"),
        ('[workspaces.a]\npath = "a"\nlabels_from_folders = "no"\n', "[workspaces.a].labels_from_folders: expected a boolean"),
        ('[workspaces.a]\npath = "a"\ndemo = 1\n', "[workspaces.a].demo: expected a boolean (true or false, unquoted); got int 1"),
        ("[model]\nname = 3\n", "[model].name: expected a string; got int 3"),
        ('[workspaces.a]\npath = ["a"]\n', "[workspaces.a].path: expected a string; got list"),
        ('model = "ViT-B-32"\n', "[model]: expected a table"),
        ('[limits]\nmax_image_pixels = "lots"\n', "[limits].max_image_pixels: expected a whole number; got str 'lots'"),
        ("[limits]\nmax_image_pixels = -5\n", "[limits].max_image_pixels: expected a positive whole number; got -5"),
        ("[limits]\nmax_pixels = 5\n", "unknown key(s) ['max_pixels']"),
        ('[workspace]\ndefault = false\n', "[workspace].default: expected a string; got bool False"),
    ],
)
def test_wrong_types_are_typed_errors(tmp_path, monkeypatch, toml, message):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(toml)
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert message in str(err.value)


def test_real_booleans_and_limits_are_read(tmp_path, monkeypatch):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(
        "[model]\nfallback_to_tiny = false\n[workspaces.a]\npath = \"a\"\nlabels_from_folders = true\n"
        "[limits]\nmax_image_pixels = 1_000_000\nmax_upload_pixels = 5000\n"
    )
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    s = load_settings()
    assert s.fallback_to_tiny is False and s.workspaces[0].labels_from_folders is True
    assert s.limits.max_image_pixels == 1_000_000 and s.limits.max_upload_pixels == 5000
    assert load_limits().max_image_pixels == 1_000_000
    monkeypatch.setenv("CLIPCORE_MAX_IMAGE_PIXELS", "2000")
    assert load_limits().max_image_pixels == 2000


def test_the_in_page_limit_comes_from_config_or_env(tmp_path, monkeypatch):
    from clipcore.team.predictions import in_page_max

    cfg = tmp_path / "clipcore.toml"
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    cfg.write_text("")
    assert in_page_max() == 50_000
    cfg.write_text("[limits]\nin_page_max = 2_000\n")
    assert in_page_max() == 2000
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "300")
    assert in_page_max() == 300
    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "many")
    with pytest.raises(ConfigError, match="CLIPCORE_IN_PAGE_MAX: expected a whole number; got 'many'"):
        in_page_max()


def test_the_select_all_limit_comes_from_config(tmp_path, monkeypatch):
    cfg = tmp_path / "clipcore.toml"
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    cfg.write_text("")
    assert load_limits().max_label_all == 10_000
    cfg.write_text("[limits]\nmax_label_all = 250\n")
    assert load_limits().max_label_all == 250
    cfg.write_text("[limits]\nmax_label_all = 0\n")
    with pytest.raises(ConfigError, match="max_label_all"):
        load_limits()


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text('[model]\nfallback_to_tiny = "no"\n')
    proc = run_cli("info", "--workspace", str(tmp_path / "ws"), env={"CLIPCORE_CONFIG": str(cfg)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: config key [model].fallback_to_tiny: expected a boolean (true or false, unquoted); got str 'no'. "
        "Write fallback_to_tiny = false without quotes."
    ]
