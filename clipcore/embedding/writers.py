"""The write stage: where encoded batches go.

``SetWriter`` appends to the workspace's local embedding set (vectors fsynced, then the
catalogue commits them; one writer per set). ``ShardWriter`` writes one parquet shard
per batch into a folder, for engines whose workers cannot share the workspace; the
shards reach the workspace through ``shards.import_shards``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np

from clipcore.catalog.store import Workspace
from clipcore.embedding.decoders import PixelBatch
from clipcore.embedding.shards import write_shard


class SetWriter:
    """Append batches to one embedding set of a workspace; use ``open_set_writer``."""

    def __init__(self, appender) -> None:
        self._appender = appender

    def write(self, batch: PixelBatch, vectors: np.ndarray) -> None:
        """Commit ``vectors`` (n, dim) float32 for ``batch.ids``; failures are the caller's to report."""
        if batch.ids:
            self._appender.append(batch.ids, vectors)


@contextlib.contextmanager
def open_set_writer(ws: Workspace, key: str, dim: int, *, rebuild: bool = False) -> Iterator[SetWriter]:
    """The exclusive writer of embedding set ``key`` (a second one gets a WorkspaceError).

    Args:
        rebuild: drop every stored vector of ``key`` first.
    """
    with ws.embedding_writer(key, dim, rebuild=rebuild) as appender:
        yield SetWriter(appender)


class ShardWriter:
    """Write each batch (vectors and failures) as one parquet shard in ``folder``.

    Args:
        key: the model's embedding key, recorded in every shard.
        dim: the model's embedding dimension.
        prefix: shard file name prefix (e.g. a worker name).
    """

    def __init__(self, folder: str | Path, key: str, dim: int, *, prefix: str = "shard") -> None:
        self.folder = Path(folder)
        self.key = key
        self.dim = int(dim)
        self.prefix = prefix
        self.written: list[Path] = []

    def write(self, batch: PixelBatch, vectors: np.ndarray) -> Path | None:
        """Write one shard for ``batch``; returns its path (None for an empty batch)."""
        if not batch.ids and not batch.failed:
            return None
        if not batch.ids:
            vectors = np.zeros((0, self.dim), np.float32)
        path = write_shard(self.folder, self.key, batch.ids, batch.hashes, vectors, batch.failed, prefix=self.prefix)
        self.written.append(path)
        return path
