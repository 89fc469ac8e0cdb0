"""The exportable evaluation report: the error-rate table, learning curve and confusion
matrices as one self-contained HTML file a stakeholder can open without the app.

No scripts, no external URLs, no web fonts: the chart is inline SVG drawn here, tables
are plain HTML, and every user string (class names, method names, prompt-set names)
goes through ``html.escape``. The same table logic feeds the Evaluate page and its CSV.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from clipcore.classify.palette import method_colour
from clipcore import UNTRAINED_WARNING
from clipcore.csvsafe import rows_csv

ZERO_SHOT_KS = (None, 0, "0", "zero-shot", "-", "")
MODEL_SEP = " · "  # "<method> · <model>": a method's row for one of several models (evaluation.evaluate_models)
# Several models: a method keeps its colour, the model sets the line's dash (curves, then zero-shot rules).
_CURVE_DASH = ("", "8 3", "2 2", "8 2 2 2")
_RULE_DASH = ("6 4", "2 3", "10 3 2 3", "1 4")
RANDOM_INIT_TAG = "random-init, not meaningful"


def _k_key(k: Any) -> tuple[int, int]:
    return (1, 0) if str(k) == "all" else (0, int(k))


def is_reference_row(row: Mapping[str, Any]) -> bool:
    """True for a method that uses no training examples (zero-shot): one value for every k."""
    return row.get("k") in ZERO_SHOT_KS


def baseline_method_name(results: Mapping[str, Any]) -> str:
    """Display name of a baseline run: its arch plus whether it was pretrained."""
    arch = str(results.get("arch") or results.get("method") or "baseline")
    return f"{arch} (ImageNet-pretrained)" if results.get("pretrained") else f"{arch} ({RANDOM_INIT_TAG})"


def baseline_summary(run: Mapping[str, Any]) -> list[dict]:
    """A stored baseline run's summary rows, renamed for tables and charts."""
    results = run.get("results") or {}
    name = baseline_method_name(results)
    return [{**row, "method": name} for row in results.get("summary", [])]


def latest_baseline_for(baseline_runs: Sequence[Mapping[str, Any]], split_name: str | None) -> Mapping[str, Any] | None:
    """The newest baseline run on split ``split_name`` (runs are newest first), or None."""
    for run in baseline_runs:
        if split_name is None or (run.get("settings") or {}).get("split", "default") == split_name:
            return run
    return None


def combine_with_baseline(
    result: Mapping[str, Any], baseline_run: Mapping[str, Any] | None
) -> tuple[list[dict], dict[str, dict], dict[str, dict]]:
    """(summary rows, confusion matrices, predictions) of an evaluation plus a baseline run.

    The baseline's rows are renamed with ``baseline_method_name`` (arch and whether it was
    pretrained); rows the evaluation already carries for the same arch (``evaluate
    --with-baseline``) are replaced by the run's.
    """
    summary = [dict(r) for r in (result.get("summary") or result.get("error_rates") or [])]
    matrices = {str(m): dict(cm) for m, cm in (result.get("confusion_matrices") or {}).items()}
    predictions = {str(m): dict(p) for m, p in (result.get("predictions") or {}).items()}
    if baseline_run:
        res = baseline_run.get("results") or {}
        raw = str(res.get("method") or res.get("arch") or "")
        name = baseline_method_name(res)
        summary = [r for r in summary if r.get("method") != raw] + baseline_summary(baseline_run)
        matrices.pop(raw, None)
        predictions.pop(raw, None)
        for cm in (res.get("confusion_matrices") or {}).values():
            matrices[name] = dict(cm)
        for pred in (res.get("predictions") or {}).values():
            predictions[name] = dict(pred)
    return summary, matrices, predictions


@dataclass
class ErrorRateTable:
    """Rows = methods, columns = k; ``cells[(method, k)] = (mean, std, n_draws)``.

    A reference method (zero-shot) has one value repeated in every column, so the best
    cell per column compares every method at that k. ``best[k]`` lists the method(s)
    with the lowest mean error in column ``k``.
    """

    methods: list[str]
    ks: list[str]
    cells: dict[tuple[str, str], tuple[float, float, int]]
    reference: set[str] = field(default_factory=set)
    best: dict[str, list[str]] = field(default_factory=dict)

    def records(self, *, mark: str = "★") -> list[dict[str, Any]]:
        """One dict per method: {"method", <k>: "0.123 ± 0.010 ★", ...} for display."""
        out = []
        for m in self.methods:
            row: dict[str, Any] = {"method": m}
            for k in self.ks:
                cell = self.cells.get((m, k))
                if cell is None:
                    row[k] = ""
                    continue
                text = f"{cell[0]:.3f}" + (f" ± {cell[1]:.3f}" if cell[2] > 1 else "")
                row[k] = text + (f" {mark}" if m in self.best.get(k, []) else "")
            out.append(row)
        return out

    def to_csv(self) -> str:
        """CSV: method, then mean and std per k (empty where a method has no value); text
        cells neutralised against formula injection."""
        header = ["method"] + [f"{c}_k={k}" for k in self.ks for c in ("error_mean", "error_std")] + ["best_at_k"]
        rows = []
        for m in self.methods:
            values: list[Any] = [m]
            for k in self.ks:
                cell = self.cells.get((m, k))
                values += [f"{cell[0]:.6f}", f"{cell[1]:.6f}"] if cell else ["", ""]
            values.append(";".join(k for k in self.ks if m in self.best.get(k, [])))
            rows.append(values)
        return rows_csv(header, rows)


def error_rate_table(summary: Iterable[Mapping[str, Any]]) -> ErrorRateTable:
    """Build the error-rate table from summary rows {"method", "k", "mean", "std", "n_draws"}.

    Rows whose ``k`` is empty/0/"zero-shot" are reference methods (zero-shot): their
    value fills every column. Methods keep their first-seen order.
    """
    rows = list(summary)
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    ks = sorted({str(r["k"]) for r in rows if not is_reference_row(r)}, key=_k_key)
    cells: dict[tuple[str, str], tuple[float, float, int]] = {}
    reference: set[str] = set()
    for r in rows:
        cell = (float(r["mean"]), float(r.get("std") or 0.0), int(r.get("n_draws") or 1))
        if is_reference_row(r):
            reference.add(str(r["method"]))
            for k in ks:
                cells[(str(r["method"]), k)] = cell
        else:
            cells[(str(r["method"]), str(r["k"]))] = cell
    best: dict[str, list[str]] = {}
    for k in ks:
        scored = [(cells[(m, k)][0], m) for m in methods if (m, k) in cells and not math.isnan(cells[(m, k)][0])]
        if scored:
            low = min(s for s, _ in scored)
            best[k] = [m for s, m in scored if s <= low + 1e-12]
    return ErrorRateTable(methods, ks, cells, reference, best)


# -- inline SVG learning curve -------------------------------------------------------------


def learning_curve_svg(table: ErrorRateTable, *, width: int = 720, height: int = 380, title: str = "") -> str:
    """Error rate against k: a line with a mean ± std band per method, reference methods
    as dashed horizontal rules. Returns an ``<svg>`` element (no scripts, no links)."""
    ml, mr, mt, mb = 56, 230, 30 if title else 14, 44
    pw, ph = width - ml - mr, height - mt - mb
    ks = table.ks
    values = [c[0] + c[1] for c in table.cells.values() if not math.isnan(c[0])]
    top = min(1.0, max(values, default=0.0) * 1.05) or 0.1
    step = next(s for s in (0.02, 0.05, 0.1, 0.2) if top / s <= 6)
    n_ticks = max(1, math.ceil(top / step - 1e-9))
    ymax = step * n_ticks

    def x(i: int) -> float:
        return ml + (pw * (i + 0.5) / len(ks) if ks else pw / 2)

    def y(v: float) -> float:
        return mt + ph - ph * max(0.0, min(v, ymax)) / ymax

    e = html.escape
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" font-family="sans-serif" font-size="12">'
    ]
    if title:
        parts.append(f'<text x="{ml}" y="18" font-size="14" font-weight="bold">{e(title)}</text>')
    for t in range(n_ticks + 1):
        v = step * t
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{ml - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    for i, k in enumerate(ks):
        parts.append(f'<text x="{x(i):.1f}" y="{mt + ph + 18}" text-anchor="middle">{e(k)}</text>')
    parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 6}" text-anchor="middle">training examples per class (k)</text>')
    parts.append(
        f'<text transform="translate(14 {mt + ph / 2:.1f}) rotate(-90)" text-anchor="middle">error rate on the hold-out</text>'
    )
    parts.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    models = list(dict.fromkeys(m.partition(MODEL_SEP)[2] for m in table.methods))
    styled = len(models) > 1
    row_h = 30 if styled else 18
    for n, m in enumerate(table.methods):
        color = method_colour(m)
        base, _, model = m.partition(MODEL_SEP)
        nth = models.index(model) % len(_CURVE_DASH) if styled else 0
        dash = f' stroke-dasharray="{_RULE_DASH[nth]}"' if m in table.reference else (
            f' stroke-dasharray="{_CURVE_DASH[nth]}"' if _CURVE_DASH[nth] else "")
        if m in table.reference:
            cell = next((table.cells[(m, k)] for k in ks if (m, k) in table.cells), None)
            if cell is not None:
                parts.append(
                    f'<line x1="{ml}" x2="{ml + pw}" y1="{y(cell[0]):.1f}" y2="{y(cell[0]):.1f}" stroke="{color}" '
                    f'stroke-width="2"{dash}/>'
                )
        else:
            pts = [(i, table.cells[(m, k)]) for i, k in enumerate(ks) if (m, k) in table.cells]
            if len(pts) > 1:
                upper = " ".join(f"{x(i):.1f},{y(c[0] + c[1]):.1f}" for i, c in pts)
                lower = " ".join(f"{x(i):.1f},{y(c[0] - c[1]):.1f}" for i, c in reversed(pts))
                parts.append(f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
                line = " ".join(f"{x(i):.1f},{y(c[0]):.1f}" for i, c in pts)
                parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for i, c in pts:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(c[0]):.1f}" r="3.5" fill="{color}"/>')
        ly = mt + 8 + row_h * n
        parts.append(
            f'<line x1="{ml + pw + 12}" x2="{ml + pw + 36}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{ml + pw + 42}" y="{ly + 4}">{e(_shorten(base if styled else m, 30))}</text>')
        if styled:  # the model on a second, smaller line, so that neither is cut
            parts.append(f'<text x="{ml + pw + 42}" y="{ly + 17}" font-size="10" fill="#555">{e(_shorten(model, 38))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- HTML ----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}td.best{font-weight:bold;background:#e6f4ea}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5rem 1rem;margin:.5rem 0}
.muted{color:#666;font-size:.9rem}.cms{display:flex;flex-wrap:wrap;gap:2rem}.cm td{text-align:center;min-width:2.5rem}
"""


def _table_html(table: ErrorRateTable) -> str:
    e = html.escape
    head = "".join(f"<th>k = {e(k)}</th>" for k in table.ks)
    body = []
    for m in table.methods:
        cells = []
        for k in table.ks:
            c = table.cells.get((m, k))
            if c is None:
                cells.append("<td></td>")
                continue
            best = m in table.best.get(k, [])
            text = f"{c[0]:.3f}" + (f" ± {c[1]:.3f}" if c[2] > 1 else "") + (" ★" if best else "")
            cells.append(f'<td{" class=best" if best else ""}>{e(text)}</td>')
        body.append(f"<tr><th>{e(m)}</th>{''.join(cells)}</tr>")
    return f'<table id="error-rates"><thead><tr><th>method</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _confusion_html(name: str, cm: Mapping[str, Any]) -> str:
    e = html.escape
    labels = [str(lbl) for lbl in cm.get("labels", [])]
    matrix = cm.get("matrix", [])
    head = "".join(f"<th>{e(lbl)}</th>" for lbl in labels)
    rows = []
    for lbl, counts in zip(labels, matrix):
        total = sum(counts) or 1
        tds = []
        for n in counts:
            share = n / total
            shade = int(255 - 150 * share)
            tds.append(f'<td style="background:rgb({shade},{shade},255)">{int(n)}</td>')
        rows.append(f"<tr><th>{e(lbl)}</th>{''.join(tds)}</tr>")
    extra = f" (k = {e(str(cm['k']))})" if cm.get("k") is not None else ""
    return (
        f'<div><h3>{e(name)}{extra}</h3><table class="cm"><thead><tr><th>true \\ predicted</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def build_report(
    result: Mapping[str, Any],
    baseline_runs: Sequence[Mapping[str, Any]] = (),
    *,
    title: str = "Image classification: evaluation report",
    model_key: str | None = None,
    prompt_set: str | None = None,
    untrained: bool = False,
    generated_at: str | None = None,
    collection: str | None = None,
    sample: Sequence[tuple[str, str]] = (),
) -> str:
    """A self-contained HTML report of one evaluation (and the latest baseline run).

    Args:
        result: an evaluation as a dict (``EvaluationResult.to_dict()``): ``error_rates``
            (or ``summary``), ``confusion_matrices``, ``warnings``, ``split``, ``settings``.
        baseline_runs: stored baseline runs (``list_runs(ws, "baseline")``), newest first;
            the newest on the evaluation's split joins the table and its confusion matrix is shown.
        model_key: the CLIP model the embeddings came from, shown in the header.
        untrained: the CLIP model was random-init; the report says results are not meaningful.
        collection: the collection's name, in the title.
        sample: (caption, ``data:image/jpeg;base64,...`` URL) of a few of its images
            (``report_sample``), embedded in the file so that it needs nothing external.
    Returns:
        One HTML document (UTF-8 text) without scripts or external references.
    """
    e = html.escape
    warnings = [str(w) for w in result.get("warnings", [])]
    baseline_note = ""
    split = result.get("split") or {}
    run = latest_baseline_for(baseline_runs, split.get("name"))
    summary, matrices, _ = combine_with_baseline(result, run)
    if run is not None:
        res = run.get("results") or {}
        warnings += [str(w) for w in res.get("warnings", [])]
        baseline_note = (
            f"Baseline: {baseline_method_name(res)}, run {run.get('id', '?')} of {_when(run.get('created_at'))}, "
            f"settings {_settings_text(run.get('settings') or {})}."
        )
        for note in res.get("notes", []):
            baseline_note += f" {note}"
    table = error_rate_table(_titled_rows(summary))
    settings = result.get("settings") or {}
    generated = generated_at or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if untrained and UNTRAINED_WARNING not in warnings:
        warnings.insert(0, UNTRAINED_WARNING)

    meta = []
    if model_key:
        from clipcore.embedding.models import describe_key

        meta.append(f"CLIP model: {describe_key(model_key)}")
    models = settings.get("models") or []
    if len(models) > 1:
        meta.append(
            "models compared (one row per model and method, same prompt set, same hold-out): "
            + ", ".join(f"{m.get('label')}" + (" (untrained, not meaningful)" if m.get("untrained") else "") for m in models)
        )
    if prompt_set:
        meta.append(f"prompt set: {prompt_set}")
    n_test = len(split.get("test_ids", []) or [])
    n_train = split.get("n_train") or len(split.get("train_ids", []) or [])
    if n_test:
        meta.append(f"hold-out: {n_test} images" + (f", training pool: {n_train}" if n_train else ""))
    if "seed" in split:
        meta.append(f"split seed: {split['seed']}")
    if settings:
        meta.append(f"settings: {_settings_text(settings)}")
    meta.append(f"generated {generated}")

    if collection:
        title = f"{collection}: {title[0].lower()}{title[1:]}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">{" · ".join(e(m) for m in meta)}</p>',
    ]
    parts += [f'<div class="warn">{e(w)}</div>' for w in dict.fromkeys(warnings)]
    shown = [(c, u) for c, u in sample if str(u).startswith("data:image/jpeg;base64,")]  # nothing external
    if shown:
        parts.append(f"<h2>A sample of {e(collection or 'the collection')}</h2><div class=\"cms\">")
        parts += [f'<figure style="margin:0 8px 8px 0"><img src="{e(u)}" alt="{e(c)}" style="height:128px">'
                  f'<figcaption class="muted">{e(c)}</figcaption></figure>' for c, u in shown]
        parts.append("</div>")
    parts += [
        "<h2>Error rate by training examples per class</h2>",
        '<p class="muted">Mean error rate on the frozen hold-out over random training draws (± standard deviation); '
        "★ marks the best method per column. Zero-shot uses no examples: its error is repeated in every column.</p>",
        _table_html(table),
    ]
    if baseline_note:
        parts.append(f'<p class="muted">{e(baseline_note)}</p>')
    parts += ["<h2>Learning curve</h2>", learning_curve_svg(table)]
    if matrices:
        parts.append("<h2>Confusion matrices</h2>")
        parts.append('<div class="cms">' + "".join(_confusion_html(_titled_rows([{"method": n}])[0]["method"], cm) for n, cm in matrices.items()) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


# How the report names a stored setting (keys not listed keep their name, underscores as spaces).
SETTING_NAMES = {
    "methods": "methods", "ks": "examples per class", "draws": "training draws", "split": "hold-out split",
    "model": "CLIP model", "arch": "network", "timm_model": "network", "weights_path": "weights file",
    "weights": "weights", "epochs": "epochs", "device": "device", "seed": "seed", "pretrained": "pretrained",
}


def _setting_value(key: str, value: Any) -> str:
    from clipcore.classify.fewshot import METHOD_TITLES
    from clipcore.embedding.models import describe_key

    if key == "methods" and isinstance(value, list):
        return ", ".join(METHOD_TITLES.get(str(m), str(m)) for m in value)
    if key == "model":
        return describe_key(str(value))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _when(iso: Any) -> str:
    """A stored ISO time as "2026-12-05 22:47 UTC" ("?" when unreadable)."""
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return "?"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _titled_rows(summary: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Summary rows with method keys as their display names ("logreg" -> "logistic regression");
    a row of one of several models keeps its `` · <model>`` suffix."""
    from clipcore.classify.fewshot import METHOD_TITLES

    out = []
    for r in summary:
        base, sep, model = str(r["method"]).partition(MODEL_SEP)
        out.append({**r, "method": METHOD_TITLES.get(base, base) + sep + model})
    return out


def _settings_text(settings: Mapping[str, Any]) -> str:
    """Stored settings in words ("methods: logistic regression, k nearest neighbours; training
    draws: 3"): unset values and nested tables left out, no internal key spelled as code."""
    keep = {k: v for k, v in settings.items()
            if v is not None and v != "" and (not isinstance(v, (dict, list)) or k in ("ks", "methods"))}
    return "; ".join(f"{SETTING_NAMES.get(k, k.replace('_', ' '))}: {_setting_value(k, v)}" for k, v in keep.items())



def report_sample(ws: Any, image_ids: Sequence[int], *, size: int = 160) -> list[tuple[str, str]]:
    """(file name, data URL) of each image's stored thumbnail, for :func:`build_report`;
    images whose thumbnail is missing or unreadable are left out."""
    from pathlib import Path

    from clipcore.catalog.images import thumbnail_data_url
    from clipcore.errors import InputError

    out = []
    for rec in ws.images(list(image_ids)):
        thumb = ws.thumbnail_path(rec.content_hash)
        if not thumb.is_file():
            continue
        try:
            out.append((Path(rec.path).name, thumbnail_data_url(thumb, size)))
        except InputError:
            continue
    return out


def report_file_name(collection: str) -> str:
    """``<collection>-report.html``, the name made file-safe."""
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", collection).strip(".-") or "collection"
    return f"{safe}-report.html"
