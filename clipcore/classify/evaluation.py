"""Learning curves on a frozen hold-out: every method, every k, several draws, one test set.

For each k (examples per class) the same training draws (``splits.draw_training_sets``)
feed every few-shot method; every method is scored on the split's ``test_ids`` only.
Zero-shot needs no examples and appears once, with ``k = 0``. Results can be stored
in the workspace's ``runs`` table (``save_run``) and read back (``list_runs``).
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from clipcore import UNTRAINED_WARNING
from clipcore.errors import InputError
from clipcore.classify.fewshot import CLASSIFIER_METHODS, METHOD_TITLES, METHODS, make_classifier
from clipcore.classify.metrics import accuracy, balanced_accuracy, confusion
from clipcore.classify.report import MODEL_SEP
from clipcore.embedding.models import ClipModel
from clipcore.classify.prompts import PromptSet, class_name_prompts
from clipcore.classify.splits import (
    Split, draw_training_sets, freeze_split, get_split, missing_members, near_duplicates, split_drift, usable_ks,
)
from clipcore.catalog.store import EmbeddingMatrix, Workspace, utc_now
from clipcore.classify.zeroshot import ZeroShotClassifier, build_classifier

logger = logging.getLogger(__name__)

DEFAULT_METHODS = tuple(METHODS)  # every declared method, in declaration order (fewshot.CLASSIFIER_METHODS)
DEFAULT_KS: tuple[int | str, ...] = (1, 2, 4, 8, 16, "all")
NEAR_DUPLICATE_THRESHOLD = 0.97
# Train x hold-out cosines computed at most for the near-duplicate check; closest pairs kept.
NEAR_DUPLICATE_MAX_PAIRS = 200_000_000
NEAR_DUPLICATE_KEEP = 50
# A 1-shot probe this much more accurate than zero-shot (absolute error rate) is suspicious.
ONE_SHOT_GAP = 0.25
ProgressFn = Callable[[int, int], None]


@dataclass
class EvaluationResult:
    """Scores of every (method, k, draw) on one frozen hold-out.

    ``rows``: {"method", "k", "draw", "error_rate", "balanced_accuracy"} per fit.
    ``summary``: {"method", "k", "mean", "std", "balanced_mean", "balanced_std", "n_draws"} per (method, k);
    ``mean``/``std`` are of the error rate. ``confusion_matrices``: method -> {"labels", "matrix"}
    at the method's largest k, first draw; ``predictions``: method -> {test id: predicted class}
    for the same fits.
    """

    split: Split
    rows: list[dict]
    summary: list[dict]
    confusion_matrices: dict[str, dict]
    warnings: list[str]
    settings: dict
    predictions: dict[str, dict[int, str]] = field(default_factory=dict)
    near_duplicates: list[tuple[int, int, float]] = field(default_factory=list)
    near_duplicate_summary: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "split": {
                "name": self.split.name,
                "seed": self.split.seed,
                "test_fraction": self.split.test_fraction,
                "group_by": self.split.group_by,
                "source": self.split.source,
                "created_at": self.split.created_at,
                "test_ids": list(self.split.test_ids),
                "n_train": len(self.split.train_ids),
                "n_test": len(self.split.test_ids),
            },
            "error_rates": [dict(s) for s in self.summary],
            "rows": [dict(r) for r in self.rows],
            "confusion_matrices": self.confusion_matrices,
            "predictions": {m: {str(i): p for i, p in preds.items()} for m, preds in self.predictions.items()},
            "near_duplicates": [{"train_id": a, "test_id": b, "cosine": round(c, 6)} for a, b, c in self.near_duplicates],
            "near_duplicate_summary": self.near_duplicate_summary,
            "warnings": list(self.warnings),
            "settings": dict(self.settings),
        }


def _sanity_warnings(summary: list[dict], n_test: int) -> list[str]:
    """Results that usually mean leakage or a bug."""
    zs = next((s for s in summary if s["method"] == "zero_shot"), None)
    if zs is None:
        return []
    out = []
    zs_err = zs["mean"]
    # Two binomial standard errors of the zero-shot error rate on this hold-out.
    noise = 2.0 * math.sqrt(max(zs_err * (1 - zs_err), 1.0 / max(n_test, 1)) / max(n_test, 1))
    for s in summary:
        if s["method"] == "zero_shot":
            continue
        if s["k"] == 1 and zs_err - s["mean"] > ONE_SHOT_GAP:
            out.append(
                f"{METHOD_TITLES.get(s['method'], s['method'])} with 1 example per class has error {s['mean']:.1%}, far below zero-shot's "
                f"{zs_err:.1%}: check for leakage (near-duplicates across the split) or weak prompts."
            )
        if s["k"] == "all" and s["mean"] > zs_err + noise:
            out.append(
                f"{METHOD_TITLES.get(s['method'], s['method'])} trained on every training image has error {s['mean']:.1%}, above zero-shot's "
                f"{zs_err:.1%}: usually a bug or wrong labels."
            )
    return out


def summarise_draws(rows: list[dict]) -> list[dict]:
    """Mean and spread over draws, per (method, k), in the order the rows first name them.

    Args:
        rows: {"method", "k", "draw", "error_rate", "balanced_accuracy"} per fit.
    Returns:
        {"method", "k", "mean", "std", "balanced_mean", "balanced_std", "n_draws"} per (method, k).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], str(r["k"])), []).append(r)
    out = []
    for (method, _), rs in groups.items():
        err = np.array([r["error_rate"] for r in rs], dtype=np.float64)
        bal = np.array([r["balanced_accuracy"] for r in rs], dtype=np.float64)
        out.append(
            {
                "method": method,
                "k": rs[0]["k"],
                "mean": float(err.mean()),
                "std": float(err.std(ddof=1)) if len(err) > 1 else 0.0,
                "balanced_mean": float(bal.mean()),
                "balanced_std": float(bal.std(ddof=1)) if len(bal) > 1 else 0.0,
                "n_draws": len(rs),
            }
        )
    return out


def parse_ks(text: str | Sequence[int | str]) -> list[int | str]:
    """``"1,2,4,all"`` -> [1, 2, 4, "all"].

    Raises:
        InputError: a value that is neither a positive integer nor ``all``.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[int | str] = []
    for item in items:
        s = str(item).strip().lower()
        if not s:
            continue
        if s == "all":
            out.append("all")
        elif s.isdigit() and int(s) > 0:
            out.append(int(s))
        else:
            raise InputError(f"k values must be positive integers or 'all' (e.g. 1,2,4,8,16,all); got {item!r}.")
    if not out:
        raise InputError("no k values given;", cli_hint="use e.g. --k 1,2,4,8,16,all.",
                         app_hint="give at least one, e.g. 1, 2, 4, 8, 16 or all.")
    return list(dict.fromkeys(out))


def evaluate(
    ws: Workspace,
    matrix: EmbeddingMatrix,
    *,
    model: ClipModel | None,
    prompt_set: PromptSet | None,
    methods: Sequence[str] = DEFAULT_METHODS,
    ks: Sequence[int | str] = DEFAULT_KS,
    draws: int = 5,
    seed: int = 0,
    split_name: str = "default",
    progress: ProgressFn | None = None,
    source: str = "ground_truth",
    zero_shot: ZeroShotClassifier | None = None,
) -> EvaluationResult:
    """Score every method at every k on the frozen hold-out ``split_name``.

    The split is frozen from ``source`` on first use and reused ever after. Zero-shot
    uses ``prompt_set`` (class names in templates when None) encoded by ``model``, or a
    prebuilt ``zero_shot`` classifier.

    Args:
        matrix: embeddings of the images (rows unit-norm float32).
        ks: examples per class; values above the smallest class's training count are
            dropped (with a warning); "all" = every training image (one draw).
        draws: random training sets per k.
        progress: called as ``progress(done, total)`` after each fit.
    Raises:
        InputError: unknown method, bad k or draws, degenerate labels, or no test image embedded.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InputError(f"unknown method(s) {unknown}; choose from {sorted(METHODS)}.")
    if draws < 1:
        raise InputError(f"draws must be at least 1; got {draws}.")
    for k in ks:
        if k != "all" and (isinstance(k, (str, bool)) or int(k) != k or int(k) < 1):
            raise InputError(f"k values are positive whole numbers or 'all'; got {k!r}.")
    split = get_split(ws, split_name) or freeze_split(ws, name=split_name, seed=seed, source=source)
    warnings: list[str] = []
    if model is not None and model.info.untrained:
        warnings.append(UNTRAINED_WARNING)
    warnings += split_drift(ws, split)

    split_ids = np.asarray(split.train_ids + split.test_ids, dtype=np.int64)
    missing = split_ids[matrix.rows_of(split_ids) < 0].tolist()
    gone = set(missing_members(ws, split))
    if gone:
        n_test = sum(1 for i in split.test_ids if i in gone)
        warnings.append(
            f"{len(gone)} image(s) of split {split.name!r} ({n_test} of its hold-out) are missing from the collection "
            "(deleted, moved away or unreadable); they were left out of scoring. The split keeps them on record."
        )
    unembedded = [i for i in missing if i not in gone]
    if unembedded:
        warnings.append(f"{len(unembedded)} split image(s) have no embedding for {matrix.key}; they are left out.")
    missing_set = set(missing)
    test_ids = [i for i in split.test_ids if i not in missing_set]
    if not test_ids:
        raise InputError(
            f"no hold-out image of split {split.name!r} is embedded with this model.",
            cli_hint=f"Run `python -m clipcore embed` with {matrix.key} first.",
            app_hint="Open Home and press Embed first.",
        )
    usable = Split(
        split.name, split.seed, split.test_fraction, split.group_by,
        [i for i in split.train_ids if i not in missing_set], test_ids, split.labels, split.source, split.created_at,
    )
    classes = usable.classes
    kept_ks, dropped = usable_ks(usable, ks)
    if dropped:
        warnings.append(
            f"k = {dropped} dropped: the smallest class has only {min(usable.train_counts().values())} training images."
        )

    needs_prompts = any(m in ("zero_shot", "zero_shot_prior") for m in methods)
    if zero_shot is None and needs_prompts:
        if model is None:
            raise InputError("zero-shot methods need a model to encode the prompts; pass one or leave them out.")
        if prompt_set is None:
            prompt_set = class_name_prompts(classes)
            warnings.append("no prompt set is saved; zero-shot uses the class names as prompts.")
        zero_shot = build_classifier(model, prompt_set)
    if zero_shot is not None and needs_prompts:
        absent = sorted(set(classes) - set(zero_shot.labels))
        extra = sorted(set(zero_shot.labels) - set(classes))
        if absent:
            warnings.append(f"the prompt set has no prompt for class(es) {absent}; zero-shot can never predict them.")
        if extra:
            warnings.append(f"the prompt set has class(es) {extra} that no labelled image has; predictions of them count as errors.")

    X_test = np.asarray(matrix.vectors[matrix.rows_of(test_ids)], dtype=np.float32)
    y_test = [usable.labels[i] for i in test_ids]
    plan: list[tuple[str, int | str, int, list[int]]] = []
    for method in methods:
        if method == "zero_shot":
            plan.append((method, 0, 0, []))
            continue
        for k in kept_ks:
            for d, train in enumerate(draw_training_sets(usable, k, draws, seed)):
                plan.append((method, k, d, train))

    rows: list[dict] = []
    fits: dict[tuple[str, int | str, int], list[str]] = {}
    if progress:
        progress(0, len(plan))
    for done, (method, k, d, train) in enumerate(plan, start=1):
        clf = make_classifier(method, zero_shot=zero_shot, seed=seed + d)
        if method == "zero_shot":
            clf.fit(X_test[:1])
        else:
            clf.fit(np.asarray(matrix.vectors[matrix.rows_of(train)], dtype=np.float32), [usable.labels[i] for i in train])
        pred = [str(p) for p in clf.predict(X_test)]
        fits[(method, k, d)] = pred
        rows.append({"method": method, "k": k, "draw": d, "error_rate": 1.0 - accuracy(y_test, pred),
                     "balanced_accuracy": balanced_accuracy(y_test, pred)})
        if progress:
            progress(done, len(plan))

    summary = summarise_draws(rows)

    matrices: dict[str, dict] = {}
    predictions: dict[str, dict[int, str]] = {}
    labels_axis = sorted(set(classes) | (set(zero_shot.labels) if zero_shot is not None and "zero_shot" in methods else set()))
    for method in methods:
        k = 0 if method == "zero_shot" else (kept_ks[-1] if kept_ks else None)
        if k is None or (method, k, 0) not in fits:
            continue
        pred = fits[(method, k, 0)]
        matrices[method] = confusion(y_test, pred, labels_axis).to_dict()
        predictions[method] = dict(zip(test_ids, pred))

    budgets = {m: CLASSIFIER_METHODS[m].budget for m in methods}
    budgeted = [
        f"{CLASSIFIER_METHODS[m].title} at most {budgets[m]:,}"
        for m in methods
        if budgets[m] is not None and any(len(train) > budgets[m] for mm, _, _, train in plan if mm == m)
    ]
    if budgeted:
        warnings.append(
            "bounded training budget: " + "; ".join(budgeted) + " training images per fit "
            "(a stratified sample of larger training sets)."
        )
    dup_summary, dups = near_duplicate_check(matrix, usable.train_ids, test_ids, seed=seed)
    if dup_summary["pairs"]:
        checked = dup_summary["test_images_checked"]
        n_test_dup = dup_summary["test_images_with_duplicate"]
        n_pairs = len(usable.train_ids) * checked
        sampled = f" (a sample of {checked:,} of {len(test_ids):,} hold-out images was checked)" if checked < len(test_ids) else ""
        warnings.append(
            f"{n_test_dup:,} of {checked:,} hold-out images ({n_test_dup / checked:.0%}) look almost the "
            f"same as a training image ({dup_summary['pairs']:,} of {n_pairs:,} train/hold-out pairs, "
            f"{dup_summary['pairs'] / max(n_pairs, 1):.0%}, at cosine >= {NEAR_DUPLICATE_THRESHOLD}){sampled}, so scores may be optimistic. "
            "A split that keeps groups (books, series) together avoids this."
        )
    warnings += _sanity_warnings(summary, len(test_ids))
    settings = {
        "model": matrix.key,
        "prompt_set": (
            {"name": prompt_set.name, "version": prompt_set.version} if prompt_set is not None else None
        ),
        "methods": list(methods),
        "ks": [k for k in ks],
        "ks_used": kept_ks,
        "draws": draws,
        "seed": seed,
        "split": split.name,
    }
    logger.info("evaluated %d fits on %d hold-out images", len(rows), len(test_ids))
    return EvaluationResult(usable, rows, summary, matrices, warnings, settings, predictions, dups, dup_summary)


def near_duplicate_check(
    matrix: EmbeddingMatrix,
    train_ids: Sequence[int],
    test_ids: Sequence[int],
    *,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    max_pairs: int = NEAR_DUPLICATE_MAX_PAIRS,
    keep: int = NEAR_DUPLICATE_KEEP,
    seed: int = 0,
) -> tuple[dict, list[tuple[int, int, float]]]:
    """Count train/hold-out near-duplicates and keep only the closest ``keep`` pairs.

    Compares every pair while train x test <= ``max_pairs``; beyond that, a seeded sample
    of hold-out images (so the cost stays bounded), which the summary says.
    Returns:
        ({"pairs", "test_images_with_duplicate", "test_images_checked", "test_images", "threshold"}, closest pairs
        [(train id, test id, cosine)], most similar first).
    """
    test = list(test_ids)
    checked = test
    if len(train_ids) and len(test) * len(train_ids) > max_pairs:
        n = max(1, max_pairs // len(train_ids))
        rng = np.random.default_rng(seed)
        checked = sorted(rng.choice(np.asarray(test, dtype=np.int64), size=min(n, len(test)), replace=False).tolist())
    pairs = near_duplicates(matrix, train_ids, checked, threshold)
    summary = {
        "pairs": len(pairs),
        "test_images_with_duplicate": len({t for _, t, _ in pairs}),
        "test_images_checked": len(checked),
        "test_images": len(test),
        "threshold": threshold,
    }
    return summary, pairs[:keep]


def save_run(ws: Workspace, kind: str, settings: dict, results: dict) -> str:
    """Store one run (settings and results as JSON) in one transaction; return its id."""
    if not kind.strip():
        raise InputError("a run needs a kind, e.g. 'evaluation' or 'baseline'.")
    run_id = uuid.uuid4().hex[:12]
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO runs (id, kind, settings, results, created_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, json.dumps(settings, ensure_ascii=False), json.dumps(results, ensure_ascii=False), utc_now()),
        )
    return run_id


def list_runs(ws: Workspace, kind: str | None = None) -> list[dict]:
    """Stored runs, newest first: [{"id", "kind", "settings", "results", "created_at"}]."""
    sql = "SELECT id, kind, settings, results, created_at FROM runs"
    params: tuple = ()
    if kind is not None:
        sql += " WHERE kind = ?"
        params = (kind,)
    rows = ws.query(sql + " ORDER BY created_at DESC, rowid DESC", params)
    return [
        {"id": r[0], "kind": r[1], "settings": json.loads(r[2]), "results": json.loads(r[3]), "created_at": r[4]}
        for r in rows
    ]


# -- several models on one hold-out ------------------------------------------------------



@dataclass(frozen=True)
class ModelEntry:
    """One embedding set to compare: its vectors, the model that encodes prompts for it
    (None: zero-shot methods are left out for it), a display label and whether it is untrained."""

    key: str
    label: str
    matrix: EmbeddingMatrix
    model: ClipModel | None
    untrained: bool

    @property
    def title(self) -> str:
        """The label, marked when the weights are random."""
        return self.label + (" (untrained)" if self.untrained else "")


def covers_holdout(matrix: EmbeddingMatrix, split: Split) -> bool:
    """True when every hold-out image of ``split`` has a vector in ``matrix``."""
    ids = np.asarray(split.test_ids, dtype=np.int64)
    return bool(len(ids)) and bool((matrix.rows_of(ids) >= 0).all())


def compare_zero_shot(split: Split, entries: Sequence[ModelEntry], prompt_set: PromptSet) -> list[dict]:
    """Zero-shot with the SAME prompt set, encoded by each model's own text encoder, scored
    on the same hold-out: one row per model.

    Returns:
        {"model", "key", "untrained", "n_test", "accuracy", "error_rate", "balanced_accuracy"}
        per entry that covers the hold-out and has a model, in ``entries`` order; an entry
        that does not gets a row with ``"skipped"`` (the reason) and no scores.
    """
    test_ids = list(split.test_ids)
    truth = [split.labels[i] for i in test_ids]
    rows: list[dict] = []
    for entry in entries:
        row = {"model": entry.title, "key": entry.key, "untrained": entry.untrained, "n_test": len(test_ids)}
        if entry.model is None:
            rows.append({**row, "skipped": "its model cannot be loaded here"})
            continue
        if not covers_holdout(entry.matrix, split):
            rows.append({**row, "skipped": "not every hold-out image is embedded with it"})
            continue
        clf = build_classifier(entry.model, prompt_set)
        pred, _ = clf.predict(np.asarray(entry.matrix.vectors[entry.matrix.rows_of(test_ids)], dtype=np.float32))
        pred = [str(p) for p in pred]
        acc = accuracy(truth, pred)
        rows.append({**row, "accuracy": acc, "error_rate": 1.0 - acc, "balanced_accuracy": balanced_accuracy(truth, pred)})
    return rows


def evaluate_models(ws: Workspace, entries: Sequence[ModelEntry], **kwargs) -> dict:
    """``evaluate`` for each model on the same frozen hold-out, with the same prompt set,
    methods, ks, draws and seed (so the same training draws), merged into one result
    (``EvaluationResult.to_dict()`` shape).

    With one entry the result is that model's, unchanged. With several, each method row,
    confusion matrix and prediction map is named ``"<method> · <model title>"`` and
    carries ``"model": key``; ``settings["models"]`` lists {"key", "label", "untrained"}.
    A later model whose vectors miss hold-out images is left out, with a warning.

    Raises:
        InputError: as ``evaluate`` for the first model; no entries.
    """
    if not entries:
        raise InputError("no model to evaluate; pass at least one embedding set.")
    progress = kwargs.pop("progress", None)

    def part(i: int) -> ProgressFn | None:
        # One bar over every model: model i's fits come after those of the models before it.
        if progress is None:
            return None
        return lambda done, total: progress(i * total + done, len(entries) * total)

    first = evaluate(ws, entries[0].matrix, model=entries[0].model, progress=part(0), **kwargs)
    out = first.to_dict()
    out["settings"]["models"] = [{"key": entries[0].key, "label": entries[0].label, "untrained": entries[0].untrained}]
    if len(entries) == 1:
        return out
    merged = {"error_rates": [], "rows": [], "confusion_matrices": {}, "predictions": {}}
    results = [(entries[0], out)]
    for i, entry in enumerate(entries[1:], start=1):
        if not covers_holdout(entry.matrix, first.split):
            out["warnings"].append(f"{entry.title} is left out: not every hold-out image is embedded with it.")
            continue
        methods = list(kwargs.get("methods", DEFAULT_METHODS))
        if entry.model is None:
            methods = [m for m in methods if m not in ("zero_shot", "zero_shot_prior")]
        if not methods:
            continue
        res = evaluate(ws, entry.matrix, model=entry.model, progress=part(i), **{**kwargs, "methods": methods}).to_dict()
        out["warnings"] += [w for w in res["warnings"] if w not in out["warnings"]]
        out["settings"]["models"].append({"key": entry.key, "label": entry.label, "untrained": entry.untrained})
        results.append((entry, res))
    for entry, res in results:
        def name(method: str) -> str:
            return f"{method}{MODEL_SEP}{entry.title}"

        merged["error_rates"] += [{**r, "method": name(r["method"]), "model": entry.key} for r in res["error_rates"]]
        merged["rows"] += [{**r, "method": name(r["method"]), "model": entry.key} for r in res["rows"]]
        merged["confusion_matrices"].update({name(m): cm for m, cm in res["confusion_matrices"].items()})
        merged["predictions"].update({name(m): p for m, p in res["predictions"].items()})
    out.update(merged)
    return out
