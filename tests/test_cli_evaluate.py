"""The ``evaluate`` subcommand end to end, as a subprocess."""

from __future__ import annotations

import json

from clipcore import UNTRAINED_WARNING
from clipcore.classify.evaluation import list_runs, save_run
from clipcore.classify.splits import get_split

from tests.helpers import run_cli as _cli


def test_evaluate_json_shape_and_stable_hold_out(workspace):
    args = ("evaluate", "--workspace", str(workspace.root), "--model", "tiny", "--k", "1,all", "--draws", "2",
            "--methods", "zero_shot,logreg,knn", "--json")
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    split = get_split(workspace)
    assert out["split"]["test_ids"] == split.test_ids and out["split"]["seed"] == 0
    assert {(e["method"], e["k"]) for e in out["error_rates"]} == {
        ("zero_shot", 0), ("logreg", 1), ("logreg", "all"), ("knn", 1), ("knn", "all")
    }
    for e in out["error_rates"]:
        assert 0.0 <= e["mean"] <= 1.0 and e["std"] >= 0.0
    assert set(out["confusion_matrices"]) == {"zero_shot", "logreg", "knn"}
    assert sum(map(sum, out["confusion_matrices"]["knn"]["matrix"])) == len(split.test_ids)
    assert UNTRAINED_WARNING in out["warnings"] and out["warning"] == UNTRAINED_WARNING
    # Offline, --with-baseline cannot fetch EfficientNet weights: it shows the stored baseline run instead.
    stored = {"summary": [{"method": "efficientnet_b4", "k": 1, "mean": 0.5, "std": 0.1, "n_draws": 2}], "rows": [],
              "confusion_matrices": {"efficientnet_b4": {"labels": ["a"], "matrix": [[1]]}}, "warnings": [], "notes": []}
    baseline_id = save_run(workspace, "baseline", {"arch": "efficientnet_b4", "split": "default"}, stored)
    second = _cli("evaluate", "--workspace", str(workspace.root), "--model", "tiny", "--k", "1", "--draws", "1",
                  "--methods", "knn", "--with-baseline", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["split"]["test_ids"] == out["split"]["test_ids"]
    assert {(e["method"], e["k"]) for e in again["error_rates"]} == {("knn", 1), ("efficientnet_b4", 1)}
    assert "efficientnet_b4" in again["confusion_matrices"]
    assert any(f"showing stored run {baseline_id}" in w for w in again["warnings"])
    runs = list_runs(workspace, "evaluation")
    assert len(runs) == 2 and runs[1]["id"] == out["run_id"]


def test_evaluate_bad_k_exits_2_with_one_line(workspace):
    bad_k = _cli("evaluate", "--workspace", str(workspace.root), "--model", "tiny", "--k", "1,two", "--json")
    assert bad_k.returncode == 2 and bad_k.stdout == ""
    assert bad_k.stderr.strip().splitlines()[-1].startswith("error: k values must be positive integers")
