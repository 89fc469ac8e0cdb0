"""CLIP model loading (open_clip), device and precision choice, encoding, set keys.

``load_model`` turns a model name plus a pretrained tag or a local checkpoint into a
``ClipModel`` that encodes uint8 image batches and texts into L2-normalised float32
vectors. Offline is normal here: when weights are neither cached nor reachable it
fails within seconds with a ``ModelUnavailableError`` that names the two ways out.

The image transform comes from the model's own open_clip preprocess config
(``clipcore.embedding.preprocess``); precision follows open_clip's ``precision``
argument (``OPEN_CLIP_PRECISION``). Embeddings are stored under a key naming everything that changes the
vectors: architecture, weights (tag, or a checkpoint's content hash) and the
preprocessing version (``embedding_set_key``). Sets stored under the older
``model/tag-or-path`` key are renamed by ``rekey_legacy_sets``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.config import TINY_MODEL
from clipcore.embedding.preprocess import Preprocess
from clipcore.errors import ClipcoreError, InputError, ModelUnavailableError

logger = logging.getLogger(__name__)

TINY_SEED = 20240401
# A deliberately small CLIP: real tokenizer (open_clip's bundled BPE), random weights.
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
NETWORK_PROBE_TIMEOUT_S = 3.0
MAX_PROMPT_CHARS = 2000

# clipcore precision -> open_clip's create_model precision. fp16 is open_clip's (and
# OpenAI's) mixed mode: weights in fp16, LayerNorm computed in fp32, since fp16's range
# cannot hold a LayerNorm's variance safely. bf16 has fp32's range, so open_clip's
# "pure_bf16" (every weight bf16) is as safe; its "bf16" (LayerNorm in fp32) measured
# slower on the 2-core AMX CPU for no measurable gain (docs/PERFORMANCE.md).
OPEN_CLIP_PRECISION = {"fp32": "fp32", "bf16": "pure_bf16", "fp16": "fp16"}

_registry_lock = threading.Lock()
# Preprocess configs of architectures registered here (open_clip reads a preprocess
# config from a pretrained tag or an hf-hub/local-dir open_clip_config.json, never from
# a built-in model config), passed to open_clip as its force_preprocess_cfg.
_preprocess_overrides: dict[str, dict[str, Any]] = {}
_registered: dict[str, str] = {}


def register_model_config(name: str, model_cfg: dict[str, Any], preprocess_cfg: dict[str, Any] | None = None) -> None:
    """Make an architecture known to open_clip (and clipcore) under ``name``.

    Args:
        model_cfg: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``).
        preprocess_cfg: open_clip preprocess keys (``resize_mode``, ``interpolation``,
            ``mean``, ``std``, ``fill_color``) this architecture uses instead of the defaults.
    Raises:
        InputError: ``name`` is already registered with a different config.
    """
    import open_clip

    if not isinstance(model_cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(model_cfg):
        raise InputError(f"model config {name!r} needs embed_dim, vision_cfg and text_cfg; got {sorted(model_cfg or {})}.")
    Preprocess.from_open_clip(dict(preprocess_cfg or {}, size=model_cfg["vision_cfg"].get("image_size", 224)))
    fingerprint = json.dumps([model_cfg, preprocess_cfg or {}], sort_keys=True)
    with _registry_lock:
        if name in _registered:
            if _registered[name] != fingerprint:
                raise InputError(f"model config {name!r} is already registered with a different config.")
            return
        cfg_dir = Path(tempfile.mkdtemp(prefix="clipcore-cfg-"))
        (cfg_dir / f"{name}.json").write_text(json.dumps(model_cfg))
        open_clip.add_model_config(cfg_dir / f"{name}.json")
        if preprocess_cfg:
            _preprocess_overrides[name] = dict(preprocess_cfg)
        _registered[name] = fingerprint


def register_tiny_model() -> None:
    """Register the ``tiny`` config with open_clip (idempotent)."""
    register_model_config(TINY_MODEL, TINY_CONFIG)


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but torch sees no CUDA GPU;", cli_hint="use --device auto or cpu.",
                         app_hint=DEVICE_APP_HINT)
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device 'mps' was asked for but is not available;", cli_hint="use --device auto or cpu.",
                         app_hint=DEVICE_APP_HINT)
    return device


def cpu_has_bf16_units() -> bool:
    """True where the CPU has native bf16 matrix instructions (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """``auto``: fp16 on CUDA, bf16 on CPUs with bf16 units, else fp32."""
    if precision != "auto":
        if precision == "fp16" and device == "cpu":
            raise InputError("precision fp16 is not supported on cpu; use bf16 or fp32.")
        return precision
    if device == "cuda":
        return "fp16"
    if device == "cpu" and cpu_has_bf16_units():
        return "bf16"
    return "fp32"


def _pretrained_source(model: str, pretrained: str) -> tuple[str, str]:
    """(kind, location) of a pretrained tag: ('hf', 'org/repo/filename') or ('url', url)."""
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        known = ", ".join(tags) or "none (use a local checkpoint, or --model tiny)"
        raise InputError(f"unknown pretrained tag {pretrained!r} for model {model!r}; known tags: {known}.")
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if cfg.get("hf_hub"):
        return "hf", cfg["hf_hub"]
    return "url", cfg.get("url", "")


def find_cached_weights(model: str, pretrained: str, cache_dir: str | None = None) -> Path | None:
    """Path of already-downloaded weights for (model, tag), or None. Never touches the network."""
    kind, location = _pretrained_source(model, pretrained)
    if kind == "hf":
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(location)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith(".bin"):
            names.insert(0, filename[: -len(".bin")] + ".safetensors")
        for name in names:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and Path(found).exists():
                return Path(found)
        return None
    target = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(urlparse(location).path)
    return target if target.exists() else None


def host_reachable(host: str, timeout: float = NETWORK_PROBE_TIMEOUT_S, port: int = 443) -> bool:
    """One DNS lookup plus one TCP connect, bounded by ``timeout`` seconds."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    # DNS resolution ignores socket timeouts, so bound the whole probe with a thread.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


DEVICE_APP_HINT = "set device = \"auto\" or \"cpu\" in the [model] section of clipcore.toml and restart the app."


def offline_error(model: str, pretrained: str, reason: str) -> ModelUnavailableError:
    """The one error raised when weights are missing: what, why, and the ways out, worded
    for the command line (``str``) and for the app (``for_app``)."""
    return ModelUnavailableError(
        f"CLIP weights for {model}/{pretrained} are not available: {reason}.",
        cli_hint=(
            f"Either run `python -m clipcore download-model --model {model} --pretrained {pretrained}` on a "
            "connected machine and copy its cache (~/.cache/huggingface and ~/.cache/clip) here, "
            "or set a local checkpoint file with [model] checkpoint = \"/path/to/weights.bin\" in clipcore.toml "
            "(or CLIPCORE_CHECKPOINT / --checkpoint). Use --model tiny for an untrained offline model."
        ),
        app_hint=(
            "With internet, an admin presses Download model weights on Home; without, copy the weights cache "
            "(~/.cache/huggingface and ~/.cache/clip) from a connected machine, or give a local weights file "
            "(the checkpoint line of the [model] section in clipcore.toml), then restart the app."
        ),
    )


def offline_message(model: str, pretrained: str, reason: str) -> str:
    """The message of :func:`offline_error` as the command line prints it."""
    return str(offline_error(model, pretrained, reason))


def offline_forced() -> bool:
    """True when CLIPCORE_OFFLINE or HF_HUB_OFFLINE says never to try the network (``config.offline_forced``)."""
    from clipcore.config import offline_forced as forced

    return forced()


def fetch_weights(
    model: str, pretrained: str, *, allow_download: bool = True, progress: Callable[[int, int | None], None] | None = None
) -> Path:
    """Local path of the weights for (model, tag), downloading them if allowed and reachable.

    Hub-hosted tags (all of ViT-B-32's) download through ``clipcore.embedding.weights``:
    byte progress to ``progress(done_bytes, total_bytes)``, and an interrupted download
    resumes on the next call. ``HF_ENDPOINT`` names another hub (a mirror; the tests' fake).

    Raises:
        InputError: the tag is not one open_clip knows for this model.
        ModelUnavailableError: not cached and the download host cannot be reached (fast),
            or the download failed (what is fetched so far is kept for the next try).
    """
    cached = find_cached_weights(model, pretrained)
    if cached is not None:
        if progress is not None:
            progress(cached.stat().st_size, cached.stat().st_size)
        return cached
    kind, location = _pretrained_source(model, pretrained)
    if offline_forced():
        raise offline_error(model, pretrained, "not in the local cache and offline mode is on")
    if not allow_download:
        raise offline_error(model, pretrained, "not in the local cache (not downloaded automatically here)")
    from clipcore.embedding import weights

    url = urlparse(weights.hub_endpoint() if kind == "hf" else location)
    host = url.hostname or ""
    port = url.port or (80 if url.scheme == "http" else 443)
    if not host or not host_reachable(host, port=port):
        raise (
            offline_error(model, pretrained, f"not in the local cache and {host or 'the download host'} is unreachable")
        )
    logger.info("downloading %s/%s", model, pretrained)
    try:
        if kind == "hf":
            repo_id, names = weights.hf_candidates(location)
            return weights.download_hf_weights(repo_id, names, progress=progress)
        import open_clip

        path = open_clip.download_pretrained(open_clip.get_pretrained_cfg(model, pretrained))
    except Exception as exc:  # the hub client and urllib raise many types; all mean "not downloaded"
        raise (
            offline_error(model, pretrained, f"download failed ({exc}); rerunning the download resumes it")
        ) from exc
    if not path:
        raise offline_error(model, pretrained, "the model library returned no weights file")
    return Path(path)


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is, for labels, cache keys and embedding-set keys.

    ``weights`` names the weights in the key (``none``, a pretrained tag, or
    ``sha256-<16 hex>`` of a checkpoint file); ``preprocess`` is ``Preprocess.version``.
    """

    name: str
    pretrained: str | None
    checkpoint: str | None
    device: str
    precision: str
    embed_dim: int
    image_size: int
    weights: str
    preprocess: str

    @property
    def untrained(self) -> bool:
        """Random weights: results computed with it are not meaningful (``tiny`` is random
        even from a checkpoint file: a saved random init)."""
        return self.name == TINY_MODEL or (self.pretrained is None and self.checkpoint is None)

    @property
    def key(self) -> str:
        """``model/weights@preprocess``: the embedding set these vectors belong to."""
        return f"{self.name}/{self.weights}@{self.preprocess}"


def legacy_embedding_key(model: str, pretrained_or_checkpoint: str | None) -> str:
    """The key sets were stored under before weights hashes and preprocessing versions.

    ``model/tag``, ``model/<checkpoint path>`` or ``model/none``; only for migrating them.
    """
    return f"{model}/{pretrained_or_checkpoint or 'none'}"


def _digest_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clipcore" / "weights-sha256.json"


_digest_lock = threading.Lock()


def weights_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a weights file's content.

    Hashing ViT-B-32's 600 MB takes seconds, so digests are cached in memory and in
    ``~/.cache/clipcore/weights-sha256.json`` under the file's resolved path, size and
    mtime: a file replaced in place gets hashed again.

    Raises:
        ModelUnavailableError: the file cannot be read.
    """
    target = Path(path).expanduser().resolve()
    try:
        st = target.stat()
    except OSError as exc:
        raise ModelUnavailableError(f"checkpoint file {str(target)!r} cannot be read: {exc.strerror or exc}.") from exc
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    cache_file = _digest_cache_file()
    with _digest_lock:
        try:
            cache = json.loads(cache_file.read_text())
            if not isinstance(cache, dict):
                cache = {}
        except (OSError, ValueError):
            cache = {}
        entry = cache.get(str(target))
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()) and entry.get("sha256"):
            return str(entry["sha256"])
        sha = hashlib.sha256()
        try:
            with open(target, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    sha.update(block)
        except OSError as exc:
            raise ModelUnavailableError(f"checkpoint file {str(target)!r} cannot be read: {exc.strerror or exc}.") from exc
        digest = sha.hexdigest()
        cache[str(target)] = {**stamp, "sha256": digest}
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
            os.replace(tmp, cache_file)
        except OSError as exc:  # a read-only home only costs a re-hash next time
            logger.debug("cannot write %s: %s", cache_file, exc)
        return digest


def weights_id(pretrained: str | None, checkpoint: str | Path | None) -> str:
    """How the weights appear in a set key: ``sha256-<16 hex>``, the tag, or ``none``."""
    if checkpoint is not None:
        return f"sha256-{weights_digest(checkpoint)[:16]}"
    return pretrained or "none"


def model_preprocess(name: str, pretrained: str | None = None) -> Preprocess:
    """The preprocess config open_clip gives (name, pretrained tag), without building it.

    open_clip's order: its defaults, then the tag's config, then the vision tower's
    image size; then what ``register_model_config`` recorded for this architecture.

    Raises:
        InputError: unknown architecture or tag, or an unsupported config.
    """
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    register_tiny_model()
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        raise InputError(
            f"unknown model {name!r}; use 'tiny' or an open_clip architecture such as ViT-B-32, ViT-B-16, ViT-L-14."
        )
    merged = merge_preprocess_dict(PreprocessCfg(), _preprocess_overlay(name, pretrained))
    merged["size"] = cfg.get("vision_cfg", {}).get("image_size", merged["size"])
    return Preprocess.from_open_clip(merged)


def _preprocess_overlay(name: str, pretrained: str | None) -> dict[str, Any]:
    """What open_clip's create_model gets as force_preprocess_cfg (size excluded)."""
    import open_clip
    from open_clip.transform import merge_preprocess_dict

    overlay: dict[str, Any] = {}
    if pretrained:
        _pretrained_source(name, pretrained)  # validates the tag
        overlay = merge_preprocess_dict({}, open_clip.get_pretrained_cfg(name, pretrained))
    overlay.update(_preprocess_overrides.get(name, {}))
    overlay.pop("size", None)
    return overlay


def embedding_set_key(name: str, pretrained: str | None = None, checkpoint: str | Path | None = None) -> str:
    """The key a model's embeddings are stored under, without loading the model.

    Equals ``load_model(name, pretrained, checkpoint=checkpoint).info.key``.

    Raises:
        InputError: unknown architecture or tag.
        ModelUnavailableError: the checkpoint file cannot be read.
    """
    if name == TINY_MODEL:
        pretrained = None  # tiny has no tags; a checkpoint (a saved random init) is its own set
    if checkpoint is not None:
        pretrained = None
    pp = model_preprocess(name, pretrained)
    return f"{name}/{weights_id(pretrained, checkpoint)}@{pp.version}"


# ``weights@ppN-digest`` (tags and sha256 ids hold no "/"; old checkpoint keys held a path).
_CURRENT_WEIGHTS_AND_PP = re.compile(r"[^/@]+@pp\d+(-[0-9a-f]{8})?")


def _rekeyed(old_key: str) -> str | None:
    """The current key of a set stored under ``legacy_embedding_key``; None if unknown now.

    Version 1 preprocessing was open_clip's default transform (shortest side, bicubic,
    OpenAI mean/std) to within the draft-mode tolerance, so sets of models whose config is
    that default keep serving under the current key; others keep their vectors under an
    ``@pp1`` key that no current model reads (listed by ``info``, re-embedded on demand).
    """
    import open_clip

    name, sep, rest = old_key.partition("/")
    if not sep or not rest:
        return None
    if _CURRENT_WEIGHTS_AND_PP.fullmatch(rest):
        return old_key  # already a current key (written by this version)
    register_tiny_model()
    if name not in open_clip.list_models():
        return None
    pretrained: str | None = None
    checkpoint: Path | None = None
    if rest != "none":
        if rest in open_clip.list_pretrained_tags_by_model(name):
            pretrained = rest
        elif Path(rest).is_file():
            checkpoint = Path(rest)
        else:
            return None  # a checkpoint that is gone: nothing to hash, keep the old key
    try:
        pp = model_preprocess(name, pretrained)
        weights = weights_id(pretrained, checkpoint)
    except ClipcoreError as exc:
        logger.warning("embedding set %r keeps its old key: %s", old_key, exc)
        return None
    if pp == Preprocess(size=pp.size):
        return f"{name}/{weights}@{pp.version}"
    return f"{name}/{weights}@pp1"


def describe_key(key: str) -> str:
    """An embedding-set key for people: "ViT-B-32 (laion2b_s34b_b79k)", "tiny", or
    "ViT-B-32 (local weights 0f89ab12)" for a checkpoint; the preprocessing version and the
    weights hash are left out (the key itself is for the store and the command line)."""
    name, _, rest = str(key).partition("/")
    weights = rest.split("@", 1)[0]
    if not weights or weights == "none":
        return name
    if weights.startswith("sha256-"):
        return f"{name} (local weights {weights[7:15]})"
    return f"{name} ({weights})"


@dataclass(frozen=True)
class ModelSpec:
    """How to load the model of one embedding set: ``load_model(name, pretrained,
    checkpoint=checkpoint)``. ``untrained`` sets are random weights (say so next to results)."""

    key: str
    name: str
    pretrained: str | None
    checkpoint: str | None
    untrained: bool

    @property
    def label(self) -> str:
        """Short display name: the architecture, with its tag or checkpoint file name if any."""
        weights = self.pretrained or (Path(self.checkpoint).name if self.checkpoint else None)
        return f"{self.name} ({weights})" if weights else self.name


def record_embedding_model(ws: Workspace, info: ModelInfo) -> None:
    """Remember how to load the model behind embedding set ``info.key`` (table
    ``embedding_models``, owned here); the newest record of a key wins."""
    from clipcore.catalog.store import utc_now

    with ws.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO embedding_models (key, name, pretrained, checkpoint, untrained, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (info.key, info.name, info.pretrained, info.checkpoint, int(info.untrained), utc_now()),
        )


def embedding_model_specs(ws: Workspace) -> dict[str, ModelSpec]:
    """``ModelSpec`` per embedding set of ``ws`` that can be loaded again, in the store's order.

    A set embedded before its model was recorded is still loadable when its key names a
    pretrained tag or no weights (``name/tag@pp``); a checkpoint set needs its record.
    """
    recorded = {
        row[0]: ModelSpec(row[0], row[1], row[2], row[3], bool(row[4]))
        for row in ws.connect().execute("SELECT key, name, pretrained, checkpoint, untrained FROM embedding_models")
    }
    out: dict[str, ModelSpec] = {}
    for key in ws.embedding_keys():
        if key in recorded:
            out[key] = recorded[key]
            continue
        match = re.fullmatch(r"([^/]+)/([^@/]+)@[^/]+", key)
        if match is None or match.group(2).startswith("sha256-"):
            continue
        name, weights = match.group(1), match.group(2)
        pretrained = None if weights == "none" else weights
        out[key] = ModelSpec(key, name, pretrained, None, name == TINY_MODEL or pretrained is None)
    return out


def known_models() -> list[tuple[str, str]]:
    """(architecture, pretrained tag) pairs open_clip knows (``open_clip.list_pretrained()``),
    in its order, with ``("tiny", "")`` first (the offline test model, no weights)."""
    import open_clip

    return [(TINY_MODEL, ""), *((str(a), str(t)) for a, t in open_clip.list_pretrained())]


def check_model_choice(
    name: str, pretrained: str | None, checkpoint: str | None, *, folders: tuple[Path, ...]
) -> tuple[str, str | None, Path | None]:
    """A second model chosen in a form: (architecture, pretrained tag or None, checkpoint
    file or None), checked without loading it. Messages name the form's fields
    (Architecture, Pretrained tag, Local checkpoint).

    A checkpoint is accepted only inside a model folder (``folders``), so the field cannot
    probe the server's disk.

    Raises:
        InputError: empty or unknown architecture or tag, both or neither weights given.
        ModelUnavailableError: a tag whose weights are not here while downloads are off.
        ConfigError: a checkpoint outside the model folders, or not a file there.
    """
    import open_clip

    from clipcore.config import checked_weights_file

    register_tiny_model()
    name, tag, ckpt = (name or "").strip(), (pretrained or "").strip() or None, (checkpoint or "").strip() or None
    if not name:
        raise InputError("Architecture: choose a CLIP architecture (e.g. ViT-B-32) or tiny.")
    if name not in open_clip.list_models():
        raise InputError(f"Architecture: unknown model {name!r}; use tiny or a CLIP architecture such as ViT-B-32.")
    if tag and ckpt:
        raise InputError("Pretrained tag and Local checkpoint: fill in one of them, not both.")
    if tag and name == TINY_MODEL:
        raise InputError("Pretrained tag: tiny has no pretrained weights; leave it empty (or give a Local checkpoint).")
    if tag:
        known = open_clip.list_pretrained_tags_by_model(name)
        if tag not in known:
            raise InputError(f"Pretrained tag: {tag!r} is not a tag of {name}; known tags: {', '.join(known) or 'none'}.")
        if offline_forced() and find_cached_weights(name, tag) is None:
            raise ModelUnavailableError(
                f"Pretrained tag: the weights of {name}/{tag} are not on this machine and downloads are off;",
                cli_hint="run `python -m clipcore download-model` on a connected machine, or give a Local checkpoint.",
                app_hint="download them on a connected machine and copy them here, or give a Local checkpoint.",
            )
        return name, tag, None
    if ckpt:
        try:
            return name, None, checked_weights_file(ckpt, folders)
        except ClipcoreError as exc:
            raise type(exc)(f"Local checkpoint: {exc}") from exc
    if name != TINY_MODEL:
        raise InputError(f"Pretrained tag or Local checkpoint: a random-init {name} means nothing; give one of them.")
    return name, None, None


def rekey_legacy_sets(ws: Workspace) -> list[tuple[str, str]]:
    """Rename embedding sets stored under the old key function to their current key.

    Cheap when there is nothing to do (one read). A set whose model or checkpoint is not
    available now keeps its old key and is retried on the next open; vectors are never
    dropped or moved. A read-only workspace is left as it is.

    Returns:
        (old key, new key) per set renamed.
    """
    if getattr(ws, "read_only", False):
        return []
    pending = ws.legacy_embedding_sets()
    renamed: list[tuple[str, str]] = []
    for set_id, old_key in pending.items():
        new_key = _rekeyed(old_key)
        if new_key is None:
            continue
        try:
            final = ws.rekey_embedding_set(set_id, new_key, fallback=f"{old_key}@pp1")
        except (ClipcoreError, OSError) as exc:
            logger.warning("embedding set %r keeps its old key for now: %s", old_key, exc)
            continue
        logger.info("embedding set %r is now %r", old_key, final)
        renamed.append((old_key, final))
    return renamed


class ClipModel:
    """A loaded CLIP model; encodes images and texts to unit-norm float32 vectors.

    Not thread-safe for concurrent encode calls from many threads on CPU beyond torch's
    own guarantees; the UI keeps one instance per (model, device, precision).
    """

    def __init__(self, model: Any, tokenizer: Callable, preprocess: Preprocess, info: ModelInfo) -> None:
        import torch

        self._torch = torch
        self._model = model
        self._tokenizer = tokenizer
        self.info = info
        self.preprocess = preprocess
        self.mean = np.asarray(preprocess.mean, dtype=np.float32)
        self.std = np.asarray(preprocess.std, dtype=np.float32)
        self.logit_scale = float(model.logit_scale.exp().item()) if hasattr(model, "logit_scale") else 100.0
        self._dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[info.precision]
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._folded = _fold_normalisation(model, self.mean, self.std)

    @property
    def image_size(self) -> int:
        """Side of the square input the vision tower takes, in pixels."""
        return self.info.image_size

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray:
        """Encode preprocessed images.

        Args:
            batch: (n, S, S, 3) uint8, S = ``image_size``, from ``self.preprocess.apply``;
                numpy, or a torch tensor (the GPU decoder's, already on the model's device).
        Returns:
            (n, dim) float32, rows unit-norm.
        """
        torch = self._torch
        uint8 = batch.dtype == (torch.uint8 if isinstance(batch, torch.Tensor) else np.uint8)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (self.image_size, self.image_size, 3) or not uint8:
            raise InputError(
                f"expected a (n, {self.image_size}, {self.image_size}, 3) uint8 batch; got {batch.shape} {batch.dtype}."
            )
        if len(batch) == 0:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        if isinstance(batch, torch.Tensor):
            x = batch.to(self.info.device).permute(0, 3, 1, 2)  # the GPU decoder's batch, already on device
        else:
            if not batch.flags.writeable:
                batch = batch.copy()  # torch refuses to wrap read-only memory safely
            x = torch.from_numpy(batch).to(self.info.device).permute(0, 3, 1, 2)
        if self._folded:
            # 0..255 are exact in bf16/fp16; the first conv normalises. Convert, then make
            # contiguous (NCHW): measured ~20% faster than the channels-last view. The
            # input dtype is open_clip's get_input_dtype for this precision.
            x = x.to(self._dtype).contiguous()
        else:
            mean = torch.from_numpy(self.mean).to(x.device).view(1, 3, 1, 1)
            std = torch.from_numpy(self.std).to(x.device).view(1, 3, 1, 1)
            x = ((x.float().div_(255.0) - mean) / std).to(self._dtype)
        with torch.inference_mode():
            feats = self._model.encode_image(x)
        return _normalise(feats.float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts; repeated texts come from a small in-memory cache.

        Returns:
            (n, dim) float32, rows unit-norm.
        Raises:
            InputError: an empty text, or one longer than 2,000 characters.
        """
        texts = list(texts)
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise InputError("a text query or prompt is empty; type some words.")
            if len(t) > MAX_PROMPT_CHARS:
                raise InputError(
                    f"a prompt has {len(t)} characters; at most {MAX_PROMPT_CHARS} are accepted "
                    "(CLIP reads only about 75 tokens anyway)."
                )
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if missing:
            torch = self._torch
            tokens = self._tokenizer(missing).to(self.info.device)
            with torch.inference_mode():
                feats = _normalise(self._model.encode_text(tokens).float().cpu().numpy())
            with self._lock:
                for t, f in zip(missing, feats):
                    self._text_cache[t] = f
                while len(self._text_cache) > 4096:
                    self._text_cache.popitem(last=False)
        with self._lock:
            rows = [self._text_cache[t] for t in texts]
        if not rows:
            return np.zeros((0, self.info.embed_dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)


def _fold_normalisation(model: Any, mean: np.ndarray, std: np.ndarray) -> bool:
    """Fold ``(x / 255 - mean) / std`` into the patch-embedding convolution, in place.

    For a ViT the first layer is an unpadded convolution, so
    ``conv(W, (x/255 - m)/s) = conv(W / (255 s), x) - sum(W m / s)`` exactly; the batch
    then goes to the model as raw 0..255 values, which saves a full pass over every
    pixel per batch (about a tenth of ViT-B-32's time on a 2-core CPU). Returns False,
    changing nothing, for towers without such a layer.
    """
    import torch

    visual = getattr(model, "visual", None)
    conv = getattr(visual, "conv1", None)
    if not isinstance(conv, torch.nn.Conv2d) or conv.bias is not None or conv.in_channels != 3:
        return False
    if any(p != 0 for p in (conv.padding if isinstance(conv.padding, tuple) else (1,))):
        return False
    with torch.no_grad():
        w = conv.weight.float()
        m = torch.from_numpy(mean).to(w.device).view(1, 3, 1, 1)
        s = torch.from_numpy(std).to(w.device).view(1, 3, 1, 1)
        folded = torch.nn.Conv2d(3, conv.out_channels, conv.kernel_size, conv.stride, bias=True)
        folded.weight.copy_(w / (255.0 * s))
        folded.bias.copy_(-(w * (m / s)).sum(dim=(1, 2, 3)))
        visual.conv1 = folded.to(device=conv.weight.device, dtype=conv.weight.dtype)
    return True


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def load_model(
    name: str,
    pretrained: str | None = None,
    *,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    allow_download: bool = True,
) -> ClipModel:
    """Build an open_clip model with its weights.

    Args:
        name: open_clip architecture (``ViT-B-32`` ...) or ``tiny``.
        pretrained: open_clip pretrained tag; None for random init (``tiny`` is always random).
        checkpoint: local weights file; takes precedence over ``pretrained``.
        device: ``auto`` | ``cpu`` | ``cuda`` | ``mps``.
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``.
        allow_download: try to download missing weights when the host is reachable.
    Raises:
        InputError: unknown architecture or tag, bad device or precision.
        ModelUnavailableError: weights missing and unreachable, or the checkpoint file is missing.
    """
    import open_clip
    import torch

    register_tiny_model()
    if name not in open_clip.list_models():
        raise InputError(
            f"unknown model {name!r}; use 'tiny' or an open_clip architecture such as ViT-B-32, ViT-B-16, ViT-L-14."
        )
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    weights: str | None = None
    if name == TINY_MODEL:
        pretrained = None
    if checkpoint is not None:
        ckpt = Path(checkpoint).expanduser()
        if not ckpt.is_file():
            raise ModelUnavailableError(
                f"checkpoint file {str(ckpt)!r} does not exist;",
                cli_hint="fix the path in clipcore.toml, CLIPCORE_CHECKPOINT or --checkpoint.",
                app_hint="fix the checkpoint line of the [model] section in clipcore.toml and restart the app.",
            )
        weights = str(ckpt)
    elif pretrained is not None:
        weights = str(fetch_weights(name, pretrained, allow_download=allow_download))

    overlay = _preprocess_overlay(name, pretrained if checkpoint is None else None)
    started = time.perf_counter()
    # Seeded so that random-init models (tiny, or timing runs) are reproducible.
    torch.manual_seed(TINY_SEED)
    quiet = logging.getLogger()
    level = quiet.level
    if weights is None:
        quiet.setLevel(logging.ERROR)  # open_clip warns "initialized randomly" on purpose here
    try:
        model = open_clip.create_model(
            name, pretrained=weights, precision=OPEN_CLIP_PRECISION[prec], device=dev, force_preprocess_cfg=overlay
        )
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        raise ModelUnavailableError(f"could not load weights {weights!r} into {name}: {exc}") from exc
    finally:
        quiet.setLevel(level)
    model.eval()
    preprocess = Preprocess.from_open_clip(open_clip.get_model_preprocess_cfg(model))
    text_projection = getattr(model, "text_projection", None)
    if isinstance(text_projection, torch.Tensor):
        embed_dim = int(text_projection.shape[1])
    else:
        with torch.inference_mode():
            embed_dim = int(model.encode_text(open_clip.get_tokenizer(name)(["a"]).to(dev)).shape[1])
    info = ModelInfo(
        name=name,
        pretrained=pretrained if checkpoint is None else None,
        checkpoint=weights if checkpoint is not None else None,
        device=dev,
        precision=prec,
        embed_dim=embed_dim,
        image_size=preprocess.size,
        weights=weights_id(pretrained if checkpoint is None else None, weights if checkpoint is not None else None),
        preprocess=preprocess.version,
    )
    logger.info(
        "loaded %s on %s/%s (%s) in %.1fs", info.key, dev, prec, preprocess.describe(), time.perf_counter() - started
    )
    return ClipModel(model, open_clip.get_tokenizer(name), preprocess, info)
