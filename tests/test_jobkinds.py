"""Job kinds are declared once (clipcore.jobkinds): every kind the app starts is declared,
and every declared kind's command line parses with the CLI's own parser."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from clipcore.cli import build_parser
from clipcore.errors import InputError
from clipcore.jobkinds import KINDS, ModelChoice, job_kind, model_flags, start_job

ROOT = Path(__file__).resolve().parents[1]
MODEL = ModelChoice("tiny", None, None, "cpu", "fp32")

# One example of each kind's parameters, as the app passes them. A new kind needs one here.
EXAMPLES = {
    "ingest": {"source": "/data/images", "labels_from_folders": True},
    "import-iiif": {"urls": ["https://example.org/iiif/book/manifest.json"], "out": "/data/books"},
    "embed": {"model": ModelChoice("ViT-B-32", None, "/models/w.pt", "cuda", "fp16"), "rebuild": True},
    "index": {"key": "tiny/none@pp2-abc"},
    "predict": {"which": "zero-shot", "model": MODEL},
    "evaluate": {"model": MODEL, "methods": ["zero_shot", "logreg"], "ks": [1, 2, "all"], "draws": 3, "split": "default",
                 "prompt_set": ("reference", 2), "models": ["a/b@pp1"]},
    "baseline": {"arch": "tiny", "ks": [1, "all"], "draws": 1, "split": "default", "epochs": 2, "checkpoint": "/m/b0.pth"},
    "download-model": {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
    "export-zip": {"name": "Hokusai prints", "max_mb": 512, "content": "thumbnails"},
}

# Functions of the app that take a job kind by name.
STARTERS = {"start_job", "start_kind", "job_kind", "job_panel", "start_job_from_ui"}


def test_every_declared_kind_has_an_example():
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_builds_a_command_line_the_cli_parses(name):
    args = job_kind(name).command_line(**EXAMPLES[name])
    parsed = build_parser().parse_args([name, *args, "--workspace", "/tmp/ws", "--job-id", "abc"])
    assert parsed.command == name and parsed.quiet and parsed.job_id == "abc"


def test_model_flags_are_built_in_one_place():
    args = job_kind("predict").command_line(which="few-shot", model=MODEL)
    parsed = build_parser().parse_args(["predict", *args])
    assert parsed.few_shot and parsed.model == "tiny" and parsed.pretrained == "none"
    assert (parsed.device, parsed.precision) == ("cpu", "fp32")
    assert model_flags(ModelChoice("ViT-B-32", "x", "/w.pt"))[:4] == ["--model", "ViT-B-32", "--checkpoint", "/w.pt"]
    parsed = build_parser().parse_args(["evaluate", *job_kind("evaluate").command_line(**{**EXAMPLES["evaluate"], "prompt_set": None})])
    assert parsed.class_names and parsed.prompt_set is None and parsed.models == "a/b@pp1"


def test_bad_parameters_name_the_kind():
    with pytest.raises(InputError, match="job kind 'predict': bad parameters"):
        job_kind("predict").command_line(model=MODEL)
    with pytest.raises(InputError, match="expected 'zero-shot' or 'few-shot'"):
        job_kind("predict").command_line(which="both", model=MODEL)


def test_undeclared_kinds_are_refused(tmp_path):
    from clipcore.catalog.jobs import list_jobs
    from clipcore.catalog.store import Workspace

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(InputError, match="cannot run 'compact' as a job"):
        start_job(ws, "compact", [])
    assert list_jobs(ws) == []


def _kind_literals(path: Path) -> list[tuple[str, int]]:
    """(kind, line) for every string passed to a function that takes a kind: a literal, or
    a module-level constant of the file (``DOWNLOAD_JOB = "download-model"``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        t.id: node.value.value
        for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value.value, str)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in STARTERS:
                for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "kind")]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.append((arg.value, node.lineno))
                    elif isinstance(arg, ast.Name) and arg.id in constants:
                        found.append((constants[arg.id], node.lineno))
    return found


def _app_files() -> list[Path]:
    files = [ROOT / "app.py", *(ROOT / "clipcore").rglob("*.py")]
    for folder in ("ui", "pages", "app_pages"):
        files += (ROOT / folder).rglob("*.py")
    return files


def test_every_kind_the_app_can_start_is_declared():
    seen, undeclared = set(), []
    for path in _app_files():
        for kind, line in _kind_literals(path):
            seen.add(kind)
            if kind not in KINDS:
                undeclared.append(f"{path.relative_to(ROOT)}:{line}: {kind!r}")
    assert not undeclared, "job kinds started but not declared in clipcore.jobkinds:\n" + "\n".join(undeclared)
    assert {"predict", "embed", "ingest", "evaluate", "baseline", "download-model", "index"} <= seen


def test_only_jobkinds_launches_processes():
    launching = [
        str(p.relative_to(ROOT)) for p in _app_files()
        if p.name != "jobs.py" and p.name != "jobkinds.py" and "launch_job" in p.read_text(encoding="utf-8")
    ]
    assert not launching, f"start jobs through clipcore.jobkinds.start_job, not launch_job: {launching}"


def test_a_thumbnail_zip_needs_view_and_an_originals_zip_export_files():
    kind = job_kind("export-zip")
    thumbs = kind.command_line(name="demo", max_mb=10, content="thumbnails")
    originals = kind.command_line(name="demo", max_mb=10)
    assert (kind.permission(thumbs), kind.permission(originals)) == ("view", "export_files")
    assert kind.permission(["--name", "demo", "--max-mb", "10", "--quiet"]) == "export_files"  # a job started before --content
    assert job_kind("embed").permission(["--model", "tiny"]) == "start_jobs"
    with pytest.raises(InputError, match="expected content originals or thumbnails"):
        kind.command_line(name="demo", max_mb=10, content="everything")
