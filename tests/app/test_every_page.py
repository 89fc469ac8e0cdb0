"""AppTest of every page (and so every tab: AppTest runs each tab's body) on three workspaces:
the demo, an empty one, and one without any label. No page may show an exception."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [None, "app_pages/search.py", "app_pages/zero_shot.py", "app_pages/few_shot.py", "app_pages/label.py", "app_pages/evaluate.py", "app_pages/present.py"]
LABEL_VIEWS = ["Label", "Browse", "History", "Review", "Conflicts", "Export"]


def _config(tmp_path: Path, ws_root: Path) -> Path:
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(
        '[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n'
        f'[workspaces.main]\npath = "{ws_root}"\n'
    )
    return cfg


@pytest.fixture(params=["demo", "empty", "unlabelled"])
def any_workspace(request, _built_workspace, app_config, tmp_path, monkeypatch) -> str:
    """Point the app at the demo workspace, an empty one, or the demo without ground truth."""
    if request.param == "empty":
        monkeypatch.setenv("CLIPCORE_CONFIG", str(_config(tmp_path, tmp_path / "empty-ws")))
    elif request.param == "unlabelled":
        from clipcore.catalog.store import Workspace

        root = tmp_path / "unlabelled-ws"
        shutil.copytree(_built_workspace, root)
        ws = Workspace(root)
        with ws.transaction() as conn:
            conn.execute("DELETE FROM ground_truth")
        assert ws.ground_truth() == {}
        ws.close()
        monkeypatch.setenv("CLIPCORE_CONFIG", str(_config(tmp_path, root)))
    return request.param


def _errors(at: AppTest) -> list[str]:
    return [e.value if hasattr(e, "value") else str(e) for e in at.exception]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: Path(p).stem if p else "home")
def test_page_opens_without_an_exception(any_workspace, page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, (any_workspace, page, _errors(at))
    if page == "app_pages/label.py" and any_workspace != "empty":
        at.sidebar.text_input(key="annotator_name").set_value("Ada").run()
        assert not at.exception, (any_workspace, "Label", _errors(at))
        for view in LABEL_VIEWS:
            at.radio(key="label_view").set_value(view).run()
            assert not at.exception, (any_workspace, view, _errors(at))
    if any_workspace == "empty":
        assert any("no images" in i.value for i in at.info), [i.value for i in at.info]


def test_few_shot_on_a_fully_labelled_collection_shows_cross_validated_mistakes_first(app_config):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("app_pages/few_shot.py")
    at.run()
    assert not at.exception, _errors(at)
    assert not any("nothing left to predict" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert "Cross-validated accuracy" in metrics and "Mistakes" in metrics
    table = at.dataframe[-1].value
    assert {"label", "predicted", "correct"} <= set(table.columns)
    assert len(table) > 0 and int(metrics["Labelled images predicted"]) == len(table)
    wrong = (~table["correct"]).tolist()
    assert wrong == sorted(wrong, reverse=True)  # every mistake before every correct prediction
    assert int(metrics["Mistakes"]) == sum(wrong)


def test_present_tells_the_story_with_the_workspace_numbers(app_config):
    from clipcore.classify.prompts import ensure_reference_prompt_set
    from tests.helpers import app_workspace

    ensure_reference_prompt_set(app_workspace(app_config))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("app_pages/present.py")
    at.run()
    assert not at.exception, _errors(at)
    headers = [h.value for h in at.header]
    assert [h.split(" · ")[0] for h in headers] == ["1", "2", "3", "4", "5"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "32"
    assert any(label.startswith("Accuracy with ") for label in metrics)
    # No configuration clutter: the sidebar holds only app.py's collection picker (before
    # app_pages/, a second AppTest in a process ran this page without app.py, so without it).
    assert [s.label for s in at.sidebar.selectbox] == ["Collection"] and not at.sidebar.text_input


def test_label_with_no_class_yet_asks_for_one_without_an_empty_search_hint(_built_workspace, app_config, tmp_path, monkeypatch):
    """A collection with no class anywhere (no ground truth, no labels, no prompt set): the
    Label view asks for a class, and the text query's hint names no empty query (it read
    'empty: search for “”')."""
    from clipcore.catalog.store import Workspace

    root = tmp_path / "classless-ws"
    shutil.copytree(_built_workspace, root)
    ws = Workspace(root)
    with ws.transaction() as conn:
        conn.execute("DELETE FROM ground_truth")
    ws.close()
    monkeypatch.setenv("CLIPCORE_CONFIG", str(_config(tmp_path, root)))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("app_pages/label.py")
    at.query_params["annotator"] = "ada"
    at.run()
    assert not at.exception, _errors(at)
    assert at.selectbox(key="label_class").value is None  # no class to start from
    assert any("Choose or type the class" in i.value for i in at.info), [i.value for i in at.info]
    hint = at.text_input(key="label_text").placeholder
    assert "“”" not in hint and "class's name" in hint, hint
