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


# -- the labels part kept up to date incrementally ---------------------------------------------


def _decoded(codes: fc.Codes) -> list:
    return [codes.values[c] if c >= 0 else None for c in codes.codes]


def _same_as_full_read(ws, got: fc.LabelFacets, ids) -> None:
    full = fc.label_facets(ws, ids)
    assert got.version == full.version == lbl.label_events_version(ws)
    assert _decoded(got.label) == _decoded(full.label)
    assert _decoded(got.annotator) == _decoded(full.annotator)
    # no value that no row has (a class whose last image was relabelled is not offered)
    assert sorted(got.label.values) == sorted(full.label.values)
    assert sorted(got.annotator.values) == sorted(full.annotator.values)


class _CountingFull:
    """Wraps ``fc._full`` (the whole-table read) to count its calls."""

    def __init__(self, monkeypatch):
        self.calls, self._real = 0, fc._full
        monkeypatch.setattr(fc, "_full", self)

    def __call__(self, *args):
        self.calls += 1
        return self._real(*args)


def test_incremental_labels_equal_a_full_read_after_random_actions(workspace, monkeypatch):
    """Assigns, relabels by two annotators, reverts and deletes (images gone missing, and
    back) in a random order with a fixed seed: after every action the cached labels part
    equals a full re-read, and its counts equal plain SQL counts."""
    ws = workspace
    rng = np.random.default_rng(20)
    all_ids = [int(i) for i in ws.image_ids()]
    classes = ["cover", "text", "illustration", "blank page", "map"]
    full = _CountingFull(monkeypatch)
    batches: list[str] = []
    missing: set[int] = set()
    changes, cache = None, None
    incremental = reverts = deletes = 0
    for step in range(200):
        op = rng.choice(["assign", "assign", "assign", "revert", "delete"])
        if op == "assign":
            live = [i for i in all_ids if i not in missing]
            ids = [int(i) for i in rng.choice(live, size=int(rng.integers(1, 8)), replace=False)]
            cls = classes[int(rng.integers(0, 3 if step < 40 else len(classes)))]  # new classes appear later
            who = ["alice", "bob"][int(rng.integers(0, 2))]
            batch = lbl.record_batch(ws, cls, ids, annotator=who, source={"kind": "text"})
            batches.append(batch)
            if rng.random() < 0.3:  # a page with deselected tiles: rejects change no current label
                lbl.record_batch(ws, cls, [], annotator=who, rejected_ids=ids[:1], source={"kind": "text"})
        elif op == "revert" and batches:
            lbl.revert_batch(ws, batches.pop(int(rng.integers(0, len(batches)))), annotator="alice")
            reverts += 1
        elif op == "delete":
            gone = [int(i) for i in rng.choice(all_ids, size=2, replace=False) if int(i) not in missing]
            back = [i for i in missing if rng.random() < 0.5]
            ws.mark_missing(gone, back)
            missing = (missing | set(gone)) - set(back)
            deletes += 1
        if rng.random() < 0.4:  # a colleague's action before this page's next rerun: several batches in one update
            continue
        # what ui.core.resources does: one cache per catalogue read (change counter)
        if ws.change_count() != changes:
            changes, cache = ws.change_count(), fc.LabelFacetsCache(fc.catalog_facets(ws).ids)
        before = full.calls
        got = cache.current(ws)
        incremental += full.calls == before
        _same_as_full_read(ws, got, cache.ids)
        table = fc.facet_table(fc.catalog_facets(ws), got)
        counts = table.counts()
        assert counts["label"] == _sql_counts(ws, f"SELECT label, COUNT(*) FROM ({CURRENT}) GROUP BY label")
        assert counts["annotator"] == _sql_counts(ws, f"SELECT annotator, COUNT(*) FROM ({CURRENT}) GROUP BY annotator")
    assert reverts > 5 and deletes > 5 and incremental > 50  # every path was taken, most often the incremental one


def test_an_assign_reads_only_newer_events_and_a_revert_reads_everything(workspace, monkeypatch):
    ws = workspace
    ids = [int(i) for i in ws.image_ids()]
    cache = fc.LabelFacetsCache(fc.catalog_facets(ws).ids)
    lbl.record_batch(ws, "cover", ids[:4], annotator="alice", source={"kind": "text"})
    first = cache.current(ws)
    full = _CountingFull(monkeypatch)
    assert cache.current(ws) is first  # nothing changed: the same object, no read
    batch = lbl.record_batch(ws, "text", ids[2:6], annotator="bob", source={"kind": "text"})
    after = cache.current(ws)
    assert full.calls == 0 and after is not first
    assert _decoded(first.label)[:6] == ["cover"] * 4 + [None] * 2  # the earlier result is never written
    assert _decoded(after.label)[:6] == ["cover"] * 2 + ["text"] * 4
    assert _decoded(after.annotator)[:6] == ["alice"] * 2 + ["bob"] * 4
    lbl.revert_batch(ws, batch, annotator="bob")
    reverted = cache.current(ws)
    assert full.calls == 1
    assert _decoded(reverted.label)[:6] == ["cover"] * 4 + [None] * 2
    assert reverted.annotator.values == ["alice"]  # bob has no current label left
    lbl.record_batch(ws, "map", ids[:2], annotator="bob", source={"kind": "text"})  # two batches between reads:
    lbl.record_batch(ws, "text", ids[1:3], annotator="alice", source={"kind": "text"})  # the later one wins
    both = cache.current(ws)
    assert full.calls == 1
    assert _decoded(both.label)[:4] == ["map", "text", "text", "cover"]
    assert _decoded(both.annotator)[:4] == ["bob", "alice", "alice", "alice"]


def test_a_version_that_went_backwards_reads_everything(workspace, monkeypatch):
    ws = workspace
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    cache = fc.LabelFacetsCache(fc.catalog_facets(ws).ids)
    cache.current(ws)
    with ws.transaction() as conn:  # a store restored from an older copy: its latest events are gone
        conn.execute("DELETE FROM label_events WHERE image_id = ?", (ids[2],))
    full = _CountingFull(monkeypatch)
    got = cache.current(ws)
    assert full.calls == 1
    assert _decoded(got.label)[:4] == ["cover", "cover", None, None]


def test_an_annotator_renamed_in_place_is_read_again_at_the_next_action(workspace, monkeypatch):
    ws = workspace
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice@example.org", source={"kind": "text"})
    cache = fc.LabelFacetsCache(fc.catalog_facets(ws).ids)
    cache.current(ws)
    lbl.rename_annotator(ws, "alice@example.org", "alice")  # a sign-in identity migration: no version moves
    lbl.record_batch(ws, "text", ids[5:6], annotator="bob", source={"kind": "text"})
    full = _CountingFull(monkeypatch)
    got = cache.current(ws)
    assert full.calls == 1
    _same_as_full_read(ws, got, cache.ids)
    assert sorted(got.annotator.values) == ["alice", "bob"]


def test_another_history_in_place_reads_everything_even_with_a_higher_version(workspace, monkeypatch):
    ws = workspace
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    cache = fc.LabelFacetsCache(fc.catalog_facets(ws).ids)
    cache.current(ws)
    with ws.transaction() as conn:  # an older copy restored in place, then labelled past the cached version
        conn.execute("DELETE FROM label_events")
    lbl.record_batch(ws, "text", ids[3:9], annotator="bob", source={"kind": "text"})
    full = _CountingFull(monkeypatch)
    got = cache.current(ws)
    assert full.calls == 1
    _same_as_full_read(ws, got, cache.ids)
    assert _decoded(got.label)[:4] == [None, None, None, "text"]
