"""The Ray Data engine: the same plan -> decode -> encode -> write stages on a cluster.

    plan    on the driver, from the workspace (``plan.plan_embedding``)
    decode  Ray tasks on CPUs (``PillowDecoder.decode_item``, with the model's preprocessing)
    encode  an actor pool: each actor loads the model once, from weights every node can see
    write   each actor writes one parquet shard per batch to a shared folder
    import  on the driver, ``shards.import_shards`` (the one writer of the workspace)

A run first imports shards that an interrupted run left behind, then plans only what is
still missing, so a rerun after a crash or a killed worker completes without redoing or
duplicating anything. Ray is optional: ``pip install -r requirements-ray.txt``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.embedding.decoders import PillowDecoder, PrepareFn, StageTimes, model_prepare
from clipcore.embedding.models import ClipModel, load_model
from clipcore.embedding.pipeline import EmbedReport
from clipcore.embedding.plan import PlanItem, plan_embedding
from clipcore.embedding.shards import import_shards, write_shard
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

INSTALL_HINT = "the ray engine needs Ray Data; install it with `pip install -r requirements-ray.txt` (ray[data]==2.60.0)."
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelSpec:
    """How an actor rebuilds the driver's model: architecture, weights, device, precision.

    ``checkpoint`` must be a path every node can read (a shared filesystem), or the
    pretrained tag's weights must already be in each node's cache: actors never download.
    """

    name: str
    pretrained: str | None
    checkpoint: str | None
    device: str
    precision: str

    @classmethod
    def of(cls, model: ClipModel, *, device: str = "auto", precision: str | None = None) -> "ModelSpec":
        """The spec of a loaded model, to run on ``device`` at ``precision`` (default the model's)."""
        info = model.info
        checkpoint = os.path.abspath(info.checkpoint) if info.checkpoint else None
        return cls(info.name, info.pretrained, checkpoint, device, precision or info.precision)

    def load(self) -> ClipModel:
        """Load the model on this worker (offline: weights come from the shared path or cache)."""
        return load_model(
            self.name, self.pretrained, checkpoint=self.checkpoint, device=self.device,
            precision=self.precision, allow_download=False,
        )


def require_ray() -> Any:
    """The ``ray`` module, or an InputError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the engine needs the data library, not just the core)
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return ray


def decode_rows(batch: dict[str, np.ndarray], prepare: PrepareFn, size: int) -> dict[str, np.ndarray]:
    """Ray task body: decode a batch of plan rows into pixels, reasons and content hashes.

    Returns:
        {image_id (n,) int64, pixels (n, S, S, 3) uint8 (zeros where failed),
        failure (n,) str ('' for success), content_hash (n,) str of the bytes read,
        read_s, decode_s (n,) float64 seconds per row}.
    """
    decoder = PillowDecoder(prepare, size, workers=1, hash_content=True)
    n = len(batch["image_id"])
    pixels = np.zeros((n, size, size, 3), np.uint8)
    reasons, hashes = [], []
    read_s, decode_s = np.zeros(n), np.zeros(n)
    for k in range(n):
        item = PlanItem(int(batch["image_id"][k]), str(batch["location"][k]), str(batch["content_hash"][k]))
        _, arr, reason, digest, read_s[k], decode_s[k] = decoder.decode_item(item)
        if arr is not None:
            pixels[k] = arr
        reasons.append(reason or "")
        hashes.append(digest or item.content_hash)
    return {
        "image_id": np.asarray(batch["image_id"], np.int64),
        "pixels": pixels,
        "failure": np.asarray(reasons, dtype=object),
        "content_hash": np.asarray(hashes, dtype=object),
        "read_s": read_s,
        "decode_s": decode_s,
    }


class EncodeActor:
    """Ray actor body: holds one model, encodes decoded batches, writes one shard per batch."""

    def __init__(self, spec: ModelSpec, shard_dir: str, key: str) -> None:
        self.model = spec.load()
        self.shard_dir = shard_dir
        self.key = key
        self.prefix = f"{os.uname().nodename}-{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = np.asarray([not r for r in batch["failure"]], dtype=bool)
        ids = batch["image_id"]
        t0 = time.perf_counter()
        vectors = self.model.encode_pixels(np.ascontiguousarray(batch["pixels"][ok]))
        t1 = time.perf_counter()
        failures = [
            {"id": int(i), "reason": str(r), "content_hash": str(h)}
            for i, r, h, good in zip(ids, batch["failure"], batch["content_hash"], ok)
            if not good
        ]
        write_shard(
            self.shard_dir, self.key, ids[ok].tolist(), [str(h) for h in batch["content_hash"][ok]],
            vectors, failures, prefix=self.prefix,
        )
        n = max(1, len(ids))
        return {
            "image_id": ids, "ok": ok, "read_s": batch["read_s"], "decode_s": batch["decode_s"],
            "model_s": np.full(len(ids), (t1 - t0) / n), "write_s": np.full(len(ids), (time.perf_counter() - t1) / n),
        }


def _init_ray(ray: Any, address: str | None, num_cpus: int | None) -> None:
    if ray.is_initialized():
        return
    if address:
        # Workers on other nodes get this package shipped with the job.
        ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE_DIR)]}, log_to_driver=False)
    else:
        path = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False)


def embed_workspace_ray(
    ws: Workspace,
    model: ClipModel,
    *,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    cpus_per_actor: float | None = None,
    num_cpus: int | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    shard_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    precision: str | None = None,
) -> EmbedReport:
    """Embed what ``ws`` lacks for ``model`` with Ray Data; shards land in ``shard_dir``, then are imported.

    Args:
        model: the driver's copy (its preprocessing shapes decoding; actors load their own).
        address: a Ray cluster (``ray://host:10001`` or ``auto``); None starts a local Ray.
        actors: model actors (each loads the model once).
        gpus_per_actor: GPUs each actor reserves (0: CPU actors).
        cpus_per_actor: CPUs each actor reserves (default 1 with GPUs, else 0.5 so that
            decode tasks keep a core on small machines: two 1-CPU actors on 2 cores deadlock).
        num_cpus: CPUs of a local Ray (ignored with ``address``).
        shard_dir: a folder every worker can write (default ``<workspace>/shards/<model>``).
        precision: the actors' precision (default the driver model's; ``auto`` resolves per actor).
    Returns:
        EmbedReport; its ``stages`` are busy seconds summed over the cluster's tasks and
        actors (read, decode, model, write of shards), plus ``import`` on the driver.
    Raises:
        InputError: Ray is not installed, or a bad count.
    """
    if batch_size < 1 or actors < 1 or gpus_per_actor < 0:
        raise InputError(
            f"batch size and actors must be at least 1 and GPUs per actor at least 0; got {batch_size}, {actors}, {gpus_per_actor}."
        )
    ray = require_ray()
    started = time.perf_counter()
    key, dim = model.info.key, model.info.embed_dim
    shards = Path(shard_dir) if shard_dir else ws.root / "shards" / key.replace("/", "__")
    shards.mkdir(parents=True, exist_ok=True)
    resumed = import_shards(ws, shards, key, dim, remove=True)  # what an interrupted run left
    plan = plan_embedding(ws, key, limit=limit)
    times = StageTimes()
    if progress:
        progress(0, len(plan))
    if plan:
        _init_ray(ray, address, num_cpus)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        spec = ModelSpec.of(model, device="cuda" if gpus_per_actor > 0 else "cpu", precision=precision)
        cpus = cpus_per_actor if cpus_per_actor is not None else (1.0 if gpus_per_actor > 0 else 0.5)
        ds = ray.data.from_items([p.to_row() for p in plan], override_num_blocks=max(1, len(plan) // batch_size))
        ds = ds.map_batches(
            decode_rows, batch_size=batch_size, fn_kwargs={"prepare": model_prepare(model), "size": model.image_size}
        )
        ds = ds.map_batches(
            EncodeActor, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
            fn_constructor_kwargs={"spec": spec, "shard_dir": str(shards), "key": key},
            num_cpus=cpus, num_gpus=gpus_per_actor,
        )
        done = 0
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            done += len(out["image_id"])
            for stage in ("read", "decode", "model", "write"):
                setattr(times, stage, getattr(times, stage) + float(np.sum(out[f"{stage}_s"])))
            if progress:
                progress(done, len(plan))
    t0 = time.perf_counter()
    imported = import_shards(ws, shards, key, dim, remove=True)
    stages = {**times.to_dict(), "import": round(time.perf_counter() - t0, 3)}
    stages.pop("wait")
    paths = {r.id: r.path for r in ws.images([f["id"] for f in imported.failed])} if imported.failed else {}
    failed = [{"id": f["id"], "reason": f["reason"], "path": paths.get(f["id"])} for f in imported.failed]
    if imported.stale:
        failed += [{"id": s["id"], "reason": "changed since it was planned; run embed again", "path": None} for s in imported.stale]
    seconds = time.perf_counter() - started
    logger.info("ray engine: %d imported (%d from an earlier run) in %.1fs", imported.imported, resumed.imported, seconds)
    return EmbedReport(
        model=model.info.name,
        pretrained=model.info.checkpoint or model.info.pretrained,
        embedded=imported.imported + resumed.imported,
        failed=failed,
        seconds=seconds,
        stages=stages,
        engine="ray",
        decoder="pillow",
    )
