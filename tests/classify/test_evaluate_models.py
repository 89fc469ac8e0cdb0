"""Several embedding sets on one hold-out: one row per model, the same prompt set on each."""

from __future__ import annotations

import numpy as np
import pytest

from clipcore.catalog.store import EmbeddingMatrix
from clipcore.classify.evaluation import ModelEntry, compare_zero_shot, evaluate_models
from clipcore.classify.prompts import PromptSet
from clipcore.classify.report import build_report
from clipcore.classify.splits import freeze_split
from clipcore.embedding.models import embedding_model_specs, load_model, record_embedding_model
from clipcore.embedding.pipeline import embed_workspace
from tests.test_cli_models import save_tiny_checkpoint


@pytest.fixture
def two_models(workspace, tiny_model, tmp_path):
    ckpt = tmp_path / "tiny-seed3.pt"
    save_tiny_checkpoint(ckpt, seed=3)
    other = load_model("tiny", checkpoint=ckpt, precision="fp32", device="cpu")
    embed_workspace(workspace, other, batch_size=16)
    record_embedding_model(workspace, other.info)
    return workspace, [
        ModelEntry(m.info.key, label, workspace.load_embeddings(m.info.key), m, m.info.untrained)
        for m, label in ((tiny_model, "tiny"), (other, "tiny (seed 3)"))
    ]


def test_specs_reload_a_checkpoint_set(two_models):
    ws, entries = two_models
    specs = embedding_model_specs(ws)
    assert set(specs) == {e.key for e in entries}
    spec = specs[entries[1].key]
    assert spec.checkpoint and spec.checkpoint.endswith("tiny-seed3.pt") and spec.untrained
    assert load_model(spec.name, checkpoint=spec.checkpoint, precision="fp32", device="cpu").info.key == entries[1].key


def test_two_keys_give_two_rows_with_the_same_prompts(two_models):
    ws, entries = two_models
    split = freeze_split(ws, name="default", seed=0)
    classes = sorted(set(split.labels.values()))
    prompts = PromptSet("p", {c: [f"a {c}"] for c in classes}, ["a photo of {}."])
    rows = compare_zero_shot(split, entries, prompts)
    assert [r["key"] for r in rows] == [e.key for e in entries]
    assert all(r["untrained"] and r["model"].endswith("(untrained)") for r in rows)
    assert all(r["n_test"] == len(split.test_ids) and 0 <= r["error_rate"] <= 1 for r in rows)
    # different weights encode the same prompts differently, so the class vectors differ
    assert entries[0].model.encode_texts(["a cover"]).tolist() != entries[1].model.encode_texts(["a cover"]).tolist()

    seen = []
    out = evaluate_models(ws, entries, prompt_set=prompts, methods=["zero_shot", "logreg"], ks=[1, 2], draws=2,
                          progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (10, 10) and [d for d, _ in seen] == sorted(d for d, _ in seen)  # one bar over both models
    by_model = {}
    for r in out["error_rates"]:
        by_model.setdefault(r["model"], set()).add((r["method"].split(" · ")[0], str(r["k"])))
    assert by_model == {e.key: {("zero_shot", "0"), ("logreg", "1"), ("logreg", "2")} for e in entries}
    zs = {r["model"]: r["mean"] for r in out["error_rates"] if r["method"].startswith("zero_shot")}
    assert zs == {r["key"]: pytest.approx(r["error_rate"]) for r in rows}  # the same prompts, the same hold-out
    assert set(out["confusion_matrices"]) == {f"{m} · {e.title}" for e in entries for m in ("zero_shot", "logreg")}

    html = build_report(out, model_key=entries[0].key, untrained=True)
    assert "models compared" in html and "tiny (seed 3) (untrained, not meaningful)" in html
    for e in entries:  # the report's table has the rows of both models
        assert f"logistic regression · {e.title}" in html  # method names, not keys (plain words)


def test_a_set_missing_holdout_images_is_left_out(two_models):
    ws, entries = two_models
    split = freeze_split(ws, name="default", seed=0)
    partial = entries[1].matrix
    keep = np.asarray([i for i in partial.ids if i != split.test_ids[0]], dtype=np.int64)
    cut = EmbeddingMatrix(partial.key, keep, np.asarray(partial.vectors)[partial.rows_of(keep)])
    entry = ModelEntry(entries[1].key, "cut", cut, entries[1].model, True)
    prompts = PromptSet("p", {c: [c] for c in sorted(set(split.labels.values()))}, ["{}"])
    assert "skipped" in compare_zero_shot(split, [entries[0], entry], prompts)[1]
    out = evaluate_models(ws, [entries[0], entry], prompt_set=prompts, methods=["logreg"], ks=[1], draws=1)
    assert [m["key"] for m in out["settings"]["models"]] == [entries[0].key]
    assert any("cut (untrained) is left out" in w for w in out["warnings"])


def test_report_curve_keeps_method_colours_and_dashes_each_model():
    from clipcore.classify.palette import method_colour
    from clipcore.classify.report import error_rate_table, learning_curve_svg

    rows = [
        {"method": "logreg · A", "k": 1, "mean": 0.5, "std": 0.1}, {"method": "logreg · A", "k": 2, "mean": 0.4, "std": 0.1},
        {"method": "logreg · B", "k": 1, "mean": 0.6, "std": 0.1}, {"method": "logreg · B", "k": 2, "mean": 0.5, "std": 0.1},
    ]
    svg = learning_curve_svg(error_rate_table(rows))
    assert method_colour("logreg · B") == method_colour("logreg")
    assert svg.count(f'<polyline points=') == 2 and 'stroke-dasharray="8 3"' in svg  # model B dashed, A solid
    assert ">A</text>" in svg and ">B</text>" in svg  # the model names are in the legend, not cut off
