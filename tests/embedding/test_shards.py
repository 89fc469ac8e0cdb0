"""Shard files and import_shards: same vectors as the local writer, idempotent, stale rows refused."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.embedding.decoders import PillowDecoder
from clipcore.embedding.plan import plan_embedding
from clipcore.embedding.shards import import_shards, list_shards, write_shard
from clipcore.embedding.writers import ShardWriter
from clipcore.errors import InputError


@pytest.fixture
def fresh_ws(tmp_path, demo_dir):
    ws = Workspace(tmp_path / "fresh")
    ingest_folder(ws, demo_dir)
    yield ws
    ws.close()


def _write_shards(ws, model, folder, batch_size=10):
    decoder = PillowDecoder.for_model(model, hash_content=True)
    writer = ShardWriter(folder, model.info.key, model.info.embed_dim, prefix="t")
    for batch in decoder.batches(plan_embedding(ws, model.info.key), batch_size):
        writer.write(batch, model.encode_pixels(batch.pixels))
    return writer.written


def test_import_equals_local_and_is_idempotent(fresh_ws, workspace, tiny_model, tmp_path):
    key, dim = tiny_model.info.key, tiny_model.info.embed_dim
    written = _write_shards(fresh_ws, tiny_model, tmp_path / "shards")
    assert len(written) == 4 and list_shards(tmp_path / "shards") == sorted(written)
    first = import_shards(fresh_ws, tmp_path / "shards", key, dim)
    assert (first.shards, first.imported, first.already, first.stale, first.failed) == (4, 32, 0, [], [])
    assert fresh_ws.missing_embeddings(key) == []
    # The same vectors as the local engine (the workspace fixture), id by id.
    local, imported = workspace.load_embeddings(key), fresh_ws.load_embeddings(key)
    path_of = {r.path: r.id for r in workspace.images()}
    for rec in fresh_ws.images():
        a = imported.vectors[imported.rows_of([rec.id])[0]]
        b = local.vectors[local.rows_of([path_of[rec.path]])[0]]
        assert float(np.dot(a, b)) > 0.9999
    again = import_shards(fresh_ws, tmp_path / "shards", key, dim)
    assert (again.imported, again.already) == (0, 32)
    assert fresh_ws.query("SELECT rows FROM embedding_sets WHERE key = ?", (key,))[0][0] == 32  # nothing appended twice
    assert len(fresh_ws.load_embeddings(key).ids) == 32


def test_stale_hash_and_unfinished_files_are_not_imported(fresh_ws, tiny_model, tmp_path):
    key, dim = tiny_model.info.key, tiny_model.info.embed_dim
    recs = fresh_ws.images()[:3]
    vecs = np.eye(3, dim, dtype=np.float32)
    write_shard(tmp_path, key, [r.id for r in recs], ["0" * 32, recs[1].content_hash, recs[2].content_hash], vecs)
    (tmp_path / ".shard-unfinished.parquet.tmp").write_bytes(b"half a shard")
    report = import_shards(fresh_ws, tmp_path, key, dim)
    assert report.imported == 2 and [s["id"] for s in report.stale] == [recs[0].id]
    assert recs[0].id in fresh_ws.missing_embeddings(key)


def test_failures_are_reported_until_a_shard_embeds_them(fresh_ws, tiny_model, tmp_path):
    key, dim = tiny_model.info.key, tiny_model.info.embed_dim
    rec = fresh_ws.images()[0]
    empty = np.zeros((0, dim), np.float32)
    write_shard(tmp_path, key, [], [], empty, [{"id": rec.id, "reason": "cannot read: gone"}], prefix="a")
    report = import_shards(fresh_ws, tmp_path, key, dim)
    assert report.failed == [{"id": rec.id, "reason": "cannot read: gone"}] and report.imported == 0
    write_shard(tmp_path, key, [rec.id], [rec.content_hash], np.ones((1, dim), np.float32) / dim**0.5, prefix="b")
    report = import_shards(fresh_ws, tmp_path, key, dim, remove=True)
    assert report.imported == 1 and report.failed == []
    assert list_shards(tmp_path) == []


def test_a_shard_of_another_model_is_refused(fresh_ws, tiny_model, tmp_path):
    write_shard(tmp_path, "ViT-B-32/none", [1], [None], np.zeros((1, 512), np.float32))
    with pytest.raises(InputError, match="ViT-B-32/none"):
        import_shards(fresh_ws, tmp_path, tiny_model.info.key, tiny_model.info.embed_dim)
