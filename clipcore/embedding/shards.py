"""Embedding shards: parquet files written by many workers, imported by one writer.

A shard holds, per planned image, ``image_id`` (int64), ``content_hash`` (the hash of the
bytes the worker actually decoded), ``vector`` (fixed-size list of float32, null for a
failure) and ``failure`` (a short reason, null for a success). The schema metadata names
the model key and the dimension. Shards are written to a temporary name, fsynced and
renamed, so a reader sees a whole shard or none.

``import_shards`` is the only way shard vectors reach a workspace. It appends through the
workspace's embedding writer (vectors fsynced before the catalogue commits them), skips
ids that already have a vector (so importing twice, or importing overlapping shards from
a rerun, adds nothing twice), and rejects rows whose content hash no longer matches the
catalogue (the file changed after the worker read it).
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

SHARD_SUFFIX = ".parquet"
IMPORT_CHUNK = 4096


def _schema(dim: int, key: str):
    import pyarrow as pa

    return pa.schema(
        [
            ("image_id", pa.int64()),
            ("content_hash", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
            ("failure", pa.string()),
        ],
        metadata={b"clipcore.key": key.encode(), b"clipcore.dim": str(dim).encode()},
    )


def write_shard(
    folder: str | Path,
    key: str,
    ids: Sequence[int],
    hashes: Sequence[str | None],
    vectors: np.ndarray,
    failures: Sequence[dict] = (),
    *,
    prefix: str = "shard",
) -> Path:
    """Write one shard atomically (temporary name, fsync, rename) and return its path.

    Args:
        key: the model's embedding key.
        ids, hashes: (n,) the embedded images and the content hash of the bytes decoded.
        vectors: (n, dim) float32.
        failures: ``{"id", "reason"[, "content_hash"]}`` for images that could not be used.
    Raises:
        InputError: ids, hashes and vectors disagree in length.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(ids) != len(vectors) or len(hashes) != len(ids):
        raise InputError(
            f"a shard needs as many ids, hashes and vector rows; got {len(ids)}, {len(hashes)}, {vectors.shape}."
        )
    dim = int(vectors.shape[1])
    n_ok, n_bad = len(ids), len(failures)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    ok_vectors = pa.FixedSizeListArray.from_arrays(flat, dim)
    table = pa.table(
        {
            "image_id": pa.array([int(i) for i in ids] + [int(f["id"]) for f in failures], pa.int64()),
            "content_hash": pa.array(list(hashes) + [f.get("content_hash") for f in failures], pa.string()),
            "vector": pa.concat_arrays([ok_vectors, pa.nulls(n_bad, pa.list_(pa.float32(), dim))]),
            "failure": pa.array([None] * n_ok + [str(f["reason"]) for f in failures], pa.string()),
        },
        schema=_schema(dim, key),
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{prefix}-{uuid.uuid4().hex}{SHARD_SUFFIX}"
    tmp = folder / f".{target.name}.tmp"
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def list_shards(folder: str | Path) -> list[Path]:
    """Complete shard files in ``folder`` (temporary files of unfinished writes excluded), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SHARD_SUFFIX and not p.name.startswith("."))


@dataclass
class ShardImport:
    """What ``import_shards`` did."""

    shards: int = 0
    imported: int = 0
    already: int = 0
    stale: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Counts and the stale/failed rows."""
        return {
            "shards": self.shards,
            "imported": self.imported,
            "already": self.already,
            "stale": self.stale,
            "failed": self.failed,
        }


def import_shards(ws: Workspace, folder: str | Path, key: str, dim: int, *, remove: bool = False) -> ShardImport:
    """Append the vectors of every shard in ``folder`` to the embedding set ``key`` of ``ws``.

    Idempotent: ids that already have a vector for ``key`` are counted in ``already``.
    Rows whose content hash differs from the catalogue's (or whose image is no longer
    catalogued) are not imported and are listed in ``stale``. Failures are listed only
    for ids that no shard embedded.

    Args:
        dim: the model's embedding dimension; a shard of another key or dimension is refused.
        remove: delete each shard file once its rows are committed.
    Raises:
        InputError: a shard was written for another model key or dimension.
        WorkspaceError: another process is writing this embedding set.
    """
    import pyarrow.parquet as pq

    report = ShardImport()
    paths = list_shards(folder)
    if not paths:
        return report
    catalogue = {r.id: r.content_hash for r in ws.images()}
    missing = set(ws.missing_embeddings(key))
    failures: dict[int, dict] = {}
    with ws.embedding_writer(key, dim) as writer:
        for path in paths:
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            shard_key = meta.get(b"clipcore.key", b"").decode()
            shard_dim = int(meta.get(b"clipcore.dim", b"0") or 0)
            if shard_key != key or shard_dim != dim:
                raise InputError(
                    f"shard {path.name} holds {shard_key or '?'} vectors of dim {shard_dim}; "
                    f"this import is for {key} (dim {dim}). Use a separate shard folder per model."
                )
            ids = table.column("image_id").to_numpy()
            hashes = table.column("content_hash").to_pylist()
            reasons = table.column("failure").to_pylist()
            vec_col = table.column("vector").combine_chunks()
            take: list[int] = []
            for row, (image_id, digest, reason) in enumerate(zip(ids.tolist(), hashes, reasons)):
                if reason is not None:
                    failures.setdefault(image_id, {"id": image_id, "reason": reason})
                    continue
                if image_id not in catalogue or (digest is not None and digest != catalogue[image_id]):
                    report.stale.append({"id": image_id, "shard": path.name})
                    continue
                if image_id not in missing:
                    report.already += 1
                    continue
                missing.discard(image_id)
                take.append(row)
            if take:
                # A fixed-size list keeps dim child values per row, null rows included.
                child = vec_col.values.slice(vec_col.offset * dim, len(vec_col) * dim)
                values = child.to_numpy(zero_copy_only=False).reshape(-1, dim)
                rows = np.asarray(take, dtype=np.int64)
                for start in range(0, len(rows), IMPORT_CHUNK):
                    part = rows[start : start + IMPORT_CHUNK]
                    writer.append(ids[part].tolist(), values[part])
                report.imported += len(take)
            report.shards += 1
            if remove:
                path.unlink()
    report.failed = [f for i, f in sorted(failures.items()) if i in missing]
    if report.stale:
        logger.warning("%d shard rows were stale (the file changed after it was read); run embed again", len(report.stale))
    return report
