"""AppTest of the Home page: status, and ingest/embed jobs started from the UI."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.helpers import app_workspace

from clipcore import UNTRAINED_WARNING
from clipcore.catalog.jobs import list_jobs

from tests.helpers import wait_for_job as _wait
from clipcore.embedding.models import embedding_set_key

TINY_KEY = embedding_set_key("tiny")  # the untrained tiny model's embedding-set key

ROOT = Path(__file__).resolve().parents[2]


_ws = app_workspace


def test_home_shows_status(app_config):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any(UNTRAINED_WARNING in w.value for w in at.warning)
    values = {m.label: m.value for m in at.metric}
    assert values["Images"] == "32"
    assert values["Embedded"] == "100%"
    assert at.button(key="home_embed").disabled  # nothing is missing


def test_ingest_then_embed_jobs_from_the_ui(app_config, demo_dir, tmp_path):
    # Point the configured source at a copy with 3 more images, as if files were added.
    src = tmp_path / "src"
    shutil.copytree(demo_dir, src)
    extra = sorted((demo_dir / "text").iterdir())[:3]
    for i, f in enumerate(extra):
        shutil.copy(f, src / "text" / f"new-{i}.jpg")
        (src / "text" / f"new-{i}.jpg").write_bytes(f.read_bytes() + bytes([i]))  # distinct content
    app_config.write_text(app_config.read_text().replace(f'source = "{demo_dir}"', f'source = "{src}"'))
    ws = _ws(app_config)

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert any(str(src) in t.value for t in at.text)
    at.button(key="home_ingest").click().run()
    assert not at.exception
    job = list_jobs(ws)[0]
    assert job["kind"] == "ingest" and job["args"][0] == str(src)
    assert _wait(ws, job["id"])["status"] == "done"
    assert ws.counts()["images"] > 32

    at.run()
    missing = ws.counts()["images"] - 32
    embed = at.button(key="home_embed")
    assert embed.label == f"Embed {missing:,} missing" and not embed.disabled
    embed.click().run()
    job = list_jobs(ws)[0]
    assert job["kind"] == "embed" and "--model" in job["args"] and "tiny" in job["args"]
    assert _wait(ws, job["id"])["status"] == "done", job
    at.run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Embedded"] == "100%"
    assert any(df.value["status"].tolist()[:2] == ["done", "done"] for df in at.dataframe if "status" in df.value)


def test_home_sample_shows_every_class_not_the_first_files():
    from clipcore.catalog.sample import varied_sample

    ids = list(range(100))
    truth = {i: f"class{i // 25}" for i in ids}  # four classes in file order
    sample = varied_sample(ids, truth, 12)
    assert len(sample) == 12 and len(set(sample)) == 12
    assert {truth[i] for i in sample[:4]} == {"class0", "class1", "class2", "class3"}
    spread = varied_sample(ids, {}, 10)
    assert spread == list(range(0, 100, 10))


def test_damaged_vectors_are_named_and_rebuilt_from_home(app_config):
    """A truncated vectors file: every page says the embeddings are damaged (not "nothing
    embedded"), and Home's Rebuild embeddings starts an embed job with --rebuild that mends it."""
    ws = _ws(app_config)
    for f in (ws.root / "embeddings").rglob("vectors*.f32"):
        f.write_bytes(f.read_bytes()[: 4 * 16])  # a few floats left
    assert TINY_KEY in ws.damaged_embeddings()
    search = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    search.switch_page("app_pages/search.py")
    search.run()
    assert not search.exception
    assert any("damaged" in e.value and "Rebuild embeddings" in e.value for e in search.error), [e.value for e in search.error]
    assert not any("No images" in i.value for i in search.info)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("damaged" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "home_embed"]  # no "Embed 0 missing" beside it
    rebuild = at.button(key="home_rebuild")
    assert not rebuild.disabled
    rebuild.click().run()
    assert not at.exception
    job = list_jobs(ws)[0]
    assert job["kind"] == "embed" and "--rebuild" in job["args"]
    _wait(ws, job["id"])
    assert ws.damaged_embeddings() == {}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not any("damaged" in e.value for e in at.error)
    assert at.button(key="home_embed").disabled
