"""AppTest of the Evaluate page with the tiny model: run and store an evaluation, show the
table with the baseline row, the confusion matrices, the embedding map, the job start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from ui.core.text import md

from tests.helpers import app_workspace, wait_for_job

from tests.gridview import grid_ids

from clipcore import UNTRAINED_WARNING
from ui.evaluate.checks import plain_check
from ui.core.text import md
from clipcore.classify.baseline import RANDOM_INIT_WARNING
from clipcore.classify.evaluation import list_runs, save_run
from clipcore.catalog.jobs import list_jobs
from clipcore.classify.splits import freeze_split, get_split
from clipcore.catalog.store import Workspace
from clipcore.embedding.models import embedding_set_key

TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/evaluate.py"


def _open() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


_workspace = app_workspace


def _charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def _stored_baseline(ws: Workspace) -> str:
    """A stored tiny baseline run in the shape ``run_baseline`` writes (training is tested elsewhere)."""
    split = freeze_split(ws)
    classes = split.classes
    first = classes[0]
    cm = [[len([i for i in split.test_ids if split.labels[i] == c]) if j == 0 else 0 for j in range(len(classes))] for c in classes]
    results = {
        "method": "tiny", "arch": "tiny", "pretrained": False, "label": RANDOM_INIT_WARNING,
        "rows": [{"method": "tiny", "k": 1, "draw": 0, "error_rate": 0.75, "balanced_accuracy": 0.25}],
        "summary": [
            {"method": "tiny", "k": 1, "mean": 0.75, "std": 0.0, "balanced_mean": 0.25, "balanced_std": 0.0, "n_draws": 1},
            {"method": "tiny", "k": "all", "mean": 0.75, "std": 0.0, "balanced_mean": 0.25, "balanced_std": 0.0, "n_draws": 1},
        ],
        "confusion_matrices": {"tiny": {"labels": classes, "matrix": cm, "k": "all", "draw": 0}},
        "predictions": {"tiny": {str(i): first for i in split.test_ids}},
        "test_ids": split.test_ids, "notes": [], "warnings": [RANDOM_INIT_WARNING], "seconds": 1.0,
    }
    return save_run(ws, "baseline", {"arch": "tiny", "split": "default", "device": "cpu"}, results)


def _freeze(at: AppTest, group_by: str = "none") -> AppTest:
    at.radio(key="fh_group_by").set_value(group_by)
    next(b for b in at.button if b.label == "Freeze hold-out").click()
    return at.run()


def test_opening_the_page_freezes_nothing_and_the_freeze_is_explicit(app_config):
    ws = _workspace(app_config)
    at = _open()
    assert get_split(ws) is None
    assert next(b for b in at.button if b.label == "Run evaluation").disabled
    assert any("Freeze the hold-out above" in i.value for i in at.info)
    _freeze(at, "none")
    assert not at.exception and not at.error
    split = get_split(ws)
    assert split is not None and split.group_by is None and split.seed == 0
    assert not next(b for b in at.button if b.label == "Run evaluation").disabled
    assert any(f"{len(split.test_ids)} test images" in c.value for c in at.caption)


def test_freeze_by_source_folder_refuses_when_classes_are_folders(app_config):
    # The demo keeps each class in one folder: whole folders cannot put every class on both sides.
    ws = _workspace(app_config)
    at = _freeze(_open(), "folder")
    assert not at.exception
    assert any("grouped split cannot" in e.value for e in at.error)
    assert get_split(ws) is None


def test_freeze_by_group_column_keeps_groups_whole(app_config):
    ws = _workspace(app_config)
    truth = ws.ground_truth()
    ws.set_ground_truth(truth, "test", groups={i: f"volume-{i % 8}" for i in truth})
    at = _open()
    at.slider(key="fh_fraction").set_value(0.3)
    _freeze(at, "group")
    assert not at.exception and not at.error
    split = get_split(ws)
    assert split.group_by == "group"
    test_groups = {i % 8 for i in split.test_ids}
    assert test_groups and not test_groups & {i % 8 for i in split.train_ids}
    assert any("whole groups" in c.value for c in at.caption)


def test_run_evaluation_then_table_with_baseline_and_map(app_config):
    ws = _workspace(app_config)
    at = _open()
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    _freeze(at)
    assert any("No evaluation" in i.value for i in at.info)

    at.multiselect(key="ev_methods").set_value(["zero_shot", "logreg"])
    at.multiselect(key="ev_ks").set_value([1, "all"])
    at.number_input(key="ev_draws").set_value(2)
    next(b for b in at.button if b.label == "Run evaluation").click().run()
    assert not at.exception, at.exception
    # The run is a background job: the page shows its progress, not a blocked script.
    jobs = [j for j in list_jobs(ws) if j["kind"] == "evaluate"]
    assert len(jobs) == 1 and ("--class-names" in jobs[0]["args"] or "--prompt-set" in jobs[0]["args"])
    assert list_runs(ws, "evaluation") == [] or jobs[0]["status"] == "done"
    job = wait_for_job(ws, jobs[0]["id"], timeout=240)
    assert job["status"] == "done", job
    at = _open()  # a reload (new session) shows the stored run
    runs = list_runs(ws, "evaluation")
    assert len(runs) == 1
    assert runs[0]["settings"]["methods"] == ["zero_shot", "logreg"]

    table = at.dataframe[0].value
    assert list(table.columns) == ["method", "1", "all"]
    assert table["method"].tolist()[0].startswith("zero-shot")
    assert "logistic regression" in table["method"].tolist()
    # The best cell of each column is starred.
    for k in ("1", "all"):
        assert sum(str(v).endswith("★") for v in table[k]) >= 1
    assert len(_charts(at)) >= 3  # learning curve, one confusion matrix at least, embedding map

    # A stored baseline joins the table on the next run of the page, labelled random-init.
    _stored_baseline(ws)
    at.run()
    assert not at.exception, at.exception
    methods = at.dataframe[0].value["method"].tolist()
    assert "tiny (random-init, not meaningful)" in methods
    # Its warning joins the one collapsed Checks panel; the only warning box is the model banner.
    assert [e.label for e in at.expander if e.label.startswith("Checks (")]
    assert any(md(f"Baseline: {plain_check(RANDOM_INIT_WARNING)}") in m.value for m in at.markdown)
    assert len(at.warning) == 1 and UNTRAINED_WARNING in at.warning[0].value
    shown = [m for m in at.multiselect if m.key.startswith("ev_cm_methods")]
    assert len(shown) == 1 and "tiny (random-init, not meaningful)" in shown[0].value

    # A clicked cell (stored by the chart's selection) lists that cell's hold-out images.
    split = freeze_split(ws)
    true_label, predicted = split.classes[1], split.classes[0]
    at.session_state["ev_cm_cell"] = ("tiny (random-init, not meaningful)", true_label, predicted)
    at.run()
    assert not at.exception, at.exception
    expected = sorted(i for i in split.test_ids if split.labels[i] == true_label)
    shown_ids = sorted(grid_ids(at, "ev_cell"))
    assert shown_ids == expected and expected


def test_pretrained_baseline_offline_shows_both_ways_out_and_starts_nothing(app_config):
    ws = _workspace(app_config)
    save_run(ws, "evaluation", {"model": TINY_KEY, "methods": ["zero_shot"]},
             {"split": {"name": "default"}, "error_rates": [{"method": "zero_shot", "k": 0, "mean": 0.5, "std": 0.0, "n_draws": 1}],
              "confusion_matrices": {}, "warnings": [], "settings": {}})
    at = _open()
    assert at.selectbox(key="ev_arch").value == "efficientnet_b4"
    next(b for b in at.button if b.label == "Start baseline job").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert '"Local weights file"' in errors and "connected machine" in errors
    assert "--checkpoint" not in errors and "--arch" not in errors  # the form's fields, not CLI flags
    assert list_jobs(ws) == []


def _map_frame(at: AppTest):
    import pyarrow as pa

    chart = _charts(at)[-1].proto
    assert '"shape"' in chart.spec and '"image"' in chart.spec  # split marked by shape; thumbnail tooltip
    return pa.ipc.open_stream(chart.datasets[0].data.data).read_all().to_pandas()


def test_embedding_map_defaults_to_tsne_marks_the_hold_out_and_switches_to_pca(app_config):
    ws = _workspace(app_config)
    split = freeze_split(ws)
    save_run(ws, "evaluation", {"model": TINY_KEY, "methods": ["zero_shot"]},
             {"split": {"name": "default"}, "error_rates": [{"method": "zero_shot", "k": 0, "mean": 0.5, "std": 0.0, "n_draws": 1}],
              "confusion_matrices": {}, "warnings": [], "settings": {}})
    at = _open()
    assert at.radio(key="ev_projection").value == "tsne"  # the measured default on a small collection
    tsne = _map_frame(at)
    assert len(tsne) == ws.counts()["images"]
    assert (tsne["part"] == "hold-out").sum() == len(split.test_ids)
    assert (tsne["part"] == "train").sum() == len(split.train_ids)
    assert tsne["image"].str.startswith("data:image/jpeg;base64,").all()
    assert set(tsne["class"]) == set(split.classes)

    at.radio(key="ev_projection").set_value("pca").run()
    assert not at.exception, at.exception
    pca = _map_frame(at)
    assert len(tsne) == len(pca) and not np.allclose(tsne[["x", "y"]].to_numpy(), pca[["x", "y"]].to_numpy())
    assert len(list_runs(ws, "evaluation")) == 1  # switching the map recomputed nothing else
