"""AppTest: on a large collection the Zero-shot predictions tab and the Few-shot page read
the `predict` job's stored result, say when it is stale, and offer the job when there is
none. "Large" is lowered to 1 image here (CLIPCORE_PREDICT_AUTO_ROWS). Untrained tiny model."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from clipcore.classify import predictions
from clipcore.classify.prompts import latest_prompt_set
from tests.helpers import app_workspace

ROOT = Path(__file__).resolve().parents[2]


def _open(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.switch_page(page)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def test_zero_shot_tab_reads_stored_predictions(app_config, monkeypatch, tiny_model):
    monkeypatch.setenv("CLIPCORE_PREDICT_AUTO_ROWS", "1")
    ws = app_workspace(app_config)
    at = _open("pages/zero_shot.py")  # pre-loads the reference prompt set
    assert not at.exception
    assert "No stored zero" in _texts(at.info)
    assert any(b.key == "zs_pred_start" for b in at.button)
    ps = latest_prompt_set(ws)
    matrix = ws.load_embeddings(tiny_model.info.key)
    predictions.predict_zero_shot(ws, matrix, tiny_model, ps)
    at = _open("pages/zero_shot.py")
    assert not at.exception
    assert "Stored zero" in _texts(at.caption)
    assert next(m.value for m in at.metric if m.label == "Images scored") == "32"
    ws.forget_embeddings([int(matrix.ids[0])])  # embeddings changed: the stored result is stale
    at = _open("pages/zero_shot.py")
    assert not at.exception
    assert "Stale" in _texts(at.warning)
    assert any(b.key == "zs_pred_start" for b in at.button)


def test_few_shot_page_reads_stored_predictions(app_config, monkeypatch):
    monkeypatch.setenv("CLIPCORE_PREDICT_AUTO_ROWS", "1")
    ws = app_workspace(app_config)
    gone = sorted(ws.ground_truth())[1::3][:6]
    with ws.transaction() as conn:
        conn.executemany("DELETE FROM ground_truth WHERE image_id = ?", [(i,) for i in gone])
    at = _open("pages/few_shot.py", fs_method="logreg")
    assert not at.exception
    assert "No stored" in _texts(at.info) and any(b.key == "fs_pred_start" for b in at.button)
    assert not any(m.label == "Unlabelled images predicted" for m in at.metric)  # no in-page fit
    key = next(iter(ws.embedding_keys()))
    predictions.predict_few_shot(ws, ws.load_embeddings(key), "logreg", source="both")
    at = _open("pages/few_shot.py", fs_method="logreg")
    assert not at.exception
    assert "Stored" in _texts(at.caption)
    assert next(m.value for m in at.metric if m.label == "Unlabelled images predicted") == "6"
    with ws.transaction() as conn:  # labels changed: stale, still shown
        conn.execute("DELETE FROM ground_truth WHERE image_id = ?", (sorted(ws.ground_truth())[0],))
    at = _open("pages/few_shot.py", fs_method="logreg")
    assert not at.exception
    assert "Stale" in _texts(at.warning)
    assert next(m.value for m in at.metric if m.label == "Unlabelled images predicted") == "6"
