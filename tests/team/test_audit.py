"""The audit log of admin actions (clipcore.team.audit)."""

from __future__ import annotations

import csv
import io
import threading

import pytest

from clipcore.errors import InputError
from clipcore.team.audit import actions_csv, audit_path, read_actions, record_action


def test_actions_are_read_back_newest_first_with_who_when_what(tmp_path):
    record_action(tmp_path, who="lead@lab.org", action="revert", workspace="demo", details={"batch_id": "ab12", "labels": 3})
    record_action(tmp_path, who="lead@lab.org", action="job_start", workspace="/ws", details={"command": "embed"})
    entries = read_actions(tmp_path)
    assert [e["action"] for e in entries] == ["job_start", "revert"]
    assert entries[1] == {"at": entries[1]["at"], "who": "lead@lab.org", "action": "revert", "workspace": "demo",
                          "details": {"batch_id": "ab12", "labels": 3}}
    assert entries[1]["at"].endswith("+00:00")
    assert read_actions(tmp_path, limit=1)[0]["action"] == "job_start"
    assert read_actions(tmp_path / "nowhere") == []


def test_an_unknown_action_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown audited action"):
        record_action(tmp_path, who="x", action="delete_everything", workspace=None)


def test_concurrent_writers_never_interleave_and_a_torn_line_is_skipped(tmp_path):
    def write(k):
        for i in range(50):
            record_action(tmp_path, who=f"admin{k}", action="resolve", workspace="w", details={"i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(audit_path(tmp_path), "a") as fh:
        fh.write('{"at": "2026-')  # a crash mid-line
    entries = read_actions(tmp_path)
    assert len(entries) == 200 and {e["who"] for e in entries} == {f"admin{k}" for k in range(4)}


def test_csv_export_is_safe_for_spreadsheets(tmp_path):
    record_action(tmp_path, who="=HYPERLINK(\"http://evil\")", action="collection_create", workspace="@books", details={"folder": "/srv/x"})
    rows = list(csv.DictReader(io.StringIO(actions_csv(read_actions(tmp_path)))))
    assert rows[0]["who"].startswith("'=") and rows[0]["workspace"] == "'@books"
    assert rows[0]["action"] == "collection_create" and '"folder": "/srv/x"' in rows[0]["details"]
