"""AppTest of the Few-shot page with the tiny model: train, predict unlabelled, least confident, CSV."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.core.text import md

from tests.helpers import app_workspace, heavy_slot_held

from tests.gridview import grid_tiles

from clipcore import UNTRAINED_WARNING
from clipcore.classify.splits import freeze_split, get_split
from clipcore.catalog.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/few_shot.py"


def _unlabel(app_config, n: int) -> tuple[Workspace, list[int]]:
    """Drop the ground truth of n images so that the page has something to predict."""
    ws = app_workspace(app_config)
    ids = sorted(ws.ground_truth())[1::3][:n]
    with ws.transaction() as conn:
        conn.executemany("DELETE FROM ground_truth WHERE image_id = ?", [(i,) for i in ids])
    return ws, ids


def _open() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(PAGE)
    return at.run()


def test_opening_the_page_freezes_no_split(app_config):
    ws, _ = _unlabel(app_config, 6)
    at = _open()
    assert not at.exception, at.exception
    assert get_split(ws) is None
    assert any("Evaluate" in link.proto.label for link in at.get("page_link"))


def test_trains_outside_the_hold_out_and_shows_least_confident(app_config):
    ws, unlabelled = _unlabel(app_config, 6)
    freeze_split(ws)  # the explicit action (Evaluate page or CLI)
    at = _open()
    assert not at.exception, at.exception
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    split = get_split(ws)
    assert split is not None and not set(split.test_ids) & set(unlabelled)
    texts = [t.value for t in at.text]
    n_train = 32 - len(unlabelled) - len(split.test_ids)
    assert any(t.startswith(f"Trained on {n_train} labelled images") for t in texts)
    assert any(f"{len(split.test_ids)} images kept out of training" in t for t in texts)
    assert at.metric[0].value == str(len(unlabelled))
    tiles = [note for _, _, note in grid_tiles(at, with_notes=True) if note.startswith("→ ")]
    assert len(tiles) == len(unlabelled)  # grid of 12 shows all six doubtful images
    table = at.dataframe[1].value
    assert sorted(table["id"].tolist()) == sorted(unlabelled)
    assert table["margin"].is_monotonic_increasing
    assert len(at.get("download_button")) == 1

    at.selectbox(key="fs_method").select("knn").run()
    assert not at.exception
    assert len([note for _, _, note in grid_tiles(at, with_notes=True) if note.startswith("→ ")]) == len(unlabelled)


def test_label_source_without_labels_shows_a_clear_error(app_config):
    _unlabel(app_config, 3)
    at = _open()
    at.selectbox(key="fs_source").select("labels").run()
    assert not at.exception
    assert any(md("at least 2 classes outside the hold-out") in e.value for e in at.error)  # escaped markdown


def test_training_waits_for_a_heavy_slot_and_says_when_the_server_is_busy(app_config, monkeypatch):
    """Issue 19, item 7: in-process training for any visitor ran outside any cap."""
    _unlabel(app_config, 6)
    with heavy_slot_held(monkeypatch, "someone else's suggestion"):
        at = _open()
        assert not at.exception
        assert any("the server is busy" in e.value for e in at.error)
    at = _open()
    assert not any("the server is busy" in e.value for e in at.error)
