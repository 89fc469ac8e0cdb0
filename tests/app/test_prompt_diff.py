"""Zero-shot's "Compare versions": the prompt diff per class and the grid of images whose
prediction flipped, checked against predictions made image by image outside the app."""

from __future__ import annotations

from clipcore.classify.prompts import load_prompt_set, save_prompt_set
from clipcore.classify.zeroshot import build_classifier, classify_matrix
from clipcore.embedding.models import load_model
from tests.app.test_zero_shot_page import _open
from tests.gridview import grid_tiles
from tests.helpers import app_workspace

V1 = {"cover": ["book cover"], "text": ["printed text"], "blank page": ["an empty page"]}
V2 = {"cover": ["book binding", "book cover"], "text": ["cursive Japanese ideograms"], "illustration": ["a woodblock print"]}


def test_the_diff_and_the_flipped_images(app_config):
    ws = app_workspace(app_config)
    save_prompt_set(ws, "mine", V1)
    save_prompt_set(ws, "mine", V2)
    at = _open()
    at.selectbox(key="zs_cmp_a").set_value(("mine", 1))
    at.selectbox(key="zs_cmp_b").set_value(("mine", 2)).run()
    assert not at.exception

    (table,) = [t.value for t in at.table]
    rows = {c: r for c, r in table.to_dict("index").items()}
    assert set(rows) == {"cover", "text", "blank page", "illustration"}  # every class changed somehow
    assert (rows["cover"]["change"], rows["cover"]["added (B only)"], rows["cover"]["kept"]) == ("changed", "book binding", "book cover")
    assert (rows["text"]["removed (A only)"], rows["text"]["added (B only)"]) == ("printed text", "cursive Japanese ideograms")
    assert rows["blank page"]["change"] == "only in A" and rows["illustration"]["change"] == "only in B"

    model = load_model("tiny", precision="fp32", device="cpu")
    matrix = ws.load_embeddings(model.info.key)
    pa = dict(zip(matrix.ids.tolist(), classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 1)), matrix).predicted))
    pb = dict(zip(matrix.ids.tolist(), classify_matrix(build_classifier(model, load_prompt_set(ws, "mine", 2)), matrix).predicted))
    flipped = {i for i in pa if pa[i] != pb[i]}
    assert flipped  # the illustration class exists only in B: the test sees flips
    tiles = grid_tiles(at, "zs-flips", with_notes=True)
    assert {i for i, _, _ in tiles} == flipped
    truth = ws.ground_truth()
    for i, _, note in tiles:
        assert note.startswith(f"A {pa[i]} → B {pb[i]}") and note.endswith(f"(truth {truth[i]})")
    assert any(f"{len(flipped)} of {len(pa)} images changed class" in c.value for c in at.caption)

    fixed = {i for i in flipped if truth.get(i) == pb[i]}
    at.radio(key="zs_flip_kind").set_value("fixed").run()
    assert {i for i, _ in grid_tiles(at, "zs-flips")} == fixed
