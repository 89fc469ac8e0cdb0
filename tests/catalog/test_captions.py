"""Captions that tell images apart (clipcore.catalog.metadata.distinct_names) and the current
labels of a few ids (clipcore.catalog.labels.labels_of)."""

from __future__ import annotations

from clipcore.catalog import labels as lbl
from clipcore.catalog.metadata import distinct_names


def test_unique_file_names_stay_bare():
    assert distinct_names(["a/x.jpg", "b/y.jpg", "z.png"]) == ["x.jpg", "y.jpg", "z.png"]


def test_repeated_file_names_carry_their_folder():
    names = distinct_names(["book-a/0001.jpg", "book-b/0001.jpg", "book-a/0002.jpg", "0001.jpg"])
    assert names == ["0001.jpg · book-a", "0001.jpg · book-b", "0002.jpg", "0001.jpg · (top folder)"]


def test_a_place_given_wins_over_the_folder():
    names = distinct_names(["g1/0001.jpg", "g2/0001.jpg"], ["Tale of Genji p. 1", None])
    assert names == ["0001.jpg · Tale of Genji p. 1", "0001.jpg · g2"]


def test_labels_of_reads_the_current_label_of_the_ids_asked(workspace):
    ids = [int(i) for i in workspace.image_ids()][:4]
    lbl.record_batch(workspace, "cover", ids[:2], annotator="alice", source={"kind": "text"})
    batch = lbl.record_batch(workspace, "text", ids[1:3], annotator="bob", source={"kind": "text"})
    assert lbl.labels_of(workspace, ids) == {ids[0]: "cover", ids[1]: "text", ids[2]: "text"}
    assert lbl.labels_of(workspace, ids[3:]) == {}
    lbl.revert_batch(workspace, batch, annotator="bob")
    assert lbl.labels_of(workspace, ids) == {ids[0]: "cover", ids[1]: "cover"}
    assert lbl.labels_of(workspace, ids) == {i: c for i, c in lbl.current_labels(workspace).items() if i in ids}
