"""Settings: which model, which device, which workspaces.

Resolution order, strongest first: explicit arguments (CLI flags), environment
variables (``CLIPCORE_MODEL``, ``CLIPCORE_PRETRAINED``, ``CLIPCORE_CHECKPOINT``,
``CLIPCORE_WORKSPACE``, ``CLIPCORE_DEVICE``, ``CLIPCORE_PRECISION``), the config file
(``clipcore.toml`` in the working directory, or the file named by ``CLIPCORE_CONFIG``),
then built-in defaults.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from clipcore.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
DEFAULT_WORKSPACE = "data/workspace"
DEFAULT_DEMO_SOURCE = "data/demo"
TINY_MODEL = "tiny"
CONFIG_FILE = "clipcore.toml"

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class WorkspaceEntry:
    """A workspace listed in the config file, optionally with a source folder to ingest."""

    name: str
    path: Path
    source: Path | None = None
    labels_from_folders: bool = False
    demo: bool = False  # the app may generate the demo collection into ``source`` and build it on first launch


@dataclass(frozen=True)
class Settings:
    """Resolved settings; ``pretrained`` is None for random init, ``checkpoint`` a local file."""

    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    checkpoint: Path | None = None
    device: str = "auto"
    precision: str = "auto"
    workspace: Path = Path(DEFAULT_WORKSPACE)
    workspaces: tuple[WorkspaceEntry, ...] = field(default_factory=tuple)
    fallback_to_tiny: bool = True
    # [app]: folders under which the app may create collections, and where it keeps its own files
    allowed_roots: tuple[Path, ...] = field(default_factory=tuple)
    app_data: Path = Path("data")

    def with_model(self, model: str, pretrained: str | None = None) -> "Settings":
        """A copy using another model; ``tiny`` always means random init."""
        if model == TINY_MODEL:
            pretrained = None
        return replace(self, model=model, pretrained=pretrained, checkpoint=None)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """Read the TOML config file; a missing default file is an empty config.

    Raises:
        ConfigError: the file named by ``CLIPCORE_CONFIG`` or ``path`` is missing or invalid.
    """
    explicit = path is not None or "CLIPCORE_CONFIG" in os.environ
    path = Path(path or os.environ.get("CLIPCORE_CONFIG") or CONFIG_FILE)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {str(path)!r} does not exist; create it or unset CLIPCORE_CONFIG.")
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc


def _workspaces_from(config: Mapping[str, Any], base: Path) -> tuple[WorkspaceEntry, ...]:
    entries = []
    for name, spec in (config.get("workspaces") or {}).items():
        if not isinstance(spec, dict) or "path" not in spec:
            raise ConfigError(f"[workspaces.{name}] needs a 'path' key; got {spec!r}.")
        source = spec.get("source")
        entries.append(
            WorkspaceEntry(
                name=str(name),
                path=(base / spec["path"]).resolve() if not Path(spec["path"]).is_absolute() else Path(spec["path"]),
                source=None if source is None else (base / source).resolve(),
                labels_from_folders=bool(spec.get("labels_from_folders", False)),
                demo=bool(spec.get("demo", False)),
            )
        )
    return tuple(entries)


def _app_from(config: Mapping[str, Any], base: Path) -> tuple[tuple[Path, ...], Path]:
    """``[app] allowed_roots`` (list of folders) and ``[app] data_dir``, relative to the config file."""
    app = config.get("app") or {}
    if not isinstance(app, dict):
        raise ConfigError(f"[app] must be a table; got {app!r}.")
    roots = app.get("allowed_roots", [])
    if not isinstance(roots, list) or not all(isinstance(r, str) and r.strip() for r in roots):
        raise ConfigError(f"[app] allowed_roots must be a list of folder paths (strings); got {roots!r}.")
    data_dir = app.get("data_dir", "data")
    if not isinstance(data_dir, str) or not data_dir.strip():
        raise ConfigError(f"[app] data_dir must be a folder path (string); got {data_dir!r}.")
    return tuple((base / Path(r).expanduser()).resolve() for r in roots), (base / Path(data_dir).expanduser()).resolve()


def load_settings(
    *,
    model: str | None = None,
    pretrained: str | None = None,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    precision: str | None = None,
    workspace: str | Path | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Resolve settings from arguments, environment, config file and defaults.

    A model chosen without a pretrained tag gets the config file's tag when the config
    names the same model, else random init only for ``tiny`` and the open_clip default
    tag otherwise (resolved later by ``clipcore.embedding.models``).

    Raises:
        ConfigError: a device or precision outside the known choices, or a bad config file.
    """
    config = read_config_file(config_path)
    base = Path(config_path or os.environ.get("CLIPCORE_CONFIG") or CONFIG_FILE).resolve().parent
    model_cfg = config.get("model") or {}
    env = os.environ

    cfg_model = model_cfg.get("name", DEFAULT_MODEL)
    cfg_pretrained = model_cfg.get("pretrained", DEFAULT_PRETRAINED if cfg_model == DEFAULT_MODEL else None)
    chosen_model = model or env.get("CLIPCORE_MODEL") or cfg_model
    chosen_pretrained = pretrained or env.get("CLIPCORE_PRETRAINED")
    if chosen_pretrained is None and chosen_model == cfg_model:
        chosen_pretrained = cfg_pretrained
    if chosen_pretrained is None and chosen_model == DEFAULT_MODEL:
        chosen_pretrained = DEFAULT_PRETRAINED
    if chosen_model == TINY_MODEL or chosen_pretrained in ("", "none", "None"):
        chosen_pretrained = None

    ckpt = checkpoint or env.get("CLIPCORE_CHECKPOINT") or model_cfg.get("checkpoint")
    if ckpt is not None and chosen_model == TINY_MODEL:
        ckpt = None
    ws = workspace or env.get("CLIPCORE_WORKSPACE") or (config.get("workspace") or {}).get("default")
    workspaces = _workspaces_from(config, base)
    allowed_roots, app_data = _app_from(config, base)
    if ws is None:
        ws = workspaces[0].path if workspaces else Path(DEFAULT_WORKSPACE)
    return Settings(
        model=chosen_model,
        pretrained=chosen_pretrained,
        checkpoint=None if ckpt is None else Path(ckpt).expanduser(),
        device=_check_choice("device", device or env.get("CLIPCORE_DEVICE") or model_cfg.get("device", "auto"), DEVICES),
        precision=_check_choice(
            "precision", precision or env.get("CLIPCORE_PRECISION") or model_cfg.get("precision", "auto"), PRECISIONS
        ),
        workspace=Path(ws),
        workspaces=workspaces,
        fallback_to_tiny=bool(model_cfg.get("fallback_to_tiny", True)),
        allowed_roots=allowed_roots,
        app_data=app_data,
    )
