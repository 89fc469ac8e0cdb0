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


# -- "Select all N matching" ------------------------------------------------------------------


def test_label_matching_gives_every_matching_image_the_class_in_one_batch(workspace):
    ids = _setup(workspace)
    old = lbl.current_labels(workspace)
    want = [ids[k] for k in range(10, 20, 2)]  # book 0 (even positions of the first 20), unlabelled
    assert want == sorted(i for i in ids[:20:2] if i not in old)
    before = len(lbl.list_batches(workspace))
    drawn = lbl.label_events_version(workspace)[0]
    table = _table(workspace)
    res = fc.label_matching(workspace, table, "chosen", {"book": ["Book 0"]}, ["unlabelled"], annotator="carol",
                            drawn_at=drawn, limit=10_000, expected=len(want), source={"note": "x"})
    assert (res.assigned, res.skipped) == (len(want), {})
    batches = lbl.list_batches(workspace)
    assert len(batches) == before + 1
    assert batches[0]["batch_id"] == res.batch_id and batches[0]["size"] == len(want)
    assert batches[0]["source"] == {"kind": "filter", "all_matching": len(want), "note": "x"}
    now = lbl.current_labels(workspace)
    assert sorted(i for i, c in now.items() if c == "chosen") == want
    assert {i: c for i, c in now.items() if i not in want} == old  # the others untouched
    lbl.revert_batch(workspace, res.batch_id, annotator="carol")  # a batch like any other: one revert undoes it
    assert not any(c == "chosen" for c in lbl.current_labels(workspace).values())


def test_label_matching_follows_a_ranked_subset_in_its_order(workspace):
    ids = _setup(workspace)
    table = _table(workspace)
    rows = table.rows_of(list(reversed(ids[8:16])))  # a "ranking": 15, 14, ..., 8
    got = fc.matching_rows(table, {}, ["unlabelled"], rows)
    assert [int(i) for i in table.ids[got]] == [i for i in reversed(ids[8:16]) if i >= ids[10]]  # 8, 9 are labelled
    res = fc.label_matching(workspace, table, "c", {}, ["unlabelled"], annotator="carol", rows=rows,
                            drawn_at=lbl.label_events_version(workspace)[0], limit=100)
    assert res.assigned == 6 and {i for i, c in lbl.current_labels(workspace).items() if c == "c"} == set(ids[10:16])


def test_label_matching_refuses_above_the_limit_and_when_the_count_changed(workspace):
    ids = _setup(workspace)
    drawn = lbl.label_events_version(workspace)[0]
    table = _table(workspace)
    n = int(table.flag("unlabelled").sum())
    with pytest.raises(InputError, match=f"{n:,} images match these filters; at most 5 can be labelled"):
        fc.label_matching(workspace, table, "c", {}, ["unlabelled"], annotator="carol", drawn_at=drawn, limit=5)
    with pytest.raises(fc.MatchChanged) as caught:
        fc.label_matching(workspace, table, "c", {}, ["unlabelled"], annotator="carol", drawn_at=drawn, limit=100,
                          expected=n + 1)
    assert (caught.value.now, caught.value.expected) == (n, n + 1)
    with pytest.raises(InputError, match="no image matches"):
        fc.label_matching(workspace, table, "c", {"label": ["nothing"]}, annotator="carol", drawn_at=drawn, limit=100)
    assert len(lbl.current_labels(workspace)) == 10  # nothing written by any of them
    assert not any(c == "c" for c in lbl.current_labels(workspace).values())
    assert len(ids) - 10 == n


def test_label_matching_skips_images_a_colleague_labelled_after_the_table_was_read(workspace):
    ids = _setup(workspace)
    drawn = lbl.label_events_version(workspace)[0]
    table = _table(workspace)  # the page's view: ids[12:] unlabelled
    lbl.record_batch(workspace, "map", ids[12:14], annotator="bob", source={"kind": "text"})
    res = fc.label_matching(workspace, table, "c", {}, ["unlabelled"], annotator="carol", drawn_at=drawn, limit=100)
    assert res.skipped == {ids[12]: "bob", ids[13]: "bob"}
    now = lbl.current_labels(workspace)
    assert (now[ids[12]], now[ids[13]]) == ("map", "map")  # bob's labels kept
    assert res.assigned == len(ids) - 12 and all(now[i] == "c" for i in ids[14:] + ids[10:12])
