"""The exportable report: table logic, CSV, inline SVG chart, and a standalone, escaped HTML file."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from clipcore.classify.report import build_report, combine_with_baseline, error_rate_table, learning_curve_svg

EVIL = "<script>alert(1)</script>"


def _summary() -> list[dict]:
    return [
        {"method": "zero_shot", "k": 0, "mean": 0.30, "std": 0.0, "n_draws": 1},
        {"method": "logreg", "k": 1, "mean": 0.40, "std": 0.05, "n_draws": 5},
        {"method": "logreg", "k": 4, "mean": 0.20, "std": 0.04, "n_draws": 5},
        {"method": "logreg", "k": "all", "mean": 0.10, "std": 0.0, "n_draws": 1},
        {"method": "knn", "k": 1, "mean": 0.50, "std": 0.10, "n_draws": 5},
        {"method": "knn", "k": 4, "mean": 0.20, "std": 0.02, "n_draws": 5},
    ]


def _result() -> dict:
    labels = ["cover", EVIL]
    return {
        "split": {"seed": 0, "test_ids": [1, 2, 3, 4], "n_train": 10},
        "error_rates": _summary(),
        "confusion_matrices": {"logreg": {"labels": labels, "matrix": [[2, 0], [1, 1]]}},
        "warnings": [f"class {EVIL} has few images"],
        "settings": {"model": "tiny/none", "draws": 5},
    }


def _baseline_run(pretrained: bool = False) -> dict:
    return {
        "id": "run1",
        "created_at": "2026-01-01T00:00:00Z",
        "settings": {"arch": "tiny", "max_epochs": 2},
        "results": {
            "arch": "tiny",
            "pretrained": pretrained,
            "summary": [
                {"method": "tiny", "k": 1, "mean": 0.70, "std": 0.1, "n_draws": 2},
                {"method": "tiny", "k": "all", "mean": 0.05, "std": 0.0, "n_draws": 1},
            ],
            "confusion_matrices": {"tiny": {"labels": ["cover", EVIL], "matrix": [[1, 1], [0, 2]], "k": "all"}},
            "warnings": ["untrained/random-init baseline - results are not meaningful"],
            "notes": ["k=1: trained a fixed 2 epochs."],
        },
    }


def test_table_repeats_zero_shot_and_marks_the_best_per_column():
    table = error_rate_table(_summary())
    assert table.methods == ["zero_shot", "logreg", "knn"]
    assert table.ks == ["1", "4", "all"]
    assert {table.cells[("zero_shot", k)][0] for k in table.ks} == {0.30}
    assert table.best == {"1": ["zero_shot"], "4": ["logreg", "knn"], "all": ["logreg"]}
    assert ("knn", "all") not in table.cells
    recs = {r["method"]: r for r in table.records()}
    assert recs["zero_shot"]["1"].endswith("★") and not recs["logreg"]["1"].endswith("★")
    assert recs["logreg"]["1"] == "0.400 ± 0.050" and recs["knn"]["all"] == ""


def test_csv_has_mean_and_std_per_k_and_the_best_columns():
    rows = list(csv.DictReader(io.StringIO(error_rate_table(_summary()).to_csv())))
    by_method = {r["method"]: r for r in rows}
    assert float(by_method["logreg"]["error_mean_k=4"]) == pytest.approx(0.20)
    assert float(by_method["knn"]["error_std_k=1"]) == pytest.approx(0.10)
    assert by_method["knn"]["error_mean_k=all"] == ""
    assert by_method["logreg"]["best_at_k"] == "4;all"


def test_learning_curve_svg_is_well_formed_with_bands_and_a_reference_rule():
    svg = learning_curve_svg(error_rate_table(_summary() + [{"method": EVIL, "k": 1, "mean": 0.9, "std": 0, "n_draws": 1}]))
    root = ET.fromstring(svg)  # well-formed XML, so user strings were escaped
    tags = [el.tag for el in root.iter()]
    assert tags.count("polyline") == 2 and tags.count("polygon") == 2  # logreg and knn (the evil one has one point)
    dashed = [el for el in root.iter("line") if el.get("stroke-dasharray")]
    assert len(dashed) == 2  # the zero-shot rule and its legend swatch
    assert any(EVIL[:20] in (el.text or "") for el in root.iter("text"))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [v or "" for _, v in attrs]
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
            self.tables[self._table].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def test_report_is_standalone_and_escapes_user_strings():
    page = build_report(_result(), [_baseline_run()], prompt_set="<img src=x onerror=alert(1)>", model_key="tiny/none", untrained=True)
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"https?://", page), "the report must not reference anything outside itself"
    assert not any(a.lower().startswith(("http", "//", "javascript:")) for a in parser.attrs)
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in "".join(parser.text)  # shown to the reader as text

    table = parser.tables["error-rates"]
    assert table[0] == ["method", "k = 1", "k = 4", "k = all"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["tiny (random-init, not meaningful)"] == ["0.700 ± 0.100", "", "0.050 ★"]
    assert rows["logistic regression"][2] == "0.100"  # method keys read as names
    assert rows["zero-shot (prompts only)"][0] == "0.300 ★"
    settings = next(t for t in parser.text if "settings: " in t)
    assert "CLIP model: tiny" in settings and "training draws: 5" in settings
    assert not re.search(r"\w=|_", settings.split("settings: ", 1)[1])  # no key=value, no snake_case key
    assert "untrained model - results are not meaningful" in page
    assert "untrained/random-init baseline - results are not meaningful" in page
    assert page.count("<svg") == 1
    # Both confusion matrices, with counts.
    cms = [rows for name, rows in parser.tables.items() if name != "error-rates"]
    assert len(cms) == 2 and cms[0][1] == ["cover", "2", "0"]


def test_report_without_baseline_or_matrices_still_renders():
    page = build_report({"error_rates": _summary()[:1]})
    parser = _Collector()
    parser.feed(page)
    assert parser.tables["error-rates"][0] == ["method"]  # zero-shot only: no k columns
    assert "baseline" not in page.lower().split("<h2>")[1]


def test_baseline_run_replaces_rows_an_evaluation_already_carries():
    result = _result()
    result["error_rates"] = _summary() + [{"method": "tiny", "k": 1, "mean": 0.9, "std": 0.0, "n_draws": 1}]
    result["confusion_matrices"]["tiny"] = {"labels": ["a"], "matrix": [[1]]}
    run = _baseline_run()
    run["results"]["predictions"] = {"tiny": {"3": "cover"}}
    summary, matrices, predictions = combine_with_baseline(result, run)
    names = {r["method"] for r in summary}
    assert "tiny" not in names and "tiny (random-init, not meaningful)" in names
    assert [r["mean"] for r in summary if r["method"].startswith("tiny")] == [0.70, 0.05]
    assert set(matrices) == {"logreg", "tiny (random-init, not meaningful)"}
    assert predictions == {"tiny (random-init, not meaningful)": {"3": "cover"}}
    # A pretrained run is named as such.
    assert combine_with_baseline(result, _baseline_run(pretrained=True))[0][-1]["method"] == "tiny (ImageNet-pretrained)"
