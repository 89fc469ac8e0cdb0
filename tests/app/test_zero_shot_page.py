"""AppTest of the Zero-shot page with the tiny model: prompts -> predictions -> metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.core.text import md

from tests.gridview import click_tile, grid_ids
from tests.helpers import app_workspace, heavy_slot_held
from streamlit.util import AttributeDictionary

from clipcore import UNTRAINED_WARNING
from clipcore.embedding.models import load_model
from clipcore.classify.prompts import REFERENCE_PROMPT_SET_NAME, REFERENCE_PROMPTS, list_prompt_sets, prompt_set_versions

ROOT = Path(__file__).resolve().parents[2]
PAGE = "app_pages/zero_shot.py"


def _open() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(PAGE)
    return at.run()


def _editor_key(at: AppTest) -> str:
    return next(d.key for d in at.data_editor if d.key and d.key.startswith("zs_editor_"))


def _replace_rows(at: AppTest, rows: list[dict]) -> None:
    """Delete every row of the editor and add ``rows`` (the edit state a user would make)."""
    editor = at.data_editor(key=_editor_key(at))
    at.session_state[editor.key] = {
        "edited_rows": {},
        "added_rows": rows,
        "deleted_rows": list(range(len(editor.value))),
    }
    at.run()


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


_ws = app_workspace


def test_reference_set_is_preloaded_and_scored(app_config):
    at = _open()
    assert not at.exception
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    editor = at.data_editor(key=_editor_key(at))
    assert sorted(set(editor.value["class"])) == sorted(REFERENCE_PROMPTS)
    assert "book binding" in set(editor.value["prompt"])
    assert list_prompt_sets(_ws(app_config)) == []  # a draft: opening the page writes nothing
    assert any("reference study's prompts (not saved yet)" in c.value for c in at.caption)
    assert _metric(at, "Images scored") == "32"
    assert at.get("vega_lite_chart")  # the confusion matrix
    assert at.download_button(key="zs_csv")


def test_two_classes_give_predictions_a_confusion_matrix_and_cell_images(app_config):
    at = _open()
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "printed text"}])
    assert not at.exception
    assert not at.error
    assert _metric(at, "Images scored") == "16"  # 8 covers + 8 text pages in the fixture
    assert any("blank page (8)" in c.value and "illustration (8)" in c.value for c in at.caption)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    # Click a cell: the images of that cell appear, and their count matches the matrix.
    at.session_state["zs_confusion"] = AttributeDictionary(
        {"selection": AttributeDictionary({"cell": [{"true": "cover", "predicted": "cover"}]})}
    )
    at.run()
    line = next(t.value for t in at.text if "predicted as cover" in t.value)
    n = int(line.split()[0])
    assert len(grid_ids(at, "zs-cell")) == n

    # The cell's lightbox (and tiles) offer "more like this": Search opens on that image.
    picked = grid_ids(at, "zs-cell")[0]
    click_tile(at, 1, "similar", key="zs-cell")
    assert not at.exception
    assert any(t.value.startswith("More like this: ") for t in at.text)
    assert grid_ids(at)[0] == picked  # the image itself ranks first (cosine 1)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "   "}], "has no prompt"),
        ([{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "p" * 2000 + "q"}], "2001 characters"),
    ],
    ids=["empty prompt", "2001-char prompt"],
)
def test_bad_prompt_sets_are_messages(app_config, rows, message):
    at = _open()
    _replace_rows(at, rows)
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert any("Fix the prompts" in i.value for i in at.info)


def test_a_new_or_one_class_set_asks_for_classes_without_an_error(app_config):
    """A set being written (New set, or one class so far) is not an error: the page asks for
    a second class (the crawler found 'a classifier needs at least 2 classes; got 0')."""
    from clipcore.classify.prompts import ensure_reference_prompt_set

    ensure_reference_prompt_set(_ws(app_config))  # a stored set: the New set button is offered
    at = _open()
    at.button(key="zs_new_set").click().run()
    assert not at.exception and not at.error
    assert any("Write at least two classes" in i.value for i in at.info)
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}])
    assert not at.exception and not at.error
    assert any("Write at least two classes" in i.value for i in at.info)
    at.button(key="zs_save").click().run()  # saving it is the user's action: then it is refused, saying why
    assert any("at least 2 classes" in e.value for e in at.error)


def test_save_versions_rename_duplicate_and_compare(app_config):
    ws = _ws(app_config)
    at = _open()
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "printed text"}])
    at.text_input(key="zs_name").set_value("mine")
    at.button(key="zs_save").click().run()
    assert not at.exception
    assert any("Saved 'mine' version 1" in s.value for s in at.success)
    _replace_rows(at, [{"class": "cover", "prompt": "book binding"}, {"class": "text", "prompt": "cursive Japanese ideograms"}])
    at.button(key="zs_save").click().run()
    assert [v.version for v in prompt_set_versions(ws, "mine")] == [2, 1]

    # Compare mine v1 (A) with mine v2 (B) on the same 16 images.
    at.selectbox(key="zs_cmp_a").set_value(("mine", 1))
    at.selectbox(key="zs_cmp_b").set_value(("mine", 2)).run()
    label = next(m.label for m in at.metric if m.label.startswith("Accuracy of B minus A"))
    assert "16 images" in label
    from clipcore.classify.prompts import load_prompt_set
    from clipcore.classify.zeroshot import build_classifier, classify_matrix, compare_results

    model = load_model("tiny", precision="fp32", device="cpu")
    matrix = ws.load_embeddings(model.info.key)
    expected = compare_results(
        classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 1)), matrix),
        classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 2)), matrix),
        ws.ground_truth(),
    )
    assert next(m.value for m in at.metric if m.label == label) == f"{expected['accuracy_difference']:+.1%}"
    assert len(at.get("vega_lite_chart")) == 3  # the draft's matrix and both compared ones

    at.selectbox(key="zs_set").set_value("mine")
    at.text_input(key="zs_rename_to").set_value("renamed")
    at.button(key="zs_rename").click().run()
    assert any(md("Renamed 'mine' to 'renamed' (2 versions)") in s.value for s in at.success)  # escaped markdown
    at.selectbox(key="zs_version").set_value(1)
    at.text_input(key="zs_duplicate_as").set_value("copy")
    at.button(key="zs_duplicate").click().run()
    assert not at.exception
    names = {s.name: s.version for s in list_prompt_sets(ws)}
    assert names == {"renamed": 2, "copy": 1}  # the reference study draft was never saved
    assert list_prompt_sets(ws)[0].classes == {"cover": ["book cover"], "text": ["printed text"]}


def test_try_a_prompt_shows_top_images(app_config):
    at = _open()
    at.text_input(key="zs_try").input("book binding").run()
    assert not at.exception
    assert len(grid_ids(at, "zs-try")) == 12


def test_new_set_no_op_save_compare_defaults_and_prompt_lab(app_config):
    ws = _ws(app_config)
    at = _open()
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "printed text"}])
    at.text_input(key="zs_name").set_value("mine")
    at.button(key="zs_save").click().run()
    at.button(key="zs_save").click().run()  # nothing changed: no new version
    assert not at.exception
    assert [v.version for v in prompt_set_versions(ws, "mine")] == [1]
    assert any("no new version was saved" in i.value for i in at.info)
    _replace_rows(at, [{"class": "cover", "prompt": "book binding"}, {"class": "text", "prompt": "printed text"}])
    at.button(key="zs_save").click().run()
    # Compare starts with the two newest versions, the one just saved as B.
    assert at.selectbox(key="zs_cmp_b").value == ("mine", 2)
    assert at.selectbox(key="zs_cmp_a").value == ("mine", 1)

    # The prompt lab suggests, and one click saves the suggestion as version 3 of the loaded set.
    at.button(key="zs_lab_run").click().run()
    assert not at.exception, at.exception
    assert any(t.value.startswith("Current prompts:") for t in at.text)
    table = at.dataframe[-1].value
    assert set(table["class"]) == {"cover", "text"} and {"prompt", "gain alone", "± (s.e.)", "in the set"} <= set(table.columns)
    shares = table["in the set"].dropna()
    summary = next(t.value for t in at.text if t.value.startswith("Current prompts:"))
    if len(shares):  # the shown shares add up to the suggested set's gain in the summary line
        gain_here = float(summary.split("Suggested set: ")[1].split("%")[0]) / 100
        assert shares.sum() == pytest.approx(gain_here, abs=0.0015 * len(shares))
    saves = [b for b in at.button if b.key == "zs_lab_save"]
    if saves:  # the untrained model may find no better prompt; when it does, saving works
        saves[0].click().run()
        assert not at.exception
        assert [v.version for v in prompt_set_versions(ws, "mine")][0] == 3
        assert at.selectbox(key="zs_cmp_b").value == ("mine", 3)
    else:
        assert any("No candidate beats" in i.value for i in at.info)

    at.button(key="zs_new_set").click().run()
    assert not at.exception
    assert at.text_input(key="zs_name").value == "new set"
    assert len(at.data_editor(key=_editor_key(at)).value) == 1


def test_draft_scoring_waits_for_a_heavy_slot_and_says_when_the_server_is_busy(app_config, monkeypatch):
    """Issue 19: the draft prompts were scored in the server on every edit, outside the cap
    that prompt suggestions and model comparisons take."""
    with heavy_slot_held(monkeypatch, "someone else's comparison"):
        at = _open()
        assert not at.exception
        assert any("server is busy" in e.value for e in at.error)
        assert not [m for m in at.metric if m.label == "Images scored"]
    at = _open()
    assert not at.exception and _metric(at, "Images scored") == "32"


def _second_collection(app_config: Path, tmp_path: Path) -> None:
    """Add a collection "textiles" (a copy of the demo whose ground truth is two other classes)."""
    import shutil

    from clipcore.catalog.store import Workspace

    src = _ws(app_config)
    root = tmp_path / "textiles-ws"
    shutil.copytree(src.root, root)
    ws = Workspace(root)
    ids = sorted(ws.ground_truth())
    with ws.transaction() as conn:
        conn.execute("DELETE FROM ground_truth")
    ws.set_ground_truth({i: ("wool" if n % 2 else "silk") for n, i in enumerate(ids)}, origin="folder")
    ws.close()
    app_config.write_text(app_config.read_text() + f'\n[workspaces.textiles]\npath = "{root}"\n')


def test_switching_collection_starts_the_editor_from_the_new_collections_classes(app_config, tmp_path):
    _second_collection(app_config, tmp_path)
    at = _open()
    at.text_input(key="zs_name").set_value("mine")
    at.button(key="zs_save").click().run()  # the demo now holds 'mine' version 1
    assert not at.exception and not at.error
    assert at.session_state["zs_loaded_set"] == ("mine", 1)
    at.sidebar.selectbox(key="workspace_name").set_value("textiles").run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    editor = at.data_editor(key=_editor_key(at))
    assert sorted(set(editor.value["class"])) == ["silk", "wool"]
    assert any("this collection's class names (not saved yet)" in c.value for c in at.caption)
    assert not any("mine" in c.value for c in at.caption)
    # and back: the demo's saved set again, not the textiles draft
    at.sidebar.selectbox(key="workspace_name").set_value("demo").run()
    assert not at.exception and not at.error
    assert sorted(set(at.data_editor(key=_editor_key(at)).value["class"])) == sorted(REFERENCE_PROMPTS)
    assert at.session_state["zs_loaded_set"] == ("mine", 1)


def test_page_works_on_a_read_only_workspace(app_config, monkeypatch):
    import clipcore.catalog.store as store

    real_access = store.os.access
    monkeypatch.setattr(store.os, "access", lambda path, mode, *a, **k: False if mode & store.os.W_OK else real_access(path, mode, *a, **k))
    at = _open()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert sorted(set(at.data_editor(key=_editor_key(at)).value["class"])) == sorted(REFERENCE_PROMPTS)
    assert _metric(at, "Images scored") == "32"


def test_each_tab_says_which_images_it_scores(app_config):
    at = _open()
    assert any("Scored on the 32 images with a known class" in c.value and "hold-out included" in c.value
               for c in at.caption), [c.value for c in at.caption]
    at.text_input(key="zs_name").set_value("mine")
    at.button(key="zs_save").click().run()
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "printed text"}])
    at.button(key="zs_save").click().run()
    assert any("Both versions scored on the same" in c.value for c in at.caption), [c.value for c in at.caption]
    assert any("hold-out" in c.value for c in at.caption if "Compare" not in c.value)


def test_load_into_editor_on_a_large_collection_says_what_the_editor_holds(app_config, monkeypatch):
    """Issue 18: the crawl with ``in_page_max = 16`` found "Load into editor" changing nothing
    (pressed while the editor held that version already). Every press now ends with the
    chosen version in the editor's widgets and a line saying which version it is."""
    from clipcore.classify.prompts import save_prompt_set

    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "16")  # the demo's 32 images count as a large collection
    ws = _ws(app_config)
    v1 = {"cover": ["book cover", "a bound volume"], "text": ["printed text"], "blank page": ["an empty page"]}
    save_prompt_set(ws, "mine", v1)
    save_prompt_set(ws, "mine", {"cover": ["book binding"], "text": ["cursive"]}, ["a scan of {}"])
    at = _open()
    assert not at.exception
    assert any("scored on a sample" in c.value for c in at.caption)  # the large-collection path
    assert any("Editing 'mine' version 2" in c.value for c in at.caption)

    # The editor holds version 2 as saved: the press says so.
    at.button(key="zs_load").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [md("The editor already holds 'mine' version 2 as it was saved; nothing to load.")]

    # Unsaved edits: the press puts version 2 back.
    _replace_rows(at, [{"class": "a", "prompt": "x"}, {"class": "b", "prompt": "y"}])
    at.button(key="zs_load").click().run()
    assert [s.value for s in at.success] == [md("Loaded 'mine' version 2 into the editor: 2 classes, 2 prompts.")]
    assert at.data_editor(key=_editor_key(at)).value.values.tolist() == [["cover", "book binding"], ["text", "cursive"]]

    # Another version: its prompts, name and templates are in the editor's widgets.
    at.selectbox(key="zs_version").set_value(1).run()
    at.button(key="zs_load").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [md("Loaded 'mine' version 1 into the editor: 3 classes, 4 prompts.")]
    assert any("Editing 'mine' version 1" in c.value for c in at.caption)
    assert at.data_editor(key=_editor_key(at)).value.values.tolist() == [
        ["cover", "book cover"], ["cover", "a bound volume"], ["text", "printed text"], ["blank page", "an empty page"]]
    assert at.text_input(key="zs_name").value == "mine"
    assert at.checkbox(key="zs_use_templates").value is False


def test_a_saved_set_name_with_markdown_characters_is_shown_as_typed(app_config):
    """The "Saved ..." line was escaped twice: 'my_set*' showed as 'my\\_set\\*'."""
    at = _open()
    _replace_rows(at, [{"class": "cover", "prompt": "book cover"}, {"class": "text", "prompt": "printed text"}])
    at.text_input(key="zs_name").set_value("my_set*")
    at.button(key="zs_save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [md("Saved 'my_set*' version 1. Its accuracy is on the Accuracy tab.")]


def test_a_rerun_reads_no_count_over_every_ground_truth_row(app_config, monkeypatch):
    """On a large collection (sampled; its scores come from a job) the draft prompt set's
    classes come from the catalogue summary, cached on the change counter: a rerun does not
    count every ground-truth row again (~320 ms at 1M images)."""
    from clipcore.catalog.store import Workspace

    monkeypatch.setenv("CLIPCORE_IN_PAGE_MAX", "16")  # the demo counts as large
    at = _open()
    assert any("scored on a sample" in c.value for c in at.caption)
    calls = []
    real = Workspace.ground_truth_counts
    monkeypatch.setattr(Workspace, "ground_truth_counts", lambda self: calls.append(1) or real(self))
    at.run()
    assert not at.exception, at.exception
    assert calls == []
