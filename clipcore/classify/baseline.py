"""The fine-tuned EfficientNet baseline: the reference study's non-CLIP comparison.

An ImageNet-pretrained EfficientNet (timm; B4 by default as in the study, B0
selectable) is fine-tuned on exactly the training draws the CLIP methods get
(``clipcore.classify.splits.draw_training_sets`` on the frozen split, same seed -> same draws)
and scored on the same hold-out (``split.test_ids``).

Training recipe, per (k, draw):

- images decoded once (``clipcore.catalog.images.open_rgb`` in draft mode, via
  ``iter_pixel_batches``) to a square a little larger than the network input;
- augmentation: random resized crop, horizontal flip, small colour jitter;
- class-weighted cross-entropy (inverse class frequency in the training set);
- AdamW; early stopping on a stratified validation slice of the *training* set
  (patience epochs without a lower validation loss, best weights restored). When some
  class has fewer than ``MIN_PER_CLASS_FOR_VALIDATION`` training images there is no
  slice: a fixed number of epochs is trained and the run says so in its notes.

Pretrained weights come from the local Hugging Face / torch-hub cache or a local
checkpoint file; offline, a missing download fails within seconds with one message
naming both ways out. ``arch="tiny"`` is timm's ``test_efficientnet`` with random
weights at 64 px for tests and offline mechanics; its results carry
``RANDOM_INIT_WARNING`` everywhere.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

import numpy as np

from clipcore.classify import metrics
from clipcore.embedding.pipeline import iter_pixel_batches
from clipcore.errors import InputError, ModelUnavailableError, WorkspaceError
from clipcore.classify.evaluation import parse_ks, summarise_draws
from clipcore.embedding.models import (
    cpu_has_bf16_units,
    host_reachable,
    offline_forced,
    resolve_device,
)
from clipcore.catalog.store import Workspace

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

TINY_ARCH = "tiny"


@dataclass(frozen=True)
class ArchSpec:
    """A baseline network: timm name, input side, and where timm fetches its ImageNet weights.

    The hub id and URL mirror timm's default pretrained config (a test keeps them in
    step), so that the offline check needs neither torch nor timm imported.
    """

    timm_name: str
    input_size: int
    hf_hub_id: str | None = None
    url: str | None = None


ARCHS: dict[str, ArchSpec] = {
    "efficientnet_b4": ArchSpec(
        "efficientnet_b4",
        320,
        "timm/efficientnet_b4.ra2_in1k",
        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/efficientnet_b4_ra2_320-7eb33cd5.pth",
    ),
    "efficientnet_b0": ArchSpec(
        "efficientnet_b0",
        224,
        "timm/efficientnet_b0.ra_in1k",
        "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/efficientnet_b0_ra-3dd342df.pth",
    ),
    TINY_ARCH: ArchSpec("test_efficientnet", 64),
}
DEFAULT_ARCH = "efficientnet_b4"
RANDOM_INIT_WARNING = "untrained/random-init baseline - results are not meaningful"
DEFAULT_KS: tuple[int | str, ...] = (1, 2, 4, 8, 16, "all")
DEFAULT_EPOCHS = 20
TINY_EPOCHS = 2
PATIENCE = 4
VALIDATION_FRACTION = 0.2
MIN_PER_CLASS_FOR_VALIDATION = 4
# Decoded images are this much larger than the input so that the random crop has room.
LOAD_SCALE = 1.15


# -- weights -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineWeights:
    """Where a baseline network's starting weights come from.

    ``source``: ``cache`` (local hub cache), ``checkpoint`` (a file given by the user),
    ``download`` (fetched from the hub now) or ``random-init`` (tiny only).
    """

    arch: str
    timm_name: str
    source: str
    path: str | None
    input_size: int

    @property
    def pretrained(self) -> bool:
        """True unless the network starts from random weights."""
        return self.source != "random-init"


def _check_arch(arch: str) -> ArchSpec:
    if arch not in ARCHS:
        raise InputError(f"unknown baseline architecture {arch!r}; use one of {', '.join(ARCHS)}.")
    return ARCHS[arch]


def _torch_hub_checkpoints() -> Path:
    # torch.hub.get_dir() without importing torch: $TORCH_HOME or $XDG_CACHE_HOME/torch, then hub/checkpoints.
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def find_cached_baseline_weights(arch: str, cache_dir: str | None = None) -> Path | None:
    """Already-downloaded ImageNet weights for ``arch`` (HF hub cache, then torch-hub cache), or None.

    Never touches the network and imports neither torch nor timm.
    """
    spec = _check_arch(arch)
    if spec.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for name in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(spec.hf_hub_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and Path(found).exists():
                return Path(found)
    if spec.url:
        target = _torch_hub_checkpoints() / os.path.basename(urlparse(spec.url).path)
        if target.exists():
            return target
    return None


def baseline_offline_error(arch: str, reason: str) -> ModelUnavailableError:
    """The one error raised when ImageNet weights for the baseline are missing: the ways out
    name CLI flags in ``str`` and the app's baseline form fields in ``for_app()``."""
    spec = _check_arch(arch)
    timm_name, hub_id = spec.timm_name, spec.hf_hub_id or spec.timm_name
    cache = f"~/.cache/huggingface/hub/models--{hub_id.replace('/', '--')}"
    return ModelUnavailableError(
        f"ImageNet-pretrained weights for the {arch} baseline are not available: {reason}.",
        cli_hint=(
            f"Either run `python -c \"import timm; timm.create_model('{timm_name}', pretrained=True)\"` on a connected "
            f"machine and copy its Hugging Face cache ({cache}) "
            f"here, or pass a local weights file with `baseline --arch {arch} --checkpoint FILE`. "
            f"`--arch {TINY_ARCH}` trains a random-init network offline, for mechanics only."
        ),
        app_hint=(
            f"Either start this baseline once on a connected machine (it downloads the weights) and copy its "
            f"Hugging Face cache ({cache}) "
            f"here, or type the path of a local weights file in \"Local weights file\". "
            f"Network \"{TINY_ARCH}\" trains a random-init network offline, for mechanics only."
        ),
    )


def baseline_offline_message(arch: str, reason: str, *, form: bool = False) -> str:
    """The message of :func:`baseline_offline_error`; with ``form``, as the app words it."""
    exc = baseline_offline_error(arch, reason)
    return exc.for_app() if form else str(exc)


def resolve_weights(
    arch: str, *, checkpoint: str | Path | None = None, allow_download: bool = True, form: bool = False
) -> BaselineWeights:
    """Decide where ``arch``'s starting weights come from, without loading them.

    Order: a checkpoint file, then the local cache, then a download when the hub is
    reachable (probed for at most a few seconds). ``tiny`` is always random-init.

    Raises:
        InputError: unknown architecture, or a checkpoint given for ``tiny``.
        (With ``form``, messages name the app's form fields rather than CLI flags.)
        ModelUnavailableError: the checkpoint file is missing, or the weights are neither
            cached nor downloadable (fast; the message names both ways out).
    """
    spec = _check_arch(arch)
    timm_name, size = spec.timm_name, spec.input_size
    if arch == TINY_ARCH:
        if checkpoint is not None:
            raise InputError(
                f'"Local weights file" must be empty for network "{TINY_ARCH}"; it is random-init by design.'
                if form
                else f"--checkpoint cannot be used with --arch {TINY_ARCH}; it is random-init by design."
            )
        return BaselineWeights(arch, timm_name, "random-init", None, size)
    if checkpoint is not None:
        ckpt = Path(checkpoint).expanduser()
        if not ckpt.is_file():
            raise ModelUnavailableError(
                f"baseline checkpoint file {str(ckpt)!r} does not exist; pass the path of a timm {timm_name} weights file."
            )
        return BaselineWeights(arch, timm_name, "checkpoint", str(ckpt.resolve()), size)
    cached = find_cached_baseline_weights(arch)
    if cached is not None:
        return BaselineWeights(arch, timm_name, "cache", str(cached), size)
    if not allow_download or offline_forced():
        raise baseline_offline_error(arch, "not in the local cache and offline mode is on")
    if not host_reachable("huggingface.co"):
        raise baseline_offline_error(arch, "not in the local cache and huggingface.co is unreachable")
    return BaselineWeights(arch, timm_name, "download", None, size)


def build_network(weights: BaselineWeights, num_classes: int) -> Any:
    """A timm EfficientNet with a fresh ``num_classes`` head on the resolved weights (CPU, train mode).

    Raises:
        ModelUnavailableError: the weights file does not fit the architecture, or the download failed.
    """
    import timm
    import torch

    if num_classes < 2:
        raise InputError(f"the baseline needs at least 2 classes; got {num_classes}.")
    try:
        if weights.source == "random-init":
            torch.manual_seed(0)
            return timm.create_model(weights.timm_name, pretrained=False, num_classes=num_classes)
        overlay = {"file": weights.path} if weights.path else None
        return timm.create_model(
            weights.timm_name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=overlay
        )
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        if weights.source == "download":
            raise baseline_offline_error(weights.arch, f"download failed ({exc})") from exc
        raise ModelUnavailableError(
            f"could not load {weights.path!r} into {weights.timm_name}: {exc}. "
            f"Pass a timm {weights.timm_name} checkpoint (ImageNet classifier head is replaced)."
        ) from exc


# -- data --------------------------------------------------------------------------------


def load_pixels(ws: Workspace, image_ids: Sequence[int], size: int, *, batch_size: int = 64) -> dict[int, np.ndarray]:
    """Decode images once, resized (short side) and centre-cropped to ``size``.

    Returns:
        id -> (size, size, 3) uint8. Unreadable files are left out (and logged).
    """
    records = {r.id: r for r in ws.images(list(image_ids))}
    out: dict[int, np.ndarray] = {}
    items = ((i, records[i]) for i in image_ids)
    for ids, pixels, bad in iter_pixel_batches(items, size, batch_size):
        for i, arr in zip(ids, pixels):
            out[i] = arr
        for b in bad:
            logger.warning("baseline: image %s unreadable (%s); left out", b["id"], b["reason"])
    return out


class _Augment:
    """Random resized crop, horizontal flip and small colour jitter on (3, S, S) uint8 tensors."""

    def __init__(self, size: int) -> None:
        from torchvision.transforms import v2

        self._train = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.85, 1.18), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
            ]
        )
        self._eval = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def __call__(self, x: Any, train: bool) -> Any:
        return self._train(x) if train else self._eval(x)


# -- training ----------------------------------------------------------------------------


@dataclass
class FitReport:
    """One fine-tuning run: which training images, how it stopped, how it scored."""

    k: int | str
    draw: int
    n_train: int
    n_validation: int
    epochs: int
    stopped_early: bool
    error_rate: float
    balanced_accuracy: float
    predictions: list[str] = field(repr=False)


class _Trainer:
    def __init__(
        self,
        weights: BaselineWeights,
        classes: list[str],
        pixels: dict[int, np.ndarray],
        *,
        device: str,
        batch_size: int,
        lr: float,
        amp: bool,
    ) -> None:
        import torch

        self.torch = torch
        self.classes = classes
        self.index = {c: i for i, c in enumerate(classes)}
        self.pixels = pixels
        self.device = device
        self.batch_size = batch_size
        self.lr = lr
        self.size = weights.input_size
        self.augment = _Augment(self.size)
        net = build_network(weights, len(classes))
        cfg = getattr(net, "pretrained_cfg", {}) or {}
        self.mean = torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1).to(device)
        self.std = torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1).to(device)
        # Every fit starts from the same weights; keep them on the CPU.
        self.initial_state = copy.deepcopy(net.state_dict())
        self.net = net.to(device)
        self.amp_dtype = None
        # bf16 autocast where the hardware has it (measured ~1.4x faster B4 training on an AMX CPU).
        if amp and (
            (device == "cuda" and torch.cuda.is_bf16_supported()) or (device == "cpu" and cpu_has_bf16_units())
        ):
            self.amp_dtype = torch.bfloat16

    def _batch(self, ids: Sequence[int], train: bool) -> Any:
        torch = self.torch
        xs = [self.augment(torch.from_numpy(self.pixels[i]).permute(2, 0, 1), train) for i in ids]
        x = torch.stack(xs).to(self.device).float().div_(255.0)
        return (x - self.mean) / self.std

    def _autocast(self) -> Any:
        import contextlib

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return self.torch.autocast(device_type=self.device, dtype=self.amp_dtype)

    def _loss(self, ids: Sequence[int], loss_fn: Any) -> float:
        torch = self.torch
        self.net.eval()
        total = 0.0
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(ids), self.batch_size):
                chunk = ids[start : start + self.batch_size]
                y = torch.tensor([self.index[self.labels[i]] for i in chunk], device=self.device)
                total += float(loss_fn(self.net(self._batch(chunk, False)).float(), y)) * len(chunk)
        return total / max(len(ids), 1)

    def predict(self, ids: Sequence[int]) -> list[str]:
        """Predicted class of each image (centre crop, eval mode)."""
        torch = self.torch
        self.net.eval()
        out: list[str] = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(ids), self.batch_size):
                logits = self.net(self._batch(ids[start : start + self.batch_size], False))
                out.extend(self.classes[j] for j in logits.float().argmax(dim=1).tolist())
        return out

    def fit(
        self,
        train_ids: list[int],
        val_ids: list[int],
        labels: dict[int, str],
        *,
        epochs: int,
        seed: int,
        on_epoch: Callable[[], None],
    ) -> tuple[int, bool]:
        """Fine-tune from the initial weights; returns (epochs run, stopped early)."""
        torch = self.torch
        self.labels = labels
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.net.load_state_dict(self.initial_state)
        weights = class_weights([labels[i] for i in train_ids], self.classes)
        loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=self.device))
        eval_loss = torch.nn.CrossEntropyLoss()
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
        best_loss, best_state, bad_epochs = math.inf, None, 0
        ran, stopped = 0, False
        for _ in range(epochs):
            self.net.train()
            order = rng.permutation(len(train_ids))
            for start in range(0, len(order), self.batch_size):
                chunk = [train_ids[j] for j in order[start : start + self.batch_size]]
                if len(chunk) == 1 and len(order) > 1:
                    continue  # BatchNorm cannot train on a batch of one; it is reshuffled next epoch
                y = torch.tensor([self.index[labels[i]] for i in chunk], device=self.device)
                with self._autocast():
                    logits = self.net(self._batch(chunk, True))
                loss = loss_fn(logits.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            ran += 1
            on_epoch()
            if val_ids:
                val = self._loss(val_ids, eval_loss)
                if val < best_loss - 1e-4:
                    best_loss, bad_epochs = val, 0
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    bad_epochs += 1
                    if bad_epochs >= PATIENCE:
                        stopped = True
                        break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        return ran, stopped


def class_weights(train_labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Inverse-frequency loss weights, (C,) float64: n / (C_present * n_c); 0 for absent classes.

    A balanced training set gets all ones; a class with a third of the images of
    another gets three times its weight.
    """
    index = {c: i for i, c in enumerate(classes)}
    counts = np.bincount([index[c] for c in train_labels], minlength=len(classes)).astype(np.float64)
    present = max(int((counts > 0).sum()), 1)
    return np.where(counts > 0, counts.sum() / (present * np.maximum(counts, 1)), 0.0)


def validation_slice(
    train_ids: Sequence[int], labels: dict[int, str], *, fraction: float = VALIDATION_FRACTION, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Split a training set into (fit ids, validation ids), stratified by class.

    Returns no validation ids when some class has fewer than
    ``MIN_PER_CLASS_FOR_VALIDATION`` training images (the caller trains fixed epochs).
    """
    by_class: dict[str, list[int]] = {}
    for i in train_ids:
        by_class.setdefault(labels[i], []).append(int(i))
    if not by_class or min(len(v) for v in by_class.values()) < MIN_PER_CLASS_FOR_VALIDATION:
        return [int(i) for i in train_ids], []
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for cls in sorted(by_class):
        members = list(rng.permutation(by_class[cls]))
        n_val = max(1, round(fraction * len(members)))
        val.extend(int(i) for i in members[:n_val])
        fit.extend(int(i) for i in members[n_val:])
    return sorted(fit), sorted(val)


@dataclass
class BaselineResult:
    """What a baseline run produced; ``settings`` and ``results`` go to ``save_run``."""

    settings: dict[str, Any]
    results: dict[str, Any]
    fits: list[FitReport]


def run_baseline(
    ws: Workspace,
    *,
    arch: str = DEFAULT_ARCH,
    ks: Sequence[int | str] = DEFAULT_KS,
    draws: int = 5,
    epochs: int | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    split_name: str = "default",
    batch_size: int | None = None,
    lr: float | None = None,
    progress: ProgressFn | None = None,
) -> BaselineResult:
    """Fine-tune ``arch`` on every training draw of every k and score it on the hold-out.

    The frozen split ``split_name`` is used (frozen now from ground truth if there is
    none yet); k values above the smallest class's training count are dropped with a
    note. Weights are resolved first, so a missing download fails before any decoding.

    Args:
        ks: examples per class; ``"all"`` means the whole training set.
        draws: random training sets per k (``draw_training_sets``; same seed, same sets).
        epochs: maximum epochs per fit (default 20; 2 for ``tiny``).
        progress: ``progress(done, total)`` in fits (one per k and draw).
    Returns:
        BaselineResult whose ``results`` hold ``rows`` ({"method","k","draw","error_rate",
        "balanced_accuracy"}), ``summary``, ``confusion_matrices`` and ``predictions``
        ({test id (str): class}) of the largest k's first draw, ``test_ids``, ``notes``
        and ``warnings``.
    Raises:
        InputError, ModelUnavailableError, WorkspaceError: bad arguments, missing
        weights, or a workspace without usable ground truth.
    """
    from clipcore.classify.splits import (
        draw_training_sets,
        freeze_split,
        get_split,
        max_k,
        split_drift,
        usable_ks,
    )

    if draws < 1:
        raise InputError(f"draws must be at least 1; got {draws}.")
    ks = parse_ks(ks)
    weights = resolve_weights(arch, checkpoint=checkpoint)
    epochs = epochs if epochs is not None else (TINY_EPOCHS if arch == TINY_ARCH else DEFAULT_EPOCHS)
    if epochs < 1:
        raise InputError(f"epochs must be at least 1; got {epochs}.")
    dev = resolve_device(device)
    if dev == "mps":
        dev = "cpu"  # torchvision's augmentation and timm's BatchNorm are well trodden on cuda/cpu only
    batch_size = batch_size or (32 if arch == TINY_ARCH else 16)
    lr = lr if lr is not None else (1e-3 if arch == TINY_ARCH else 3e-4)

    split = get_split(ws, split_name) or freeze_split(ws, name=split_name)
    labels = {int(i): str(c) for i, c in split.labels.items()}
    classes = split.classes
    if len(classes) < 2:
        raise WorkspaceError(f"the split {split_name!r} has {len(classes)} class(es); the baseline needs at least 2.")
    if not split.test_ids:
        raise WorkspaceError(f"the split {split_name!r} has no hold-out images; freeze a split with a test fraction > 0.")
    notes: list[str] = split_drift(ws, split)
    usable, dropped = usable_ks(split, ks)
    if dropped:
        notes.append(f"k={','.join(map(str, dropped))} dropped: the smallest class has {max_k(split)} training images.")
    if not usable:
        raise InputError(f"no k value fits: the smallest class has {max_k(split)} training images; got k={ks}.")

    plan: list[tuple[int | str, int, list[int]]] = []
    for k in usable:
        for d, ids in enumerate(draw_training_sets(split, k, draws, seed)):
            plan.append((k, d, [int(i) for i in ids]))
    needed = sorted({i for _, _, ids in plan for i in ids} | {int(i) for i in split.test_ids})

    started = time.perf_counter()
    load_size = round(weights.input_size * LOAD_SCALE)
    logger.info("baseline %s: decoding %d images at %d px", arch, len(needed), load_size)
    pixels = load_pixels(ws, needed, load_size)
    test_ids = [int(i) for i in split.test_ids if int(i) in pixels]
    if len(test_ids) < len(split.test_ids):
        notes.append(f"{len(split.test_ids) - len(test_ids)} hold-out image(s) unreadable and not scored.")
    # The tiny variant stays fp32 so that its (meaningless) numbers do not depend on the CPU.
    trainer = _Trainer(weights, classes, pixels, device=dev, batch_size=batch_size, lr=lr, amp=arch != TINY_ARCH)

    # Progress counts fits (one per k and draw), the unit the user chose; epochs vary with early stopping.
    total = len(plan)
    if progress:
        progress(0, total)
    method = arch
    rows: list[dict] = []
    fits: list[FitReport] = []
    fixed_epoch_ks: set[str] = set()
    truth = [labels[i] for i in test_ids]
    for fit_no, (k, d, ids) in enumerate(plan):
        ids = [i for i in ids if i in pixels]
        fit_ids, val_ids = validation_slice(ids, labels, seed=seed * 1000 + fit_no)
        if not val_ids:
            fixed_epoch_ks.add(str(k))
        ran, stopped = trainer.fit(fit_ids, val_ids, labels, epochs=epochs, seed=seed * 1000 + fit_no, on_epoch=lambda: None)
        if progress:
            progress(fit_no + 1, total)
        pred = trainer.predict(test_ids)
        err = 1.0 - metrics.accuracy(truth, pred)
        bal = metrics.balanced_accuracy(truth, pred)
        fits.append(FitReport(k, d, len(fit_ids), len(val_ids), ran, stopped, err, bal, pred))
        rows.append({"method": method, "k": k, "draw": d, "error_rate": err, "balanced_accuracy": bal})
        logger.info("baseline %s k=%s draw=%d: error %.3f (%d epochs%s)", arch, k, d, err, ran, ", early stop" if stopped else "")
    if fixed_epoch_ks:
        notes.append(
            f"k={','.join(sorted(fixed_epoch_ks, key=lambda s: (s == 'all', s.zfill(6))))}: training set too small for a "
            f"validation slice (< {MIN_PER_CLASS_FOR_VALIDATION} per class); trained a fixed {epochs} epochs."
        )
    largest: int | str = "all" if "all" in usable else max(int(k) for k in usable)
    first = next(f for f in fits if str(f.k) == str(largest) and f.draw == 0)
    cm = metrics.confusion(truth, first.predictions, classes).to_dict()
    warnings: list[str] = [RANDOM_INIT_WARNING] if not weights.pretrained else []
    seconds = time.perf_counter() - started
    settings = {
        "arch": arch,
        "timm_model": weights.timm_name,
        "pretrained": weights.pretrained,
        "weights_source": weights.source,
        "weights_path": weights.path,
        "ks": usable,
        "draws": draws,
        "max_epochs": epochs,
        "patience": PATIENCE,
        "validation_fraction": VALIDATION_FRACTION,
        "seed": seed,
        "device": dev,
        "precision": "bf16-autocast" if trainer.amp_dtype is not None else "fp32",
        "input_size": weights.input_size,
        "batch_size": batch_size,
        "lr": lr,
        "split": split_name,
    }
    results = {
        "method": method,
        "arch": arch,
        "pretrained": weights.pretrained,
        "label": RANDOM_INIT_WARNING if not weights.pretrained else f"{arch} fine-tuned from {weights.source} weights",
        "rows": rows,
        "summary": summarise_draws(rows),
        "confusion_matrices": {method: {**cm, "k": largest, "draw": 0}},
        "predictions": {method: {str(i): p for i, p in zip(test_ids, first.predictions)}},
        "test_ids": test_ids,
        "split": {"name": split_name, "seed": split.seed, "test_ids": [int(i) for i in split.test_ids]},
        "fits": [{k: v for k, v in asdict(f).items() if k != "predictions"} for f in fits],
        "notes": notes,
        "warnings": warnings,
        "seconds": round(seconds, 2),
    }
    return BaselineResult(settings=settings, results=results, fits=fits)
