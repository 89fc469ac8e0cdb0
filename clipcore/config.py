"""Settings: which model, which device, which workspaces.

Resolution order, strongest first: explicit arguments (CLI flags), environment
variables (``CLIPCORE_MODEL``, ``CLIPCORE_PRETRAINED``, ``CLIPCORE_CHECKPOINT``,
``CLIPCORE_WORKSPACE``, ``CLIPCORE_DEVICE``, ``CLIPCORE_PRECISION``), the config file
(``clipcore.toml`` in the working directory, or the file named by ``CLIPCORE_CONFIG``),
then built-in defaults.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
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

# A 600 dpi A2 scan is ~140 MP: larger files are refused as decompression bombs.
DEFAULT_MAX_IMAGE_PIXELS = 180_000_000
# Query uploads are decoded inside the app's process, per request: a much lower bound.
DEFAULT_MAX_UPLOAD_PIXELS = 40_000_000
DEFAULT_MAX_UPLOAD_BYTES = 50_000_000
# Below this many embedded images the pages score every image inside a run (about 0.1 s);
# above it they read what a `predict` job stored (clipcore.team.predictions).
DEFAULT_IN_PAGE_MAX = 50_000
# "Select all N matching" on the Label page labels at most this many images in one batch.
DEFAULT_MAX_LABEL_ALL = 10_000
# Background jobs at once on this server, all workspaces together (clipcore.catalog.jobs).
DEFAULT_MAX_JOBS = 2

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
class Limits:
    """Resource limits from ``[limits]`` in clipcore.toml (env ``CLIPCORE_MAX_IMAGE_PIXELS``
    and ``CLIPCORE_IN_PAGE_MAX`` win).

    ``max_image_pixels``: any image (ingest, embed, thumbnails) with more pixels is refused
    before decoding. ``max_upload_pixels`` / ``max_upload_bytes``: a query image uploaded in
    the app, checked from its header before decoding. ``in_page_max``: below this many
    embedded images a page scores every image itself; above, it reads stored scores.
    ``max_label_all``: the most images "Select all N matching" labels in one batch.
    """

    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    in_page_max: int = DEFAULT_IN_PAGE_MAX
    max_label_all: int = DEFAULT_MAX_LABEL_ALL


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
    limits: Limits = field(default_factory=Limits)
    # [app]: folders under which the app may create collections, and where it keeps its own files
    allowed_roots: tuple[Path, ...] = field(default_factory=tuple)
    app_data: Path = Path("data")
    # True when allowed_roots is the default (no allowed_roots line in [app]), not a listed choice
    allowed_roots_default: bool = False

    def with_model(self, model: str, pretrained: str | None = None) -> "Settings":
        """A copy using another model; ``tiny`` always means random init."""
        if model == TINY_MODEL:
            pretrained = None
        return replace(self, model=model, pretrained=pretrained, checkpoint=None)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


_TYPE_NAMES = {bool: "a boolean (true or false, unquoted)", int: "a whole number", str: "a string"}


def _typed(table: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    """``table[key]`` checked to be of ``kind`` (booleans must be real TOML booleans).

    Raises:
        ConfigError: naming the key, what was expected and what arrived.
    """
    if key not in table:
        return default
    value = table[key]
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        hint = ""
        if kind is bool and isinstance(value, str):
            hint = f" Write {key} = {'false' if value.strip().lower() in ('false', 'no', 'off', '0', '') else 'true'} without quotes."
        raise ConfigError(
            f"config key {where}.{key}: expected {_TYPE_NAMES.get(kind, kind.__name__)}; "
            f"got {type(value).__name__} {value!r}.{hint}"
        )
    return value


def _table(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"config key [{name}]: expected a table ([{name}] with keys below it); got {type(value).__name__} {value!r}.")
    return value


def _positive(value: int, where: str) -> int:
    if value < 1:
        raise ConfigError(f"config key {where}: expected a positive whole number; got {value!r}.")
    return value


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number; got {raw!r}.") from None


LIMIT_KEYS = ("max_image_pixels", "max_upload_pixels", "max_upload_bytes", "in_page_max", "max_label_all")


def limits_from(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Limits:
    """The ``[limits]`` table, validated; ``CLIPCORE_MAX_IMAGE_PIXELS`` and
    ``CLIPCORE_IN_PAGE_MAX`` override their keys.

    Raises:
        ConfigError: a key of the wrong type, or not positive.
    """
    env = os.environ if env is None else env
    table = _table(config, "limits")
    unknown = sorted(set(table) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(f"config [limits] has unknown key(s) {unknown}; known: {', '.join(LIMIT_KEYS)}.")
    pixels = _typed(table, "[limits]", "max_image_pixels", int, DEFAULT_MAX_IMAGE_PIXELS)
    pixels = _env_int(env, "CLIPCORE_MAX_IMAGE_PIXELS") or pixels
    in_page = _typed(table, "[limits]", "in_page_max", int, DEFAULT_IN_PAGE_MAX)
    in_page = _env_int(env, "CLIPCORE_IN_PAGE_MAX") or in_page
    return Limits(
        max_image_pixels=_positive(pixels, "[limits].max_image_pixels"),
        max_upload_pixels=_positive(
            _typed(table, "[limits]", "max_upload_pixels", int, DEFAULT_MAX_UPLOAD_PIXELS), "[limits].max_upload_pixels"
        ),
        max_upload_bytes=_positive(
            _typed(table, "[limits]", "max_upload_bytes", int, DEFAULT_MAX_UPLOAD_BYTES), "[limits].max_upload_bytes"
        ),
        in_page_max=_positive(in_page, "[limits].in_page_max"),
        max_label_all=_positive(
            _typed(table, "[limits]", "max_label_all", int, DEFAULT_MAX_LABEL_ALL), "[limits].max_label_all"
        ),
    )


_LIMITS_CACHE: dict[tuple, Limits] = {}
_LIMITS_LOCK = threading.Lock()


def load_limits() -> Limits:
    """The limits of the current config file and environment (cached by file path, size and mtime).

    Raises:
        ConfigError: a bad config file or ``[limits]`` table.
    """
    path = Path(os.environ.get("CLIPCORE_CONFIG") or CONFIG_FILE)
    try:
        st = path.stat()
        stamp: tuple = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = ()
    key = (str(path.resolve()), stamp, os.environ.get("CLIPCORE_MAX_IMAGE_PIXELS"), os.environ.get("CLIPCORE_IN_PAGE_MAX"))
    with _LIMITS_LOCK:
        cached = _LIMITS_CACHE.get(key)
    if cached is not None:
        return cached
    limits = limits_from(read_config_file() if stamp else {})
    with _LIMITS_LOCK:
        _LIMITS_CACHE.clear()
        _LIMITS_CACHE[key] = limits
    return limits


def jobs_dir() -> Path:
    """The server-wide folder of running background jobs' pid files: ``CLIPCORE_JOBS_DIR``,
    else ``clipcore-jobs-<uid>`` in the temporary folder."""
    import tempfile

    return Path(os.environ.get("CLIPCORE_JOBS_DIR") or Path(tempfile.gettempdir()) / f"clipcore-jobs-{os.getuid()}")


def max_jobs() -> int:
    """Background jobs at once on this server (``CLIPCORE_MAX_JOBS``, default 2; at least 1;
    a value that is not a whole number falls back to the default)."""
    try:
        return max(1, int(os.environ.get("CLIPCORE_MAX_JOBS", DEFAULT_MAX_JOBS)))
    except ValueError:
        return DEFAULT_MAX_JOBS


DEFAULT_MAX_HEAVY = 2  # heavy computations at once inside one app process


def max_heavy() -> int:
    """How many heavy in-process computations may run at once inside one app process
    (``CLIPCORE_MAX_HEAVY``, default 2; at least 1; not a whole number: the default)."""
    try:
        return max(1, int(os.environ.get("CLIPCORE_MAX_HEAVY", DEFAULT_MAX_HEAVY)))
    except ValueError:
        return DEFAULT_MAX_HEAVY


def busy_timeout_ms(default: int) -> int:
    """How long a write waits for SQLite's lock: ``CLIPCORE_BUSY_TIMEOUT_MS``, else ``default``.

    Raises:
        ConfigError: a value that is not a whole number.
    """
    raw = os.environ.get("CLIPCORE_BUSY_TIMEOUT_MS")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"CLIPCORE_BUSY_TIMEOUT_MS must be a whole number of milliseconds; got {raw!r}.") from None


def offline_forced() -> bool:
    """True when CLIPCORE_OFFLINE or HF_HUB_OFFLINE says never to try the network."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("CLIPCORE_OFFLINE", "HF_HUB_OFFLINE"))


def default_annotator() -> str:
    """Who labels when no name is given: ``CLIPCORE_ANNOTATOR``, else the login name."""
    import getpass

    return os.environ.get("CLIPCORE_ANNOTATOR") or getpass.getuser()


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
    for name, spec in _table(config, "workspaces").items():
        where = f"[workspaces.{name}]"
        if not isinstance(spec, dict) or "path" not in spec:
            raise ConfigError(f"{where} needs a 'path' key; got {spec!r}.")
        path = _typed(spec, where, "path", str, None)
        source = _typed(spec, where, "source", str, None)
        entries.append(
            WorkspaceEntry(
                name=str(name),
                path=(base / path).resolve() if not Path(path).is_absolute() else Path(path),
                source=None if source is None else (base / source).resolve(),
                labels_from_folders=_typed(spec, where, "labels_from_folders", bool, False),
                demo=_typed(spec, where, "demo", bool, False),
            )
        )
    return tuple(entries)


def default_allowed_roots(auth_mode: str, home: Path | None = None) -> tuple[Path, ...]:
    """The folders the app may add collections from when ``[app] allowed_roots`` is not set.

    Sign-in off (``[auth] mode = "none"``): the user's home folder. In that mode the app
    starts only on a loopback address with a Host allow-list (clipcore.team.access), so the
    one person it serves is the local user, who can read their home folder anyway, and a
    web page that rebinds its name to 127.0.0.1 is refused before it can submit the form.
    A team mode (oidc, proxy) serves other people: nothing until an admin lists folders.
    """
    if auth_mode != "none":
        return ()
    return ((home or Path.home()).resolve(),)


def _app_from(config: Mapping[str, Any], base: Path) -> tuple[tuple[Path, ...], Path, bool]:
    """``[app] allowed_roots`` (list of folders, relative to the config file; when the key is
    absent, ``default_allowed_roots`` for the ``[auth]`` mode), ``[app] data_dir``, and
    whether the roots are the default.

    Raises:
        ConfigError: a key of the wrong type.
    """
    app = _table(config, "app")
    data_dir = _typed(app, "app", "data_dir", str, "data")
    data = (base / Path(data_dir).expanduser()).resolve()
    if "allowed_roots" not in app:
        mode = _typed(_table(config, "auth"), "[auth]", "mode", str, "none")
        return default_allowed_roots(mode), data, True
    roots = _typed(app, "app", "allowed_roots", list, [])
    if not all(isinstance(r, str) and r.strip() for r in roots):
        raise ConfigError(f"config key app.allowed_roots: expected a list of folder paths (strings); got {roots!r}.")
    return tuple((base / Path(r).expanduser()).resolve() for r in roots), data, False


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
        ConfigError: a device or precision outside the known choices, a key of the wrong
            type (booleans must be real TOML booleans), or a bad config file.
    """
    config = read_config_file(config_path)
    base = Path(config_path or os.environ.get("CLIPCORE_CONFIG") or CONFIG_FILE).resolve().parent
    model_cfg = _table(config, "model")
    env = os.environ

    cfg_model = _typed(model_cfg, "[model]", "name", str, DEFAULT_MODEL)
    cfg_pretrained = _typed(model_cfg, "[model]", "pretrained", str, DEFAULT_PRETRAINED if cfg_model == DEFAULT_MODEL else None)
    cfg_device = _typed(model_cfg, "[model]", "device", str, "auto")
    cfg_precision = _typed(model_cfg, "[model]", "precision", str, "auto")
    cfg_checkpoint = _typed(model_cfg, "[model]", "checkpoint", str, None)
    fallback = _typed(model_cfg, "[model]", "fallback_to_tiny", bool, True)
    cfg_workspace = _typed(_table(config, "workspace"), "[workspace]", "default", str, None)
    limits = limits_from(config)
    chosen_model = model or env.get("CLIPCORE_MODEL") or cfg_model
    chosen_pretrained = pretrained or env.get("CLIPCORE_PRETRAINED")
    if chosen_pretrained is None and chosen_model == cfg_model:
        chosen_pretrained = cfg_pretrained
    if chosen_pretrained is None and chosen_model == DEFAULT_MODEL:
        chosen_pretrained = DEFAULT_PRETRAINED
    if chosen_model == TINY_MODEL or chosen_pretrained in ("", "none", "None"):
        chosen_pretrained = None

    ckpt = checkpoint or env.get("CLIPCORE_CHECKPOINT") or cfg_checkpoint
    if ckpt is not None and chosen_model == TINY_MODEL and not checkpoint:
        ckpt = None  # a configured checkpoint is for the configured model; tiny takes only an explicit one
    ws = workspace or env.get("CLIPCORE_WORKSPACE") or cfg_workspace
    workspaces = _workspaces_from(config, base)
    allowed_roots, app_data, roots_default = _app_from(config, base)
    if ws is None:
        ws = workspaces[0].path if workspaces else Path(DEFAULT_WORKSPACE)
    return Settings(
        model=chosen_model,
        pretrained=chosen_pretrained,
        checkpoint=None if ckpt is None else Path(ckpt).expanduser(),
        device=_check_choice("device", device or env.get("CLIPCORE_DEVICE") or cfg_device, DEVICES),
        precision=_check_choice(
            "precision", precision or env.get("CLIPCORE_PRECISION") or cfg_precision, PRECISIONS
        ),
        workspace=Path(ws),
        workspaces=workspaces,
        fallback_to_tiny=fallback,
        limits=limits,
        allowed_roots=allowed_roots,
        app_data=app_data,
        allowed_roots_default=roots_default,
    )


# -- sign-in and roles: the [auth] table (docs/SECURITY.md) ---------------------------------

AUTH_MODES = ("none", "oidc", "proxy")
ROLES = ("viewer", "annotator", "admin")  # lowest to highest
DEFAULT_USER_HEADER = "X-Forwarded-User"
LOOPBACK_PROXIES = ("127.0.0.1", "::1")
# A two-person lab: everyone who signs in labels; whoever runs jobs and settles
# disagreements is named in ``admins``.
DEFAULT_ROLE_LISTS = {"admin": (), "annotator": ("*",), "viewer": ()}


@dataclass(frozen=True)
class AuthSettings:
    """How people sign in and what each may do.

    ``roles`` maps a role to the identities that hold it (``"*"`` = anyone signed in whom
    no list of the same table names); ``workspace_roles`` replaces it, whole, for one
    workspace name. ``identity`` (OIDC) is the one claim that identifies a person and that
    role lists are matched against: ``"sub"``, or ``"email"`` (only when the provider says
    ``email_verified``). ``model_folders`` are the only folders a weights file typed in the
    app may come from.
    """

    mode: str = "none"
    header: str = DEFAULT_USER_HEADER
    trusted_proxy: bool = False
    trusted_proxies: tuple[str, ...] = LOOPBACK_PROXIES
    session_hours: float = 12.0
    identity: str = "sub"
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROLE_LISTS))
    workspace_roles: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    model_folders: tuple[Path, ...] = ()


IDENTITY_CLAIMS = ("sub", "email")
_ROLE_KEYS = tuple(f"{role}s" for role in ROLES)  # admins, annotators, viewers
_AUTH_KEYS = ("mode", "header", "trusted_proxy", "trusted_proxies", "session_hours", "identity", "workspaces", *_ROLE_KEYS)
# RFC 9110 token characters: what a header name may hold.
_HEADER_NAME = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _no_unknown_keys(table: Mapping[str, Any], where: str, known: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in set(table) - set(known))
    if unknown:
        raise ConfigError(f"config {where} has unknown key {unknown[0]!r}; known keys: {', '.join(known)}.")


def _identity_lists(table: Mapping[str, Any], where: str, defaults: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    """The role lists of one table. A role the table does not list is ``defaults``' (the
    global ``[auth]`` table: annotators = ["*"] unless another list gives "*") or empty (a
    workspace block says everything about its workspace)."""
    out: dict[str, tuple[str, ...]] = {role: () for role in ROLES}
    for role, key in zip(ROLES, _ROLE_KEYS):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"config key {where}.{key}: expected a list of identities (strings); got {value!r}.")
            out[role] = tuple(v.strip() for v in value)
    starred = [f"{where}.{key}" for role, key in zip(ROLES, _ROLE_KEYS) if "*" in out[role]]
    if len(starred) > 1:
        raise ConfigError(f'config keys {" and ".join(starred)} both hold "*"; give "*" (anyone else signed in) to one role only.')
    if defaults is not None and not starred:
        for role, key in zip(ROLES, _ROLE_KEYS):
            if key not in table:
                out[role] = defaults[role]
    return out


def _auth_identity(table: Mapping[str, Any], mode: str, lists: list[tuple[str, ...]]) -> str:
    if "identity" in table:
        return _check_choice("[auth] identity", _typed(table, "[auth]", "identity", str, "sub"), IDENTITY_CLAIMS)
    emails = sorted({v for names in lists for v in names if "@" in v})
    if mode == "oidc" and emails:
        raise ConfigError(
            f"config key [auth] identity is not set but role lists name emails ({emails[0]}, ...): add "
            'identity = "email" to [auth] (matched only when the provider verified the email) or list the provider\'s sub ids.'
        )
    return "sub"


def _trusted_proxies(table: Mapping[str, Any]) -> tuple[str, ...]:
    proxies = _typed(table, "[auth]", "trusted_proxies", list, list(LOOPBACK_PROXIES))
    out = []
    for p in proxies:
        try:
            out.append(str(ipaddress.ip_address(str(p).strip())) if isinstance(p, str) else None)
        except ValueError:
            out.append(None)
        if out[-1] is None:
            raise ConfigError(f"config key [auth].trusted_proxies: expected a list of IP addresses such as \"127.0.0.1\"; got {p!r}.")
    return tuple(out)


def load_auth(config_path: Path | None = None) -> AuthSettings:
    """The ``[auth]`` table (and ``[model] folders``) of the config file, validated.

    ``[auth]``: ``mode`` none | oidc | proxy; ``identity`` sub | email (oidc); ``header``,
    ``trusted_proxy``, ``trusted_proxies`` (proxy mode); ``session_hours``; ``admins``,
    ``annotators``, ``viewers`` lists; ``[auth.workspaces.NAME]`` with the same lists,
    replacing the global ones for that workspace (a list it leaves out is empty there).

    Raises:
        ConfigError: an unknown key, a wrongly typed value, an unknown mode, proxy mode
            without ``trusted_proxy = true``, "*" in two lists of one table, email role
            lists in oidc mode without ``identity``, a session length that is not a
            finite positive number. The message names the key.
    """
    config = read_config_file(config_path)
    base = Path(config_path or os.environ.get("CLIPCORE_CONFIG") or CONFIG_FILE).resolve().parent
    table = _table(config, "auth")
    _no_unknown_keys(table, "[auth]", _AUTH_KEYS)
    mode = _check_choice("[auth] mode", _typed(table, "[auth]", "mode", str, "none"), AUTH_MODES)
    trusted = _typed(table, "[auth]", "trusted_proxy", bool, False)
    if mode == "proxy" and not trusted:
        raise ConfigError(
            "[auth] mode = \"proxy\" trusts a user header, which anyone can forge unless a reverse proxy sets it; "
            "put the app behind the proxy and add trusted_proxy = true to [auth]."
        )
    proxies = _trusted_proxies(table)
    hours = table.get("session_hours", 12.0)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not math.isfinite(hours) or hours <= 0:
        raise ConfigError(f"config key [auth].session_hours: expected a finite positive number of hours such as 12; got {hours!r}.")
    header = _typed(table, "[auth]", "header", str, DEFAULT_USER_HEADER).strip()
    if not header or not set(header) <= _HEADER_NAME:
        raise ConfigError(f"config key [auth].header: expected a header name such as {DEFAULT_USER_HEADER!r}; got {header!r}.")
    roles = _identity_lists(table, "[auth]", DEFAULT_ROLE_LISTS)
    per_ws = {}
    blocks = table.get("workspaces", {})
    if not isinstance(blocks, dict):
        raise ConfigError(f"config key [auth].workspaces: expected tables [auth.workspaces.NAME] of role lists; got {blocks!r}.")
    for name, spec in blocks.items():
        where = f"[auth.workspaces.{name}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"config key {where}: expected a table of role lists (admins, annotators, viewers); got {spec!r}.")
        _no_unknown_keys(spec, where, _ROLE_KEYS)
        per_ws[str(name)] = _identity_lists(spec, where, None)
    identity = _auth_identity(table, mode, [*roles.values(), *(v for lists in per_ws.values() for v in lists.values())])
    folders = _typed(_table(config, "model"), "[model]", "folders", list, ["models"])
    if not all(isinstance(f, str) and f.strip() for f in folders):
        raise ConfigError(f"config key [model].folders: expected a list of folder paths (strings); got {folders!r}.")
    return AuthSettings(
        mode=mode,
        header=header,
        trusted_proxy=trusted,
        trusted_proxies=proxies,
        session_hours=float(hours),
        identity=identity,
        roles=roles,
        workspace_roles=per_ws,
        model_folders=tuple((base / f).resolve() for f in folders),
    )


def _under_folder(raw: Path, folder: Path) -> list[Path]:
    """Where a relative path typed in the app may point inside ``folder``: relative to
    the folder itself, or starting with the folder's own trailing names (``models/x.bin``
    for the folder ``<config dir>/models``)."""
    found = [folder / raw]
    parts = raw.parts
    for k in range(1, len(parts)):
        if folder.parts[-k:] == parts[:k]:
            found.append(folder.joinpath(*parts[k:]))
    return found


def checked_weights_file(path: str | Path, folders: tuple[Path, ...]) -> Path:
    """A weights file typed in the app, accepted only inside a configured model folder:
    an absolute path, or a path relative to a model folder (with or without the folder's
    own name in front: ``x.bin`` and ``models/x.bin`` for the folder ``models``).

    The message is the same whether or not an outside path exists, so the field cannot
    probe the server's disk.
    Raises:
        ConfigError: outside every model folder, or not a file inside one.
    """
    where = ", ".join(str(f) for f in folders) or "(none configured)"
    raw = Path(path).expanduser()
    candidates = [raw] if raw.is_absolute() else [c for f in folders for c in _under_folder(raw, f)]
    inside = [r for r in (c.resolve() for c in candidates) if any(r.is_relative_to(f) for f in folders)]
    if not inside:
        raise ConfigError(f"weights files must lie in a model folder ({where}; [model] folders in clipcore.toml).")
    found = next((r for r in inside if r.is_file()), None)
    if found is None:
        raise ConfigError(f"no weights file {raw.name!r} in the model folders ({where}).")
    return found
