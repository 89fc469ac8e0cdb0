"""Filters with counts (clipcore.team.facets): every count equals a plain SQL count."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from clipcore.catalog import labels as lbl
from clipcore.errors import InputError
from clipcore.team import facets as fc


def _setup(ws):
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:6], annotator="alice", source={"kind": "text"})
    lbl.record_batch(ws, "text", ids[4:10], annotator="bob", source={"kind": "text"})  # 4, 5 relabelled by bob
    gone = lbl.record_batch(ws, "blank page", ids[10:12], annotator="bob", source={"kind": "text"})
    lbl.revert_batch(ws, gone, annotator="bob")
    with ws.transaction() as conn:  # two books over the first 20 images
        conn.executemany("INSERT OR REPLACE INTO image_meta (image_id, group_name, book_label) VALUES (?, ?, ?)",
                         [(i, f"b{k % 2}", f"Book {k % 2}") for k, i in enumerate(ids[:20])])
    return ids


def _table(ws, predicted=None):
    cat = fc.catalog_facets(ws)
    pred = None
    if predicted is not None:
        classes = sorted(set(predicted.values()))
        pid = np.asarray(sorted(predicted), np.int64)
        pred = fc.prediction_codes(cat.ids, pid, classes, np.asarray([classes.index(predicted[i]) for i in pid]))
    return fc.facet_table(cat, fc.label_facets(ws, cat.ids), pred)


def _sql_counts(ws, sql):
    return dict(Counter({str(r[0]): int(r[1]) for r in ws.query(sql)}))


CURRENT = (
    "SELECT e.image_id, e.label, e.annotator, MAX(e.id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
    "WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND e.image_id IN (SELECT id FROM live_images) GROUP BY e.image_id"
)


def test_counts_over_the_whole_collection_equal_sql_counts(workspace):
    ids = _setup(workspace)
    counts = _table(workspace).counts()
    assert counts["label"] == _sql_counts(workspace, f"SELECT label, COUNT(*) FROM ({CURRENT}) GROUP BY label")
    assert counts["label"] == {"text": 6, "cover": 4}
    assert counts["annotator"] == _sql_counts(workspace, f"SELECT annotator, COUNT(*) FROM ({CURRENT}) GROUP BY annotator")
    assert counts["ground_truth"] == _sql_counts(
        workspace, "SELECT label, COUNT(*) FROM ground_truth WHERE image_id IN (SELECT id FROM live_images) GROUP BY label")
    assert counts["book"] == _sql_counts(
        workspace, "SELECT book_label, COUNT(*) FROM image_meta WHERE image_id IN (SELECT id FROM live_images) GROUP BY book_label")
    unlabelled = workspace.query(f"SELECT COUNT(*) FROM live_images WHERE id NOT IN (SELECT image_id FROM ({CURRENT}))")[0][0]
    assert counts["flags"]["unlabelled"] == unlabelled == len(ids) - 10


def test_a_filter_is_a_mask_and_counts_follow_a_subset(workspace):
    ids = _setup(workspace)
    table = _table(workspace)
    rows = np.flatnonzero(table.mask({"label": ["cover", "text"], "annotator": ["bob"]}))
    assert table.ids[rows].tolist() == ids[4:10]  # values of a facet OR'ed, facets AND'ed
    assert table.ids[table.mask({}, ["unlabelled"])].tolist() == ids[10:]
    ranked = table.rows_of(ids[:8][::-1])  # a ranked query's results, best first
    assert table.ids[ranked].tolist() == ids[:8][::-1]
    sub = table.counts(ranked)
    assert sub["label"] == {"cover": 4, "text": 4} and sub["flags"]["unlabelled"] == 0
    with pytest.raises(InputError, match="unknown filter"):
        table.mask({"colour": ["red"]})


def test_disagrees_with_prediction(workspace):
    ids = _setup(workspace)
    predicted = {i: "cover" for i in ids}  # cover everywhere: the 6 "text" labels disagree
    table = _table(workspace, predicted)
    assert table.counts()["prediction"] == {"cover": len(ids)}
    assert table.ids[table.flag("disagrees")].tolist() == ids[4:10]
    assert table.counts()["flags"]["disagrees"] == 6


def test_views_are_saved_by_name(workspace):
    fc.save_view(workspace, "bob's texts", {"label": ["text"], "annotator": ["bob"], "book": []}, ["disagrees"])
    assert fc.saved_views(workspace) == {"bob's texts": {"filters": {"label": ["text"], "annotator": ["bob"]}, "flags": ["disagrees"]}}
    with pytest.raises(InputError, match="unknown filter"):
        fc.save_view(workspace, "x", {"colour": ["red"]})
