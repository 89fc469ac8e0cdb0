"""Model choice from a list (Evaluate, "Embed with another model"): open_clip's known
architectures with their pretrained tags, chosen from a select box that fills the typed
fields (which stay editable)."""

from __future__ import annotations

import open_clip

from clipcore.embedding.models import known_models
from tests.app.test_compare_models_page import _open


def test_known_models_are_open_clips_list_with_tiny_first():
    known = known_models()
    assert known[0] == ("tiny", "")
    assert known[1:] == [tuple(p) for p in open_clip.list_pretrained()]
    assert ("ViT-B-32", "laion2b_s34b_b79k") in known


def test_choosing_from_the_list_fills_the_fields_and_typing_still_works(app_config):
    at = _open("app_pages/evaluate.py")
    box = at.selectbox(key="mc_known")
    assert len(box.options) == len(known_models())
    box.set_value(("ViT-B-16", "openai")).run()
    assert not at.exception
    assert (at.text_input(key="mc_arch").value, at.text_input(key="mc_tag").value) == ("ViT-B-16", "openai")
    assert not any("Session State" in w.value for w in at.warning)
    # Typed entry still possible: the fields stay text inputs (typing is tested in
    # tests/app/test_compare_models_page.py); the chosen pair goes through the same check.
    next(b for b in at.button if b.label == "Embed with this model").click()
    at.run()
    assert not at.exception
    said = [m.value for m in [*at.error, *at.success]]
    assert any("openai" in m or "ViT-B-16" in m for m in said), said
