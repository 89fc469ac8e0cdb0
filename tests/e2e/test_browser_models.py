"""Two models in Chromium: Evaluate's learning curve and table with one row per model and
method, and Zero-shot's "Compare models" tab, without an error element or a console error."""

from __future__ import annotations

import pytest

from clipcore.classify.evaluation import ModelEntry, evaluate_models, save_run
from clipcore.classify.splits import freeze_split
from clipcore.embedding.models import embedding_set_key, load_model, record_embedding_model
from clipcore.embedding.pipeline import embed_workspace
from tests.e2e.conftest import open_tab
from tests.e2e.test_browser_walk import ERRORS, _settle
from tests.helpers import app_workspace
from tests.test_cli_models import save_tiny_checkpoint


def _two_models_with_a_run(app_config) -> None:
    ws = app_workspace(app_config)
    ckpt = app_config.parent / "models" / "tiny-seed5.pt"
    ckpt.parent.mkdir(exist_ok=True)
    save_tiny_checkpoint(ckpt, seed=5)
    tiny = load_model("tiny", precision="fp32", device="cpu")
    other = load_model("tiny", checkpoint=ckpt, precision="fp32", device="cpu")
    embed_workspace(ws, other, batch_size=16)
    record_embedding_model(ws, other.info)
    freeze_split(ws)
    entries = [ModelEntry(m.info.key, label, ws.load_embeddings(m.info.key), m, True)
               for m, label in ((tiny, "tiny"), (other, "tiny (tiny-seed5.pt)"))]
    out = evaluate_models(ws, entries, prompt_set=None, methods=["zero_shot", "logreg"], ks=[1, 2], draws=2)
    assert out["settings"]["model"] == embedding_set_key("tiny")
    save_run(ws, "evaluation", out["settings"], out)


@pytest.mark.e2e
def test_two_models_side_by_side_in_chromium(app_config, request, page, tmp_path):
    _two_models_with_a_run(app_config)
    url = request.getfixturevalue("streamlit_server")
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))

    page.goto(url)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=90_000)
    _settle(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Evaluate").first.click()
    page.locator('[data-testid="stMain"] h1', has_text="Evaluate").first.wait_for(timeout=90_000)
    _settle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Error rate by examples per class").first.wait_for(timeout=30_000)
    page.locator(".vega-embed").first.wait_for(timeout=30_000)
    legend = main.get_by_text("model (line style)")
    legend.first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "evaluate-two-models.png"), full_page=True)
    assert page.evaluate(ERRORS) == []

    page.locator('[data-testid="stSidebarNav"] a', has_text="Zero-shot").first.click()
    page.locator('[data-testid="stMain"] h1', has_text="Zero-shot").first.wait_for(timeout=90_000)
    _settle(page)
    open_tab(page, "Compare models")
    _settle(page)
    main.get_by_text("each model's own text encoder").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "zero-shot-compare-models.png"), full_page=True)
    assert page.evaluate(ERRORS) == []
    assert console == [], console
