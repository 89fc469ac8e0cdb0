"""The embed and bench commands' engine and decoder options, as a user runs them."""

from __future__ import annotations

import json

from tests.helpers import ROOT, run_cli


def test_bench_shows_seconds_per_stage(demo_dir):
    proc = run_cli("bench", "--images", str(demo_dir), "--model", "tiny", "--limit", "16", "--decoder", "pillow", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decoder"] == "pillow" and set(out["stages"]) == {"read", "decode", "model", "write", "wait"}
    assert out["stages"]["decode"] > 0 and out["stages"]["model"] > 0
    human = run_cli("bench", "--images", str(demo_dir), "--model", "tiny", "--limit", "8")
    assert human.returncode == 0 and "stages: read" in human.stdout


def test_forcing_the_gpu_decoder_without_cuda_says_what_to_do(workspace):
    proc = run_cli("embed", "--workspace", str(workspace.root), "--model", "tiny", "--device", "cpu", "--decoder", "gpu")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "--decoder pillow" in proc.stderr


def test_ray_engine_without_ray_says_how_to_install_it(workspace, tmp_path):
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    proc = run_cli(
        "embed", "--workspace", str(workspace.root), "--model", "tiny", "--engine", "ray",
        env={"PYTHONPATH": f"{fake.parent}:{ROOT}"},
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "pip install -r requirements-ray.txt" in proc.stderr
