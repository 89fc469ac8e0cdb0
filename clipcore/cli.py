"""Command line: ``python -m clipcore SUBCOMMAND``. Parses, calls the library, prints.

With ``--json`` a command prints exactly one JSON object on stdout; logs and progress
bars go to stderr. Bad input exits with status 2 and a one-line ``error:`` message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from clipcore import UNTRAINED_WARNING
from clipcore.config import TINY_MODEL, Settings, load_settings
from clipcore.errors import ClipcoreError, InputError

logger = logging.getLogger("clipcore")

Handler = Callable[[argparse.Namespace, Settings], dict[str, Any]]
_HANDLERS: dict[str, Handler] = {}
_HUMAN: dict[str, Callable[[dict[str, Any]], str]] = {}


def command(name: str, human: Callable[[dict[str, Any]], str] | None = None) -> Callable[[Handler], Handler]:
    """Register a subcommand handler (and how to print its result for people)."""

    def wrap(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        if human is not None:
            _HUMAN[name] = human
        return fn

    return wrap


class _Progress:
    """tqdm on stderr (when it is a terminal), plus the job table when running as a job."""

    def __init__(self, args: argparse.Namespace, desc: str, unit: str = "img") -> None:
        self._desc = desc
        self._unit = unit
        self._quiet = getattr(args, "quiet", False)
        self._bar = None  # made on the first update, so that bad input prints only its error
        self._job = getattr(args, "_reporter", None)

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                desc=self._desc, unit=self._unit, total=total, file=sys.stderr, disable=True if self._quiet else None
            )
        if self._bar.total != total:
            self._bar.reset(total=total)
        self._bar.update(done - self._bar.n)
        if self._job is not None:
            self._job.progress(done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _workspace(settings: Settings, *, create: bool = False):
    from clipcore.catalog.store import Workspace
    from clipcore.embedding.models import rekey_legacy_sets

    ws = Workspace(settings.workspace, create=create)
    rekey_legacy_sets(ws)  # sets stored under the old key function keep serving
    return ws


def _model(settings: Settings):
    from clipcore.embedding.models import load_model

    return load_model(
        settings.model,
        settings.pretrained,
        checkpoint=settings.checkpoint,
        device=settings.device,
        precision=settings.precision,
    )


def _model_key(settings: Settings) -> str:
    from clipcore.embedding.models import embedding_set_key

    return embedding_set_key(settings.model, settings.pretrained, settings.checkpoint)


def _untrained(settings: Settings) -> bool:
    return settings.model == TINY_MODEL or (settings.checkpoint is None and settings.pretrained is None)


# -- subcommands -----------------------------------------------------------------------


@command("demo", human=lambda r: f"wrote {sum(r['classes'].values())} demo images to {r['out']}")
def _cmd_demo(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.sources.demo import generate_demo

    counts = generate_demo(args.out, per_class=args.per_class, seed=args.seed)
    return {"out": str(Path(args.out).resolve()), "classes": counts}


def _human_ingest(r: dict[str, Any]) -> str:
    lines = [
        f"added {r['added']}, updated {r['updated']}, moved {r['moved']}, unchanged {r['unchanged']}, "
        f"duplicates {r['duplicates']}, skipped {len(r['skipped'])}, gone missing {r['vanished']}, "
        f"came back {r['returned']}, promoted {r['promoted']}; workspace now holds {r['total']} images"
        + (f" ({r['missing']} missing)" if r["missing"] else "")
    ]
    lines += [f"  skipped {s['path']}: {s['reason']}" for s in r["skipped"][:50]]
    if len(r["skipped"]) > 50:
        lines.append(f"  ... and {len(r['skipped']) - 50} more (use --json for all)")
    return "\n".join(lines)


@command("ingest", human=_human_ingest)
def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.catalog.ingest import ingest_folder

    ws = _workspace(settings, create=True)
    bar = _Progress(args, "ingest")
    try:
        report = ingest_folder(
            ws, args.dir, labels_from_folders=args.labels_from_folders, labels_csv=args.labels_csv, progress=bar,
            real_folder=args.real_folder,
        )
    finally:
        bar.close()
    return report.to_dict()


@command(
    "embed",
    human=lambda r: f"embedded {r['embedded']} images with {r['model']}/{r['pretrained']} "
    f"in {r['seconds']:.1f}s ({r['images_per_s']:.1f} images/s)"
    + (f"; {len(r['failed'])} unreadable" if r["failed"] else ""),
)
def _cmd_embed(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.embedding.models import record_embedding_model
    from clipcore.embedding.pipeline import embed_workspace

    ws = _workspace(settings)
    if args.engine == "ray":
        return _embed_ray(args, settings, ws)
    model = _model(settings)
    bar = _Progress(args, "embed")
    try:
        report = embed_workspace(
            ws, model, batch_size=args.batch_size, limit=args.limit, progress=bar, decoder=args.decoder,
            rebuild=args.rebuild,
        )
    finally:
        bar.close()
    record_embedding_model(ws, model.info)
    out = report.to_dict()
    out.update(device=model.info.device, precision=model.info.precision, key=model.info.key)
    out["index_job"] = _maybe_start_index_job(ws, model.info.key) if report.embedded else None
    return out


def _maybe_start_index_job(ws, key: str) -> str | None:
    """Above the size threshold, (re)build the vector index as a background job.

    Called after the work is committed, so a refused start (an index job already running
    or waiting) is a warning, not a failure of the command: searches stay correct (rows
    past the index are scanned exactly) until ``index`` runs. At the server's job cap the
    index job waits in the queue."""
    from clipcore.catalog.jobs import JobRefused
    from clipcore.jobkinds import start_kind
    from clipcore.retrieval.index import needs_build

    if not needs_build(ws, key):
        return None
    try:
        return start_kind(ws, "index", key=key)
    except JobRefused as exc:
        logger.warning("the vector index of %s was not rebuilt now: %s Run `python -m clipcore index --key %s`.", key, exc, key)
        return None


@command(
    "index",
    human=lambda r: f"indexed {r['rows']:,} {r['key']} vectors ({r['codes']}, M={r['m']}) in {r['build_s']:.1f}s; "
    f"recall@10 {r['recall_at_10']:.3f} over {r['recall_queries']} test queries",
)
def _cmd_index(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.retrieval.index import build_index

    ws = _workspace(settings)
    bar = _Progress(args, "index", unit="vec")
    try:
        manifest = build_index(
            ws,
            args.key or _model_key(settings),
            codes=args.codes,
            m=args.m,
            ef_construction=args.ef_construction,
            ef_search=args.ef_search,
            progress=bar,
        )
    finally:
        bar.close()
    return manifest.to_dict()


@command(
    "predict",
    human=lambda r: f"stored {r['kind']} probabilities of {r['rows']:,} images ({len(r['classes'])} classes) "
    f"for {r['ref']} in {r['seconds']:.1f}s",
)
def _cmd_predict(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Score every embedded image (zero-shot under a saved prompt set, or few-shot from the
    current labels) in chunks and store the probabilities for the pages (team.predictions)."""
    from clipcore.catalog import labels as lbl
    from clipcore.team import predictions, ranking

    ws = _workspace(settings)
    key = _model_key(settings)
    version = ws.embedding_version(key)
    matrix = ws.load_embeddings(key)
    bar = _Progress(args, "predict", unit="img")
    started = time.perf_counter()
    try:
        if args.few_shot:
            ref = predictions.few_shot_ref(lbl.label_events_version(ws), out_of_fold=not args.in_sample)
            probs = ranking.few_shot_probabilities(matrix, lbl.current_label_arrays(ws), out_of_fold=not args.in_sample)
            manifest = predictions.store_probabilities(ws, matrix, probs, "few-shot", ref, embedding_version=version, progress=bar)
        else:
            from clipcore.classify.prompts import resolve_prompt_set
            from clipcore.classify.zeroshot import build_classifier

            prompt_set = resolve_prompt_set(ws, args.prompt_set, args.prompt_version)
            if prompt_set is None:
                raise InputError("no prompt set is saved; save one on the Zero-shot page or name one with --prompt-set.")
            classifier = build_classifier(_model(settings), prompt_set)
            manifest = predictions.store_predictions(
                ws, matrix, "zero-shot", predictions.zero_shot_ref(prompt_set.name, prompt_set.version),
                list(classifier.labels), predictions.vector_scorer(classifier.predict_proba, matrix.vectors),
                embedding_version=version, progress=bar,
            )
    finally:
        bar.close()
    return {**manifest, "seconds": round(time.perf_counter() - started, 2)}


def _human_import(r: dict[str, Any]) -> str:
    lines = [
        f"{r['manifests']} manifest(s) into {r['out']}: downloaded {r['downloaded']}, "
        f"already there {r['skipped']}, failed {len(r['failed'])}"
        + (f", over the --max-images limit {r['limited']}" if r["limited"] else "")
        + (f", source(s) not read (a limit was reached) {r['manifests_limited']}" if r.get("manifests_limited") else "")
    ]
    lines += [f"  failed {f['url']}: {f['reason']}" for f in r["failed"][:50]]
    if len(r["failed"]) > 50:
        lines.append(f"  ... and {len(r['failed']) - 50} more (use --json for all)")
    if "ingest" in r:
        lines.append(_human_ingest(r["ingest"]))
    return "\n".join(lines)


APP_MAX_IMAGES = 5000  # pages per import started from the app, unless [iiif] max_images says otherwise
APP_MAX_MANIFESTS = 200  # manifests per import started from the app, unless [iiif] max_manifests says otherwise


def _iiif_policy(args: argparse.Namespace):
    """Flags > [iiif] in clipcore.toml > defaults. Started from the app (as a job), local
    files and private addresses are refused unless the config allows them."""
    from clipcore.config import read_config_file
    from clipcore.errors import ConfigError
    from clipcore.sources.iiif import FetchPolicy

    cfg = read_config_file().get("iiif") or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"[iiif] in the config must be a table; got {cfg!r}.")
    from_app = bool(args.job_id)
    # An import started from the app always runs under limits: the configured ones, else these.
    image_cap = cfg.get("max_images", APP_MAX_IMAGES if from_app else None)
    manifest_cap = cfg.get("max_manifests", APP_MAX_MANIFESTS if from_app else FetchPolicy().max_manifests)
    # No environment override (issue 19): only the config, which an admin edits, opens
    # private addresses to imports started from the app.
    allow_private = (not from_app and args.allow_private) or bool(cfg.get("allow_private", False))
    defaults = FetchPolicy()
    try:
        return FetchPolicy(
            allow_private=allow_private,
            private_hint=(defaults.private_hint if from_app
                          else "allow them with --allow-private or [iiif] allow_private = true in clipcore.toml"),
            allow_local_files=bool(cfg.get("allow_local_files", not from_app)),
            timeout_s=float(args.timeout or cfg.get("timeout_s", defaults.timeout_s)),
            max_retries=int(args.retries if args.retries is not None else cfg.get("max_retries", defaults.max_retries)),
            backoff_s=float(cfg.get("backoff_s", defaults.backoff_s)),
            max_retry_after_s=float(cfg.get("max_retry_after_s", defaults.max_retry_after_s)),
            per_host=int(args.per_host or cfg.get("per_host", defaults.per_host)),
            max_images=int(args.max_images) if args.max_images else (int(image_cap) if image_cap else None),
            max_manifests=int(args.max_manifests) if args.max_manifests else (int(manifest_cap) if manifest_cap else None),
            max_request_s=float(cfg.get("max_request_s", defaults.max_request_s)),
            max_image_bytes=int(cfg.get("max_image_mb", defaults.max_image_bytes / 2**20) * 2**20),
            max_image_pixels=int(cfg.get("max_image_pixels", defaults.max_image_pixels)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"a value in [iiif] of the config is not a number: {exc}") from None


@command("import-iiif", human=_human_import)
def _cmd_import_iiif(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.config import read_config_file
    from clipcore.sources.iiif import import_iiif

    policy = _iiif_policy(args)
    language = args.language or (read_config_file().get("iiif") or {}).get("language") or None
    bar = _Progress(args, "import-iiif", unit="page")
    try:
        report = import_iiif(args.sources, args.out, size=args.size, policy=policy, progress=bar, language=language)
    finally:
        bar.close()
    out = report.to_dict()
    if report.nothing_imported:  # every source failed: the object is still printed, the status says so
        args._exit_status = 2
    if args.ingest:
        from clipcore.catalog.ingest import ingest_folder

        bar = _Progress(args, "ingest")
        try:
            # from the app, the folder is the collection's, resolved when it was made (issue 19)
            out["ingest"] = ingest_folder(
                _workspace(settings, create=True), args.out, progress=bar, real_folder=bool(args.job_id)
            ).to_dict()
        finally:
            bar.close()
    return out


def _embed_ray(args: argparse.Namespace, settings: Settings, ws) -> dict[str, Any]:
    from clipcore.embedding.models import load_model, record_embedding_model
    from clipcore.embedding.ray_engine import embed_workspace_ray, require_ray
    from clipcore.errors import InputError

    require_ray()  # fail before loading a model when Ray is missing
    if args.decoder == "gpu":
        raise InputError("the ray engine decodes with Pillow in CPU tasks; drop --decoder gpu or use --engine local.")
    if args.rebuild:
        raise InputError(
            "--rebuild runs with the local engine: run `embed --rebuild --limit 0` first, then `embed --engine ray`."
        )
    # The driver's copy only shapes decoding and names the embedding set: CPU is enough.
    model = load_model(settings.model, settings.pretrained, checkpoint=settings.checkpoint, device="cpu", precision="fp32")
    bar = _Progress(args, "embed")
    try:
        report = embed_workspace_ray(
            ws, model, address=args.address, actors=args.actors, gpus_per_actor=args.gpus_per_actor,
            batch_size=args.batch_size, limit=args.limit, shard_dir=args.shard_dir, progress=bar,
            precision=settings.precision,
        )
    finally:
        bar.close()
    record_embedding_model(ws, model.info)
    out = report.to_dict()
    out.update(device="cuda" if args.gpus_per_actor > 0 else "cpu", precision=settings.precision)
    return out


def _human_search(r: dict[str, Any]) -> str:
    def where(h: dict[str, Any]) -> str:
        return f"  ({h['book_label']}, p. {h['page']})" if "book_label" in h else ""

    return "\n".join(f"{h['score']:.4f}  {h['id']:>7}  {h['path']}{where(h)}" for h in r["results"]) or "no results"


@command("search", human=_human_search)
def _cmd_search(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.catalog.metadata import image_metadata
    from clipcore.retrieval.index import open_index
    from clipcore.retrieval.search import SearchFilters, filter_ids, top_k

    ws = _workspace(settings)
    matrix = ws.load_embeddings(_model_key(settings))
    restrict = filter_ids(ws, SearchFilters(book=args.book, page=args.page))
    model = _model(settings)
    hits = top_k(open_index(ws, matrix), model.encode_texts([args.query])[0], k=args.k, restrict_to=restrict)
    paths = ws.paths([h.id for h in hits])
    meta = image_metadata(ws, [h.id for h in hits])
    results = []
    for h in hits:
        row = {"id": h.id, "path": paths[h.id], "score": round(h.score, 6)}
        if h.id in meta:
            row.update(book=meta[h.id]["book"], book_label=meta[h.id]["book_label"], page=meta[h.id]["page"])
        results.append(row)
    return {"results": results}


def _human_zeroshot(r: dict[str, Any]) -> str:
    from collections import Counter

    counts = Counter(p["class"] for p in r["predictions"])
    lines = [f"{len(r['predictions'])} images: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))]
    if r["accuracy"] is not None:
        lines.append(f"accuracy {r['accuracy']:.3f}, balanced accuracy {r['balanced_accuracy']:.3f} on {r['evaluated']} images with ground truth")
    return "\n".join(lines)


@command("zeroshot", human=_human_zeroshot)
def _cmd_zeroshot(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.classify.prompts import PromptSet, read_prompt_file
    from clipcore.classify.zeroshot import build_classifier, classify_matrix, evaluate_result, prediction_rows

    classes = read_prompt_file(args.prompts)
    ws = _workspace(settings)
    matrix = ws.load_embeddings(_model_key(settings))
    classifier = build_classifier(_model(settings), PromptSet(Path(args.prompts).stem, classes))
    result = classify_matrix(classifier, matrix)
    rows = prediction_rows(result, ws.paths([int(i) for i in result.ids]))
    summary = evaluate_result(result, ws.ground_truth())
    return {
        "predictions": [
            {"id": r["id"], "path": r["path"], "class": r["predicted"], "confidence": r["confidence"]} for r in rows
        ],
        "accuracy": None if summary is None else summary["accuracy"],
        "balanced_accuracy": None if summary is None else summary["balanced_accuracy"],
        "confusion_matrix": None if summary is None else summary["confusion_matrix"],
        "evaluated": 0 if summary is None else summary["n"],
    }


def _human_info(r: dict[str, Any]) -> str:
    lines = [
        f"workspace {r['workspace']}: {r['images']} images, {r['missing']} missing, {r['skipped']} skipped, "
        f"{r['duplicates']} duplicates" + (" (read-only)" if r.get("read_only") else "")
    ]
    damaged = r.get("damaged") or {}
    lines += [
        f"  embedded with {k}: {n}" + (f" (unreadable: {damaged[k]}; run `embed --rebuild` with that model)" if k in damaged else "")
        for k, n in r["embedded"].items()
    ]
    if r["ground_truth"]:
        lines.append(f"  ground truth for {r['ground_truth']} images: {r['classes']}")
    return "\n".join(lines)


@command("info", human=_human_info)
def _cmd_info(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from collections import Counter

    ws = _workspace(settings)
    counts = ws.counts()
    return {
        "workspace": str(ws.root),
        "images": counts["images"],
        "missing": counts["missing"],
        "read_only": ws.read_only,
        "embedded": ws.embedding_keys(),
        "damaged": ws.damaged_embeddings(),
        "skipped": counts["skipped"],
        "duplicates": counts["duplicates"],
        "ground_truth": counts["ground_truth"],
        "classes": dict(sorted(Counter(ws.ground_truth().values()).items())),
        "schema_version": ws.schema_version,
    }


class _ByteProgress:
    """Download progress: a tqdm byte bar (size and speed) on a terminal, else one line
    "x MB of y MB, z MB/s" on stderr every few seconds; the same line goes to the job table."""

    LINE_EVERY_S = 2.0

    def __init__(self, args: argparse.Namespace, desc: str) -> None:
        from clipcore.embedding.weights import Throughput

        self._desc = desc
        self._quiet = getattr(args, "quiet", False)
        self._job = getattr(args, "_reporter", None)
        self._rate = Throughput()
        self._bar = None
        self._last_line = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        from clipcore.embedding.weights import describe

        rate = self._rate(done)
        if self._job is not None:
            self._job.progress(done, total, describe(done, total, rate))
        if self._quiet:
            return
        if sys.stderr.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(desc=self._desc, unit="B", unit_scale=True, unit_divisor=1000, total=total, file=sys.stderr)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if now - self._last_line >= self.LINE_EVERY_S or (total and done >= total):
            self._last_line = now
            print(f"{self._desc}: {describe(done, total, rate)}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@command("download-model", human=lambda r: f"weights for {r['model']}/{r['pretrained']} are at {r['path']}")
def _cmd_download(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.errors import InputError
    from clipcore.embedding.models import fetch_weights

    if settings.pretrained is None:
        raise InputError(f"model {settings.model!r} has no pretrained tag to download; pass --pretrained TAG.")
    progress = _ByteProgress(args, f"downloading {settings.model}/{settings.pretrained}")
    try:
        path = fetch_weights(settings.model, settings.pretrained, allow_download=True, progress=progress)
    finally:
        progress.close()
    return {"model": settings.model, "pretrained": settings.pretrained, "path": str(path), "bytes": path.stat().st_size}


def _id_list(text: str | None, flag: str) -> list[int]:
    from clipcore.errors import InputError

    if not text:
        return []
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise InputError(f"{flag} expects comma-separated image ids like 1,2,3; got {text!r}.") from None


def _annotator(args: argparse.Namespace) -> str:
    from clipcore.config import default_annotator

    return args.annotator or default_annotator()


def _human_label(r: dict[str, Any]) -> str:
    if "reverted" in r:
        return f"reverted {r['reverted']} labels"
    return f"labelled {r['labeled']} images (batch {r['batch_id']})"


@command("label", human=_human_label)
def _cmd_label(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.errors import InputError
    from clipcore.catalog.labels import record_batch, revert_batch

    ws = _workspace(settings)
    if args.undo:
        if args.label_class or args.ids:
            raise InputError("--undo takes only a batch id; drop --class and --ids.")
        return {"reverted": revert_batch(ws, args.undo, annotator=_annotator(args))}
    if not args.label_class or not (args.ids or args.reject):
        raise InputError("label needs --class C and --ids 1,2,3 (or --undo BATCH_ID).")
    ids = _id_list(args.ids, "--ids")
    source = {"kind": "cli", "note": args.source} if args.source else {"kind": "cli"}
    batch_id = record_batch(
        ws, args.label_class, ids, annotator=_annotator(args), source=source, rejected_ids=_id_list(args.reject, "--reject")
    )
    return {"batch_id": batch_id, "labeled": len(set(ids))}


def _human_labels(r: dict[str, Any]) -> str:
    if "renamed" in r:
        return f"moved {r['renamed']['batches']} batches and {r['renamed']['events']} events from {r['from']} to {r['to']}"
    if "out" in r:
        return f"exported {r['labels']} labels as {r['format']} to {r['out']}"
    rows = r["labels"]
    lines = [f"{x['id']:>7}  {x['class']}  {x['path']}  ({x['annotator']}, {x['at']})" for x in rows[:200]]
    if len(rows) > 200:
        lines.append(f"... and {len(rows) - 200} more (use --json for all)")
    return "\n".join(lines) or "no labels yet"


@command("export-zip", human=lambda r: f"wrote {r['files']} {r['content']} in {len(r['classes'])} class folders to {r['zip']}")
def _cmd_export_zip(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.catalog.exportzip import export_zip

    ws = _workspace(settings)
    bar = _Progress(args, "zip", unit="file")
    try:
        return export_zip(ws, args.name or Path(settings.workspace).name, max_mb=args.max_mb, content=args.content,
                          progress=bar)
    finally:
        bar.close()


@command("labels", human=_human_labels)
def _cmd_labels(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.catalog.labels import current_label_rows, export_labels, label_history

    ws = _workspace(settings)
    if args.rename_annotator:
        from clipcore.catalog.labels import rename_annotator

        old, new = args.rename_annotator
        return {"renamed": rename_annotator(ws, old, new), "from": old, "to": new, "labels": []}
    if args.export:
        return export_labels(ws, args.export, args.format, history=args.history)
    return {"labels": label_history(ws) if args.history else current_label_rows(ws)}


def _human_bench(r: dict[str, Any]) -> str:
    if "p95_ms" in r:
        return (
            f"{r['rows']:,} vectors, {r['index']}: build {r['build_s']:.1f}s; p50 {r['p50_ms']:.2f} ms, "
            f"p95 {r['p95_ms']:.2f} ms, recall@10 {r['recall_at_10']:.3f}; 50% excluded p95 {r['exclude_50_p95_ms']:.2f} ms "
            f"(recall {r['exclude_50_recall_at_10']:.3f}); 5% restriction p95 {r['restrict_5_p95_ms']:.2f} ms "
            f"(recall {r['restrict_5_recall_at_10']:.3f}); RSS {r['rss_mb']:.0f} MB"
        )
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in r.get("stages", {}).items())
    return (
        f"{r['model']} on {r['device']}/{r['precision']} ({r['weights']} weights), {r['images']} images: "
        f"end to end {r['images_per_s_end_to_end']:.1f} images/s, model only {r['images_per_s_model_only']:.1f} images/s"
        + (f"\n  {r.get('decoder', 'pillow')} decoder; stages: {stages}" if stages else "")
    )


@command("bench", human=_human_bench)
def _cmd_bench(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.bench import run_benchmark, run_search_benchmark
    from clipcore.errors import InputError

    if args.search:
        return run_search_benchmark(
            args.rows, dim=args.dim, queries=args.queries, m=args.m, ef_search=args.ef_search, codes=args.codes
        )
    if not args.images:
        raise InputError("bench needs --images DIR (embedding throughput) or --search --rows N (vector search).")
    return run_benchmark(
        args.images,
        model=settings.model,
        device=settings.device,
        precision=settings.precision,
        limit=args.limit,
        batch_size=args.batch_size,
        decoder=args.decoder,
    )


def _human_baseline(r: dict[str, Any]) -> str:
    lines = [f"baseline {r['arch']} ({'pretrained' if r['pretrained'] else 'random-init'}) stored as run {r['run_id']}"]
    lines += [f"  k={e['k']:>4}: error {e['mean']:.3f} ± {e['std']:.3f} over {e['n_draws']} draw(s)" for e in r["error_rates"]]
    lines += [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)


@command("baseline", human=_human_baseline)
def _cmd_baseline(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.classify.baseline import run_baseline

    ws = _workspace(settings)
    bar = _Progress(args, f"baseline {args.arch}", unit="fit")
    try:
        result = run_baseline(
            ws,
            arch=args.arch,
            ks=args.k,
            draws=args.draws,
            epochs=args.epochs,
            seed=args.seed,
            checkpoint=args.baseline_checkpoint,
            device=settings.device,
            split_name=args.split,
            progress=bar,
        )
    finally:
        bar.close()
    from clipcore.classify.evaluation import save_run  # after training: it imports scikit-learn

    run_id = save_run(ws, "baseline", result.settings, result.results)
    res = result.results
    out = {
        "run_id": run_id,
        "arch": res["arch"],
        "pretrained": res["pretrained"],
        "device": result.settings["device"],
        "error_rates": res["summary"],
        "confusion_matrices": res["confusion_matrices"],
        "split": res["split"],
        "test_ids": res["test_ids"],
        "notes": res["notes"],
        "warnings": res["warnings"],
        "seconds": res["seconds"],
    }
    if res["warnings"]:
        out["warning"] = "; ".join(res["warnings"])
    return out


def _human_evaluate(r: dict[str, Any]) -> str:
    grouped = f", whole {r['split']['group_by']}s" if r["split"].get("group_by") else ""
    lines = [f"hold-out split {r['split']['name']!r}: {r['split']['n_test']} images (seed {r['split']['seed']}{grouped}); run {r['run_id']}"]
    lines += [
        f"  {e['method']:<18} k={str(e['k']):>4}: error {e['mean']:.3f} ± {e['std']:.3f} over {e['n_draws']} draw(s)"
        for e in r["error_rates"]
    ]
    lines += [f"  warning: {w}" for w in r["warnings"]]
    return "\n".join(lines)


def _baseline_for_evaluate(args: argparse.Namespace, settings: Settings, ws, ks: list) -> tuple[dict, list[str]]:
    """Baseline results on the same split and draws: trained now, or the latest stored run if weights are missing."""
    from clipcore.classify.baseline import run_baseline
    from clipcore.errors import ModelUnavailableError
    from clipcore.classify.evaluation import list_runs, save_run

    try:
        result = run_baseline(
            ws, arch=args.baseline_arch, ks=ks, draws=args.draws, seed=args.seed, device=settings.device, split_name=args.split
        )
    except ModelUnavailableError as exc:
        stored = [r for r in list_runs(ws, "baseline") if r["settings"].get("split") == args.split]
        if not stored:
            raise
        return stored[0]["results"], [f"baseline not retrained ({exc}); showing stored run {stored[0]['id']} of {stored[0]['created_at']}."]
    save_run(ws, "baseline", result.settings, result.results)
    return result.results, []


@command("evaluate", human=_human_evaluate)
def _cmd_evaluate(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.classify.evaluation import parse_ks
    from clipcore.classify.evaluation import DEFAULT_METHODS, ModelEntry, evaluate_models, save_run
    from clipcore.embedding.models import ModelSpec
    from clipcore.classify.prompts import resolve_prompt_set

    ws = _workspace(settings)
    ks = parse_ks(args.k)
    # None: the evaluation uses the class names in templates (and says so in its warnings).
    prompt_set = None if args.class_names else resolve_prompt_set(ws, args.prompt_set, args.prompt_version)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(DEFAULT_METHODS)
    matrix = ws.load_embeddings(_model_key(settings))
    model = _model(settings)
    info = model.info
    label = ModelSpec(info.key, info.name, info.pretrained, info.checkpoint, info.untrained).label
    entries = [ModelEntry(matrix.key, label, matrix, model, info.untrained)]
    entries += _other_models(ws, settings, args.models, exclude=matrix.key) if args.models else []
    bar = _Progress(args, "evaluate")
    try:
        out = evaluate_models(
            ws, entries, prompt_set=prompt_set, methods=methods, ks=ks,
            draws=args.draws, seed=args.seed, split_name=args.split, progress=bar,
        )
    finally:
        bar.close()
    if args.with_baseline:
        base, notes = _baseline_for_evaluate(args, settings, ws, ks)
        out["error_rates"] += base["summary"]
        out["rows"] += base["rows"]
        out["confusion_matrices"].update(base["confusion_matrices"])
        out["warnings"] += notes + base.get("warnings", []) + base.get("notes", [])
    out["run_id"] = save_run(ws, "evaluation", out["settings"], out)
    return out


def _other_models(ws, settings: Settings, wanted: str, *, exclude: str) -> list:
    """``ModelEntry`` per embedding set named in ``wanted`` (comma-separated keys, or
    ``all``), each with its own model for the prompts (None when it cannot be loaded)."""
    from clipcore.classify.evaluation import ModelEntry
    from clipcore.embedding.models import embedding_model_specs, load_model
    from clipcore.errors import InputError, ModelUnavailableError

    specs = embedding_model_specs(ws)
    keys = [k for k in specs if k != exclude] if wanted.strip() == "all" else [
        k.strip() for k in wanted.split(",") if k.strip() and k.strip() != exclude
    ]
    entries = []
    for key in keys:
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(specs) or "none"
            raise InputError(f"--models: no loadable embedding set {key!r} in this workspace; known: {known}.")
        try:
            model = load_model(spec.name, spec.pretrained, checkpoint=spec.checkpoint, device=settings.device,
                               precision=settings.precision, allow_download=False)
        except ModelUnavailableError as exc:
            logger.warning("%s: zero-shot left out, its model cannot be loaded: %s", key, exc)
            model = None
        entries.append(ModelEntry(key, spec.label, ws.load_embeddings(key), model, spec.untrained))
    return entries


def _human_compact(r: dict[str, Any]) -> str:
    lines = [f"{k}: {v['before']} rows -> {v['after']}" for k, v in r["sets"].items()] or ["no embedding sets"]
    lines += [f"rebuilding the vector index of {k} as job {job}" for k, job in r.get("index_jobs", {}).items()]
    return "\n".join(lines)


@command("compact", human=_human_compact)
def _cmd_compact(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    ws = _workspace(settings)
    sets = ws.compact_embeddings(args.model_key)
    # Compaction renumbers rows, so an index built before it is stale: rebuild it as a job.
    jobs = {key: _maybe_start_index_job(ws, key) for key, r in sets.items() if r["before"] != r["after"]}
    return {"sets": sets, "index_jobs": {k: v for k, v in jobs.items() if v}}


def _human_split(r: dict[str, Any]) -> str:
    s = r["split"]
    head = "froze" if r.get("created") else "split"
    lines = [
        f"{head} {s['name']!r} ({s['source']}, group by {s['group_by'] or 'none'}, seed {s['seed']}, {s['created_at']}): "
        f"{len(s['train_ids'])} train, {len(s['test_ids'])} hold-out"
    ]
    lines += [f"  {c}: {s['train_counts'].get(c, 0)} train, {n} hold-out" for c, n in s["test_counts"].items()]
    if r["missing"]:
        lines.append(f"  {len(r['missing'])} member(s) are missing from the collection; scoring leaves them out")
    lines += [f"  note: {n}" for n in r.get("notes", [])]
    return "\n".join(lines)


@command("split", human=_human_split)
def _cmd_split(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from clipcore.classify.splits import freeze_split, get_split, missing_members
    from clipcore.errors import InputError

    ws = _workspace(settings)
    existing = get_split(ws, args.name)
    notes: list[str] = []
    if args.split_command == "show":
        if existing is None:
            raise InputError(f"no split named {args.name!r} is frozen; run `python -m clipcore split freeze --name {args.name}`.")
        split = existing
    else:
        split = freeze_split(
            ws, name=args.name, test_fraction=args.test_fraction, seed=args.seed,
            group_by=None if args.group_by == "none" else args.group_by, source=args.source,
        )
        if existing is not None:
            notes.append(f"split {args.name!r} was already frozen on {existing.created_at}; it is kept unchanged "
                         "(freeze under a new --name to draw another).")
    return {"split": split.to_dict(), "created": existing is None, "missing": missing_members(ws, split), "notes": notes}


# -- parser ----------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, model: bool = False, workspace: bool = True) -> None:
    if workspace:
        p.add_argument("--workspace", help="workspace folder (default: config, CLIPCORE_WORKSPACE, data/workspace)")
    if model:
        p.add_argument("--model", help="open_clip architecture or 'tiny' (default ViT-B-32)")
        p.add_argument("--pretrained", help="open_clip pretrained tag (default laion2b_s34b_b79k for ViT-B-32)")
        p.add_argument("--checkpoint", help="local weights file instead of a pretrained tag")
        p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
        p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--job-id", help=argparse.SUPPRESS)


def _index_options(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    from clipcore.retrieval import index as vindex

    p.add_argument("--m", type=int, default=vindex.DEFAULT_M if defaults else None, help=f"HNSW links per node (default {vindex.DEFAULT_M})")
    p.add_argument("--ef-search", type=int, default=vindex.DEFAULT_EF_SEARCH if defaults else None,
                   help=f"HNSW search breadth (default {vindex.DEFAULT_EF_SEARCH})")
    p.add_argument("--codes", choices=list(vindex.CODES), default=vindex.DEFAULT_CODES if defaults else None,
                   help=f"stored codes (default {vindex.DEFAULT_CODES})")
    if defaults:
        p.add_argument("--ef-construction", type=int, default=vindex.DEFAULT_EF_CONSTRUCTION,
                       help=f"HNSW build breadth (default {vindex.DEFAULT_EF_CONSTRUCTION})")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands register their options here)."""
    parser = argparse.ArgumentParser(prog="python -m clipcore", description="Search, classify and label images with CLIP.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="generate the synthetic demo collection")
    p.add_argument("--out", default="data/demo", help="output folder (default data/demo)")
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    _common(p, workspace=False)

    p = sub.add_parser("ingest", help="catalogue the images of a folder")
    p.add_argument("dir", help="folder of images (searched recursively)")
    p.add_argument("--labels-from-folders", action="store_true", help="parent folder name = ground-truth label")
    p.add_argument("--labels-csv", help="CSV with path,label[,group] columns (paths relative to DIR)")
    p.add_argument("--real-folder", action="store_true",
                   help="refuse DIR unless it is its own real path (no symlink swapped in since; the app's jobs use it)")
    _common(p)

    p = sub.add_parser("import-iiif", help="download the pages of IIIF manifests into DIR/<book>/<page>.jpg")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="manifest or collection URL or file (IIIF Presentation 2.1/3.0), or a text file listing them")
    p.add_argument("--out", required=True, help="folder to fill (a rerun downloads only missing pages)")
    p.add_argument("--size", type=int, default=1024, help="longest side to request, in pixels (default 1024)")
    p.add_argument("--max-images", type=int, help="download at most N pages in this run (reading stops there)")
    p.add_argument("--max-manifests", type=int, help="read at most N manifests in this run (default 1000)")
    p.add_argument("--language", help="language of titles and labels, e.g. fr (default: none, else en, else the first)")
    p.add_argument("--per-host", type=int, help="connections per host (default 2)")
    p.add_argument("--timeout", type=float, help="seconds per request (default 30)")
    p.add_argument("--retries", type=int, help="retries on 429/5xx/timeouts (default 4)")
    p.add_argument("--allow-private", action="store_true",
                   help="allow loopback and private addresses (refused by default; never from the app unless configured)")
    p.add_argument("--ingest", action="store_true", help="then ingest --out into the workspace (books become groups)")
    _common(p)

    p = sub.add_parser("embed", help="compute missing image embeddings")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, help="embed at most N images")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: Ray Data tasks and model actors (pip install -r requirements-ray.txt)")
    p.add_argument("--decoder", choices=["auto", "pillow", "gpu"], default="auto",
                   help="auto (default): batched GPU JPEG decoding on CUDA, else Pillow")
    p.add_argument("--address", help="ray: cluster address (e.g. auto, ray://head:10001); default a local Ray")
    p.add_argument("--actors", type=int, default=1, help="ray: model actors, each loads the model once (default 1)")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="ray: GPUs each actor reserves (default 0)")
    p.add_argument("--shard-dir", help="ray: folder all workers can write (default <workspace>/shards/<model>)")
    p.add_argument("--rebuild", action="store_true", help="drop this model's stored vectors and recompute them all")
    _common(p, model=True)

    p = sub.add_parser("compact", help="rewrite embedding sets to hold live images only (after deletions)")
    p.add_argument("--model-key", help="only this embedding set (a key from `info`); default: all")
    _common(p)

    p = sub.add_parser("split", help="freeze or show the hold-out split used by every evaluation")
    split_sub = p.add_subparsers(dest="split_command", required=True, metavar="ACTION")
    q = split_sub.add_parser("freeze", help="draw and store a hold-out split (kept if one of that name exists)")
    q.add_argument("--name", default="default", help="split name (default 'default')")
    q.add_argument("--group-by", choices=["auto", "none", "folder", "group"], default="auto",
                   help="keep whole groups on one side: group = the labels CSV's group column, else the imported "
                   "book; folder = that, else the source folder; auto (default) = group when images come from "
                   "imported books, else none")
    q.add_argument("--test-fraction", type=float, default=0.18, help="share of each class held out (default 0.18)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--source", choices=["ground_truth", "labels", "both"], default="ground_truth",
                   help="which labels to split (default ground_truth)")
    _common(q)
    q = split_sub.add_parser("show", help="a stored split: sizes per class, members missing from the collection")
    q.add_argument("--name", default="default", help="split name (default 'default')")
    _common(q)

    p = sub.add_parser("search", help="text search")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--book", help="only imported pages whose book folder or title contains this text")
    p.add_argument("--page", type=int, help="only imported pages with this page number")
    _common(p, model=True)

    p = sub.add_parser("zeroshot", help="zero-shot classify every embedded image with a prompt file")
    p.add_argument("--prompts", required=True, help="YAML or JSON file: {class: [prompts]}")
    _common(p, model=True)

    p = sub.add_parser("info", help="what the workspace holds")
    _common(p)

    p = sub.add_parser("download-model", help="download and cache model weights (needs network; a rerun resumes)")
    _common(p, model=True)  # --workspace: only where a job from the app records its progress

    p = sub.add_parser("label", help="assign a class to images (one batch), or undo a batch")
    p.add_argument("--class", dest="label_class", help="class to assign")
    p.add_argument("--ids", help="comma-separated image ids to assign")
    p.add_argument("--reject", help="comma-separated image ids seen and judged not of the class")
    p.add_argument("--annotator", help="who labels (default CLIPCORE_ANNOTATOR, then the login name)")
    p.add_argument("--source", help="free text recorded as the batch's source")
    p.add_argument("--undo", metavar="BATCH_ID", help="revert this batch instead")
    _common(p)

    p = sub.add_parser("labels", help="list current labels (or every event), or export them")
    p.add_argument("--history", action="store_true", help="every event, reverted ones included")
    p.add_argument("--export", metavar="DIR", help="write labels to this folder")
    p.add_argument("--format", choices=["csv", "json", "folders"], default="csv", help="export format (default csv)")
    p.add_argument("--rename-annotator", nargs=2, metavar=("OLD", "NEW"),
                   help="give OLD's batches, events and claims to NEW (e.g. an email to the provider's sub)")
    _common(p)

    p = sub.add_parser("export-zip", help="the class-folder export as one ZIP in the workspace's exports/ folder (a job)")
    p.add_argument("--name", help="the collection's name, at the start of the file name (default: the workspace folder's)")
    p.add_argument("--max-mb", type=int, default=2048, help="refuse when the files add up to more (default 2048)")
    p.add_argument("--content", choices=["originals", "thumbnails"], default="originals",
                   help="the labelled originals, or their ~256 px thumbnail JPEGs (default originals)")
    _common(p)

    p = sub.add_parser("index", help="build or rebuild the vector index of the workspace's embeddings")
    p.add_argument("--key", help="embedding set key (default: the configured model's)")
    _index_options(p)
    _common(p, model=True)

    p = sub.add_parser("predict", help="store zero-shot or few-shot probabilities of every image for the pages (a job)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--zero-shot", action="store_true", help="under a saved prompt set (default: the latest)")
    which.add_argument("--few-shot", action="store_true", help="a logistic probe on the current labels")
    p.add_argument("--prompt-set", help="--zero-shot: name of the saved set (default: the latest saved)")
    p.add_argument("--prompt-version", type=int, help="--zero-shot: its version (default: the latest)")
    p.add_argument("--in-sample", action="store_true", help="--few-shot: labelled images scored in-sample, not out of fold")
    _common(p, model=True)

    p = sub.add_parser("bench", help="measure embedding throughput on a folder of images, or vector search")
    p.add_argument("--images", help="folder of images (embedding throughput)")
    p.add_argument("--search", action="store_true", help="benchmark the vector index on synthetic vectors instead")
    p.add_argument("--rows", type=int, default=100_000, help="--search: number of vectors (default 100000)")
    p.add_argument("--dim", type=int, default=512, help="--search: vector dimension (default 512)")
    p.add_argument("--queries", type=int, default=200, help="--search: timed queries per case (default 200)")
    _index_options(p, defaults=False)
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--decoder", choices=["auto", "pillow", "gpu"], default="auto",
                   help="auto (default): batched GPU JPEG decoding on CUDA, else Pillow")
    _common(p, model=True, workspace=False)

    p = sub.add_parser("baseline", help="fine-tune the EfficientNet baseline on the frozen split (long; a job)")
    p.add_argument("--arch", default="efficientnet_b4", choices=["efficientnet_b4", "efficientnet_b0", "tiny"],
                   help="network (default efficientnet_b4 as in the reference study; tiny = random-init, for tests)")
    p.add_argument("--k", default="1,2,4,8,16,all", help="examples per class, comma-separated (default 1,2,4,8,16,all)")
    p.add_argument("--draws", type=int, default=5, help="random training sets per k (default 5)")
    p.add_argument("--epochs", type=int, help="maximum epochs per fit (default 20; 2 for tiny)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="default", help="frozen split name (frozen from ground truth if missing)")
    p.add_argument("--checkpoint", dest="baseline_checkpoint", help="local ImageNet weights file for --arch")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    _common(p)
    p = sub.add_parser("evaluate", help="learning curves of every method on the frozen hold-out split")
    p.add_argument("--k", default="1,2,4,8,16,all", help="examples per class, comma-separated (default 1,2,4,8,16,all)")
    p.add_argument("--draws", type=int, default=5, help="random training sets per k (default 5)")
    p.add_argument("--methods", help="comma-separated subset of zero_shot,logreg,random_forest,knn,zero_shot_prior")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="default", help="frozen split name (frozen from ground truth if missing)")
    p.add_argument("--prompt-set", help="zero-shot prompt set name (default: the latest saved set)")
    p.add_argument("--prompt-version", type=int, help="version of --prompt-set (default: its latest)")
    p.add_argument("--class-names", action="store_true", help="zero-shot from class names in templates, not a saved set")
    p.add_argument("--with-baseline", action="store_true", help="also fine-tune the EfficientNet baseline (long)")
    p.add_argument("--baseline-arch", default="efficientnet_b4", choices=["efficientnet_b4", "efficientnet_b0", "tiny"])
    p.add_argument("--models", help="also evaluate these embedding sets (comma-separated keys, or 'all'), "
                   "each with its own model: one row per model and method")
    _common(p, model=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logger.setLevel(logging.DEBUG if args.verbose else logging.INFO if not args.json else logging.WARNING)
    reporter = None
    try:
        settings = load_settings(
            model=getattr(args, "model", None),
            pretrained=getattr(args, "pretrained", None),
            checkpoint=getattr(args, "checkpoint", None),
            device=getattr(args, "device", None),
            precision=getattr(args, "precision", None),
            workspace=getattr(args, "workspace", None),
        )
        if args.job_id:
            from clipcore.catalog.jobs import JobReporter
            from clipcore.catalog.store import Workspace

            reporter = JobReporter(Workspace(settings.workspace), args.job_id)
        args._reporter = reporter
        started = time.perf_counter()
        result = _HANDLERS[args.command](args, settings)
        if hasattr(args, "model") and _untrained(settings) and args.command not in ("bench", "download-model"):
            result["warning"] = UNTRAINED_WARNING
        logger.debug("%s took %.2fs", args.command, time.perf_counter() - started)
    except ClipcoreError as exc:
        if reporter is not None:
            reporter.fail(exc.for_app())  # a job's message is read in the app: its hint names the page's button
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (sqlite3.OperationalError, OSError) as exc:
        # A full disk, a locked database or a permission problem outside the store's own checks.
        from clipcore.catalog.store import describe_os_error

        message = describe_os_error(exc)
        if reporter is not None:
            with contextlib.suppress(Exception):
                reporter.fail(message)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.fail("interrupted")
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if reporter is not None:
            reporter.fail(f"internal error: {exc!r}")
        raise
    # The output is made before the job is marked done: a job reports success only when
    # the whole command succeeded.
    try:
        json.dumps(result)  # what the job table stores
        text = json.dumps(result, ensure_ascii=False) if args.json else _HUMAN.get(
            args.command, lambda r: json.dumps(r, indent=2, ensure_ascii=False))(result)
    except Exception as exc:
        if reporter is not None:
            reporter.fail(f"internal error: {exc!r}")
        raise
    status = getattr(args, "_exit_status", 0)
    if reporter is not None:
        if status:  # the command ran to the end but did not do its work: the job failed
            failed = result.get("failed") or [{}]
            reporter.fail(f"nothing was imported; {len(result.get('failed') or [])} failed, the first: "
                          f"{failed[0].get('reason', 'no reason given')}")
        else:
            reporter.finish(result)
    if not args.json and "warning" in result:
        print(f"WARNING: {result['warning']}", file=sys.stderr)
    print(text)
    if status:
        print("error: nothing was imported and a source failed (see failed)", file=sys.stderr)
    return status
