"""Every kind of background job, declared once: what the app (or the CLI) may start.

A job kind is a subcommand of ``python -m clipcore`` that runs as a background job
(``clipcore.catalog.jobs`` is the mechanism). Each is one :class:`JobKind` in ``KINDS``:
how its command line is built from named parameters (the model flags in one place,
:func:`model_flags`), what its progress counts and what it is called on screen, and which
permission starts it (the limits, one per kind per workspace and the server's cap with a
queue, are the same for every kind: ``clipcore.catalog.jobs``). A new kind is one entry here plus its CLI command;
``tests/test_jobkinds.py`` fails when the app can start a kind that is not declared, or
when a declared kind's command line does not parse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clipcore.catalog.exportzip import ZIP_CONTENTS
from clipcore.catalog.jobs import launch_job
from clipcore.catalog.store import Workspace
from clipcore.errors import InputError


class ModelLike(Protocol):
    """What the model flags are built from (``ModelInfo`` has these, so has :class:`ModelChoice`)."""

    name: str
    pretrained: str | None
    checkpoint: str | None
    device: str
    precision: str


@dataclass(frozen=True)
class ModelChoice:
    """A model that is not the active one (e.g. "Embed with another model")."""

    name: str
    pretrained: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    precision: str = "auto"


def model_flags(model: ModelLike) -> list[str]:
    """``--model NAME`` and its weights (``--checkpoint FILE``, else ``--pretrained TAG``,
    ``none`` for random init), ``--device``, ``--precision``: how every job names its model."""
    weights = ["--checkpoint", str(model.checkpoint)] if model.checkpoint else ["--pretrained", model.pretrained or "none"]
    return ["--model", model.name, *weights, "--device", model.device, "--precision", model.precision]


@dataclass(frozen=True)
class JobKind:
    """One kind of background job.

    ``name`` is the CLI subcommand and the ``kind`` column of the jobs table; ``build``
    turns named parameters into the arguments after it (``--quiet`` is added);
    ``title`` names a running job on screen ("scoring job 3f2a…"), ``unit`` what its
    ``done``/``total`` count ("images"; None when the job reports its own message, as a
    download does); ``action`` is the permission that starts it (``clipcore.team.roles``),
    or ``action_of`` picks it from the command line where what a job hands out depends on
    its arguments (``permission``).
    Limits are the same for every kind: one of it running or waiting per workspace, and at
    most ``CLIPCORE_MAX_JOBS`` running on the server (the rest wait in a queue).
    """

    name: str
    title: str
    unit: str | None
    build: Callable[..., list[str]]
    action: str = "start_jobs"
    action_of: Callable[[Sequence[str]], str] | None = None

    def permission(self, args: Sequence[str]) -> str:
        """The permission that starts, retries or cancels a job of this kind with ``args``."""
        return self.action if self.action_of is None else self.action_of(list(args))

    def command_line(self, **params: Any) -> list[str]:
        """The arguments after ``python -m clipcore NAME`` for these parameters.

        Raises:
            InputError: a parameter this kind does not take, or one it needs is missing.
        """
        try:
            return [*self.build(**params), "--quiet"]
        except TypeError as exc:
            raise InputError(f"job kind {self.name!r}: bad parameters {sorted(params)} ({exc}).") from None


def _ingest(source: str | None, labels_from_folders: bool = False) -> list[str]:
    if source is None:
        raise InputError("this collection has no source folder to ingest; add `source = ...` to its entry in the config.")
    # --real-folder: a job ingests the folder as it was resolved when the config was read or
    # the collection made, and refuses one swapped since (a symlink to elsewhere).
    return [str(source), "--real-folder"] + (["--labels-from-folders"] if labels_from_folders else [])


def _import_iiif(urls: Sequence[str], out: str) -> list[str]:
    return [*urls, "--out", str(out), "--ingest"]


def _embed(model: ModelLike, rebuild: bool = False) -> list[str]:
    # rebuild: drop the model's stored vectors and recompute them all (a damaged vectors file)
    return model_flags(model) + (["--rebuild"] if rebuild else [])


def _predict(which: str, model: ModelLike) -> list[str]:
    if which not in ("zero-shot", "few-shot"):
        raise InputError(f"predict: expected 'zero-shot' or 'few-shot'; got {which!r}.")
    return [f"--{which}", *model_flags(model)]


def _evaluate(
    model: ModelLike, *, methods: Sequence[str], ks: Sequence[Any], draws: int, split: str,
    prompt_set: tuple[str, int] | None = None, models: Sequence[str] = (),
) -> list[str]:
    args = ["--methods", ",".join(methods), "--k", ",".join(map(str, ks)), "--draws", str(draws), "--split", split]
    args += model_flags(model)
    args += ["--prompt-set", prompt_set[0], "--prompt-version", str(prompt_set[1])] if prompt_set else ["--class-names"]
    return args + (["--models", ",".join(models)] if models else [])


def _baseline(*, arch: str, ks: Sequence[Any], draws: int, split: str, epochs: int = 0, checkpoint: str | None = None,
              device: str | None = None) -> list[str]:
    args = ["--arch", arch, "--k", ",".join(map(str, ks)), "--draws", str(draws), "--split", split]
    args += ["--epochs", str(epochs)] if epochs else []
    args += ["--checkpoint", str(checkpoint)] if checkpoint else []
    return args + (["--device", device] if device else [])


def _download(model: str, pretrained: str) -> list[str]:
    return ["--model", model, "--pretrained", pretrained]


def _index(key: str) -> list[str]:
    return ["--key", key]


def _export_zip(name: str, max_mb: int, content: str = "originals") -> list[str]:
    if content not in ZIP_CONTENTS:
        raise InputError(f"export-zip: expected content {' or '.join(ZIP_CONTENTS)}; got {content!r}.")
    return ["--name", str(name), "--max-mb", str(int(max_mb)), "--content", content]


def _export_zip_action(args: Sequence[str]) -> str:
    # Originals leave the server only for export_files holders; the ~256 px thumbnails are
    # what every role that may "view" already looks at in the grids (clipcore.team.roles).
    content = args[args.index("--content") + 1] if "--content" in args[:-1] else "originals"
    return "view" if content == "thumbnails" else "export_files"


KINDS: dict[str, JobKind] = {
    k.name: k
    for k in (
        JobKind("ingest", "ingest", "files", _ingest),
        JobKind("import-iiif", "IIIF import", "pages", _import_iiif),
        JobKind("embed", "embed", "images", _embed),
        JobKind("index", "index build", "vectors", _index),
        JobKind("predict", "scoring", "images", _predict),
        JobKind("evaluate", "evaluation", "fits", _evaluate),
        JobKind("baseline", "baseline", "fits", _baseline),
        JobKind("download-model", "download", None, _download),
        JobKind("export-zip", "ZIP export", "files", _export_zip, action="export_files", action_of=_export_zip_action),
    )
}


def job_kind(name: str) -> JobKind:
    """The declared kind ``name``.

    Raises:
        InputError: ``name`` is not a declared job kind.
    """
    kind = KINDS.get(name)
    if kind is None:
        raise InputError(f"cannot run {name!r} as a job; jobs are {sorted(KINDS)} (declared in clipcore.jobkinds).")
    return kind


def start_job(ws: Workspace, kind: str, args: Sequence[str]) -> str:
    """Start a declared kind with these arguments as a background job; return its id.

    Raises:
        InputError: an undeclared kind.
        clipcore.catalog.jobs.JobRefused: one of this kind already runs in the workspace.
    A job that finds the server-wide cap reached is not refused: it waits in the queue.
    """
    return launch_job(ws, job_kind(kind).name, list(args))


def start_kind(ws: Workspace, kind: str, **params: Any) -> str:
    """Build the command line of ``kind`` from ``params`` and start it; return the job id."""
    return start_job(ws, kind, job_kind(kind).command_line(**params))
