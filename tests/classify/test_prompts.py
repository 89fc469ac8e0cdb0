"""Prompt sets: rename, duplicate, and the editor's row form."""

from __future__ import annotations

import pytest

from clipcore.errors import InputError
from clipcore.classify.prompts import (
    classes_from_rows,
    duplicate_prompt_set,
    list_prompt_sets,
    load_prompt_set,
    prompt_set_versions,
    rename_prompt_set,
    rows_from_classes,
    save_prompt_set,
    validate_classes,
)

A = {"cover": ["book cover"], "text": ["printed text"]}
B = {"cover": ["book binding"], "text": ["printed text", "cursive ideograms"]}


def test_rename_keeps_every_version(workspace):
    save_prompt_set(workspace, "draft", A)
    save_prompt_set(workspace, "draft", B, ["a scan of {}"])
    assert rename_prompt_set(workspace, "draft", "  final ") == 2
    assert [v.version for v in prompt_set_versions(workspace, "final")] == [2, 1]
    assert load_prompt_set(workspace, "final", 1).classes == A
    assert load_prompt_set(workspace, "final").templates == ["a scan of {}"]
    with pytest.raises(InputError, match="no prompt set 'draft'"):
        load_prompt_set(workspace, "draft")


def test_rename_refuses_taken_empty_or_unknown_names(workspace):
    save_prompt_set(workspace, "one", A)
    save_prompt_set(workspace, "two", B)
    with pytest.raises(InputError, match="already exists"):
        rename_prompt_set(workspace, "one", "two")
    with pytest.raises(InputError, match="empty"):
        rename_prompt_set(workspace, "one", "  ")
    with pytest.raises(InputError, match="no prompt set 'nope'"):
        rename_prompt_set(workspace, "nope", "three")
    assert {s.name for s in list_prompt_sets(workspace)} == {"one", "two"}


def test_duplicate_copies_a_chosen_version_as_a_new_set(workspace):
    save_prompt_set(workspace, "src", A, ["a scan of {}"])
    save_prompt_set(workspace, "src", B)
    copy = duplicate_prompt_set(workspace, "src", "copy", version=1)
    assert (copy.name, copy.version, copy.classes, copy.templates) == ("copy", 1, A, ["a scan of {}"])
    assert load_prompt_set(workspace, "src").classes == B  # the source is untouched
    with pytest.raises(InputError, match="already exists"):
        duplicate_prompt_set(workspace, "src", "copy")
    with pytest.raises(InputError, match="version 9"):
        duplicate_prompt_set(workspace, "src", "other", version=9)


def test_rows_round_trip_and_blank_rows_are_ignored():
    rows = rows_from_classes(B)
    assert rows == [("cover", "book binding"), ("text", "printed text"), ("text", "cursive ideograms")]
    noisy = rows + [("", ""), (None, None), (float("nan"), float("nan"))]
    assert classes_from_rows(noisy) == B


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("cover", "book cover")], "at least 2 classes"),
        ([("cover", "book cover"), ("text", "  ")], "has no prompt"),
        ([("cover", "book cover"), ("", "orphan prompt")], "empty name"),
        ([("cover", "book cover"), ("text", "x" * 2001)], "2001 characters"),
    ],
)
def test_editor_rows_are_validated_with_clear_messages(rows, message):
    with pytest.raises(InputError, match=message):
        validate_classes(classes_from_rows(rows))


def test_an_unchanged_save_stores_no_version_and_compare_starts_with_the_two_newest(workspace):
    from clipcore.classify.prompts import newest_versions, prompt_set_versions, save_prompt_set

    classes = {"map": ["a map"], "text": ["printed text"]}
    first = save_prompt_set(workspace, "mine", classes)
    again = save_prompt_set(workspace, "mine", {"map": ["a map"], "text": ["printed text"]})
    assert first.created and not again.created and again.version == first.version == 1
    assert len(prompt_set_versions(workspace, "mine")) == 1
    changed = save_prompt_set(workspace, "mine", {"map": ["a map", "an atlas page"], "text": ["printed text"]})
    assert changed.created and changed.version == 2
    other = save_prompt_set(workspace, "other", classes, ["a scan of {}"])
    assert newest_versions(workspace, 2) == [("other", 1), ("mine", 2)]
    assert save_prompt_set(workspace, "mine", classes, ["a scan of {}"]).version == 3  # templates count as a change
    assert newest_versions(workspace, 2) == [("mine", 3), ("other", 1)]
    assert other.version == 1


def test_prompt_set_resolution_named_else_latest_else_class_names(workspace):
    from clipcore.classify.prompts import resolve_prompt_set, save_prompt_set

    calls = []

    def classes():
        calls.append(1)
        return ["b", "a", "a"]

    fallback = resolve_prompt_set(workspace, classes=classes)
    assert fallback.name == "class names" and sorted(fallback.classes) == ["a", "b"] and calls == [1]
    assert resolve_prompt_set(workspace) is None  # no set, no classes: nothing to score with
    assert resolve_prompt_set(workspace, classes=["only"]) is None  # one class is no classifier
    save_prompt_set(workspace, "first", {"a": ["an a"], "b": ["a b"]}, [])
    save_prompt_set(workspace, "first", {"a": ["an a", "one a"], "b": ["a b"]}, [])
    save_prompt_set(workspace, "second", {"a": ["a"], "b": ["b"]}, [])
    assert (resolve_prompt_set(workspace, classes=classes).name, len(calls)) == ("second", 1)  # classes never read
    assert resolve_prompt_set(workspace, "first").version == 2
    assert resolve_prompt_set(workspace, "first", 1).classes == {"a": ["an a"], "b": ["a b"]}
    with pytest.raises(InputError, match="no prompt set 'third'"):
        resolve_prompt_set(workspace, "third")


def test_starting_prompt_set_writes_nothing_and_prefers_saved_then_reference_then_class_names(workspace):
    from clipcore.classify.prompts import REFERENCE_PROMPT_SET_NAME, list_prompt_sets, save_prompt_set, starting_prompt_set

    draft, saved = starting_prompt_set(workspace)  # the demo's four classes
    assert (draft.name, saved) == (REFERENCE_PROMPT_SET_NAME, False)
    assert list_prompt_sets(workspace) == []
    draft, saved = starting_prompt_set(workspace, ["wool", "silk"])
    assert (sorted(draft.classes), saved) == (["silk", "wool"], False)
    assert starting_prompt_set(workspace, ["wool"]) == (None, False)
    save_prompt_set(workspace, "mine", {"a": ["x"], "b": ["y"]})
    stored, saved = starting_prompt_set(workspace, ["wool", "silk"])
    assert (stored.name, stored.version, saved) == ("mine", 1, True)


def test_set_and_class_names_are_capped_when_saved_and_old_long_names_still_load(workspace):
    """A prompt set's name is shown in menus, chart titles and file names; a class becomes a
    label. Both are capped where they are saved (walk of issue 18: 500 characters went in)."""
    with pytest.raises(InputError, match="101 characters; at most 100"):
        save_prompt_set(workspace, "n" * 101, A)
    with pytest.raises(InputError, match="one line"):
        save_prompt_set(workspace, "two\nlines", A)
    with pytest.raises(InputError, match="at most 200"):
        save_prompt_set(workspace, "ok", {**A, "c" * 201: ["a long class"]})
    with pytest.raises(InputError, match="one line"):
        save_prompt_set(workspace, "ok", {**A, "two\nlines": ["a class"]})
    kept = save_prompt_set(workspace, "版画　全集 " + "n" * 90, A)  # a full-width space is plain text
    assert kept.name == "版画\u3000全集 " + "n" * 90
    with pytest.raises(InputError, match="at most 100"):
        rename_prompt_set(workspace, kept.name, "r" * 101)
    with pytest.raises(InputError, match="at most 100"):
        duplicate_prompt_set(workspace, kept.name, "d" * 101)
    with workspace.transaction() as conn:  # a set saved before the cap
        conn.execute("UPDATE prompt_sets SET name = ? WHERE name = ?", ("o" * 500, kept.name))
    assert load_prompt_set(workspace, "o" * 500).classes == A
    assert rename_prompt_set(workspace, "o" * 500, "short") == 1
