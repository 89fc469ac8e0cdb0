"""Labelling pace on the Present page: per annotator, over their first to last batch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clipcore.catalog import labels as lbl
from clipcore.team.pace import labelling_pace

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def _batch(who: str, minutes: float, size: int, reverted: bool = False) -> dict:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return {"annotator": who, "created_at": at, "size": size, "reverted_at": at if reverted else None}


def test_pace_is_images_per_hour_between_first_and_last_batch_and_ignores_reverted():
    batches = [
        _batch("bob", 0, 40),
        _batch("alice", 30, 10),
        _batch("alice", 0, 50),
        _batch("alice", 120, 60),
        _batch("alice", 60, 500, reverted=True),
    ]
    rows = {r["annotator"]: r for r in labelling_pace(batches)}
    assert list(rows) == ["alice", "bob"]
    assert rows["alice"]["batches"] == 3 and rows["alice"]["images"] == 120
    assert rows["alice"]["first"] == T0 and rows["alice"]["last"] == T0 + timedelta(hours=2)
    assert rows["alice"]["images_per_hour"] == 60  # 120 images over 2 hours
    assert rows["bob"]["images_per_hour"] is None  # one batch: no interval to divide by


def test_pace_reads_the_workspace_batches(workspace):
    ids = [r.id for r in workspace.images()][:12]
    lbl.record_batch(workspace, "text", ids[:8], annotator="alice", source={})
    batch = lbl.record_batch(workspace, "cover", ids[8:12], annotator="bob", source={})
    lbl.revert_batch(workspace, batch, annotator="bob")
    rows = labelling_pace(lbl.list_batches(workspace))
    assert [(r["annotator"], r["batches"], r["images"]) for r in rows] == [("alice", 1, 8)]
    assert labelling_pace([]) == []
