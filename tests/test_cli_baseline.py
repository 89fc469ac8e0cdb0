"""The ``baseline`` subcommand end to end, as a subprocess and as a background job."""

from __future__ import annotations

import json
import time

from clipcore.classify.baseline import RANDOM_INIT_WARNING
from clipcore.classify.evaluation import list_runs
from clipcore.catalog.jobs import get_job
from clipcore.jobkinds import start_job
from clipcore.classify.splits import get_split

from tests.helpers import run_cli as _cli


def test_tiny_baseline_stores_rows_for_each_k_on_the_split(workspace):
    proc = _cli("baseline", "--workspace", str(workspace.root), "--arch", "tiny", "--k", "1,all", "--draws", "2",
                "--epochs", "1", "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    split = get_split(workspace)
    assert split is not None, "the baseline freezes the default split when there is none"
    assert out["test_ids"] == split.test_ids == out["split"]["test_ids"]
    assert "random-init" in out["warning"] and out["pretrained"] is False
    assert {(e["k"], e["n_draws"]) for e in out["error_rates"]} == {(1, 2), ("all", 1)}

    runs = list_runs(workspace, "baseline")
    assert [r["id"] for r in runs] == [out["run_id"]]
    stored = runs[0]
    assert [(r["k"], r["draw"]) for r in stored["results"]["rows"]] == [(1, 0), (1, 1), ("all", 0)]
    assert {r["method"] for r in stored["results"]["rows"]} == {"tiny"}
    assert stored["results"]["label"] == RANDOM_INIT_WARNING
    assert stored["settings"]["arch"] == "tiny" and stored["settings"]["max_epochs"] == 1
    assert stored["results"]["confusion_matrices"]["tiny"]["k"] == "all"



def test_pretrained_baseline_offline_exits_2_with_both_ways_out(workspace):
    proc = _cli("baseline", "--workspace", str(workspace.root), "--arch", "efficientnet_b4", "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "--checkpoint FILE" in lines[0] and "connected machine" in lines[0]
    assert list_runs(workspace, "baseline") == []


def test_baseline_runs_as_a_job_with_progress(workspace):
    job_id = start_job(workspace, "baseline", ["--arch", "tiny", "--k", "1", "--draws", "1", "--epochs", "2", "--device", "cpu"])
    deadline = time.monotonic() + 240
    job = get_job(workspace, job_id)
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = get_job(workspace, job_id)
    assert job["status"] == "done", job
    assert job["done"] == job["total"] == 1  # counted in fits: k=1, one draw
    assert job["result"]["run_id"] == list_runs(workspace, "baseline")[0]["id"]
