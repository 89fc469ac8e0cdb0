"""AppTest: a second model on one collection. An admin embeds it as a job from Evaluate (form
errors name the fields); Zero-shot's "Compare models" tab and Evaluate's error-rate table
then show one row per model, with the same prompt set, untrained ones marked."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from clipcore.catalog.jobs import list_jobs
from clipcore.classify.evaluation import list_runs
from clipcore.classify.splits import freeze_split
from clipcore.embedding.models import embedding_set_key, load_model, record_embedding_model
from clipcore.embedding.pipeline import embed_workspace
from tests.app.test_roles import team  # noqa: F401 (fixture)
from tests.helpers import app_workspace, wait_for_job
from ui.core.text import md
from tests.test_cli_models import save_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TINY_KEY = embedding_set_key("tiny")


def _open(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def _submit(at: AppTest, arch: str, tag: str, checkpoint: str) -> AppTest:
    at.text_input(key="mc_arch").set_value(arch)
    at.text_input(key="mc_tag").set_value(tag)
    at.text_input(key="mc_checkpoint").set_value(checkpoint)
    next(b for b in at.button if b.label == "Embed with this model").click()
    at.run()
    assert not at.exception, at.exception
    return at


def _second_set(app_config: Path):
    """The demo workspace embedded with a second model: tiny from a checkpoint with another seed."""
    ws = app_workspace(app_config)
    ckpt = app_config.parent / "models" / "tiny-seed5.pt"
    ckpt.parent.mkdir(exist_ok=True)
    save_tiny_checkpoint(ckpt, seed=5)
    model = load_model("tiny", checkpoint=ckpt, precision="fp32", device="cpu")
    embed_workspace(ws, model, batch_size=16)
    record_embedding_model(ws, model.info)
    return ws, model.info.key


def test_admin_embeds_with_a_second_model_as_a_job(app_config):
    ws = app_workspace(app_config)
    folder = app_config.parent / "models"
    folder.mkdir()
    save_tiny_checkpoint(folder / "tiny-seed5.pt", seed=5)
    at = _open("app_pages/evaluate.py")

    _submit(at, "no-such-net", "", "")
    assert any(e.value.startswith("Architecture") and md("no-such-net") in e.value for e in at.error), [e.value for e in at.error]
    _submit(at, "tiny", "laion2b_s34b_b79k", "")
    assert any(e.value.startswith("Pretrained tag") for e in at.error)
    _submit(at, "tiny", "", str(app_config.parent / "outside.pt"))
    assert any(e.value.startswith("Local checkpoint") for e in at.error)
    assert not [j for j in list_jobs(ws) if j["kind"] == "embed"]

    _submit(at, "tiny", "", "tiny-seed5.pt")
    jobs = [j for j in list_jobs(ws) if j["kind"] == "embed"]
    assert len(jobs) == 1 and "--checkpoint" in jobs[0]["args"]
    assert wait_for_job(ws, jobs[0]["id"], timeout=240)["status"] == "done"
    keys = ws.embedding_keys()
    assert len(keys) == 2 and keys[TINY_KEY] == 32
    other = next(k for k in keys if k != TINY_KEY)
    assert keys[other] == 32 and "/sha256-" in other


def test_zero_shot_compare_models_tab_has_one_row_per_model(app_config):
    ws, other = _second_set(app_config)
    at = _open("app_pages/zero_shot.py")
    assert any("Freeze the hold-out on the Evaluate page" in i.value for i in at.info)
    freeze_split(ws)
    at = _open("app_pages/zero_shot.py")
    table = next(df.value for df in at.dataframe if "hold-out images" in df.value)
    assert table["model"].tolist() == ["tiny (untrained)", "tiny (tiny-seed5.pt) (untrained)"]
    assert all(table["accuracy"].str.endswith("%")) and set(table["note"]) == {"untrained: not meaningful"}
    assert any("each model's own text encoder" in c.value for c in at.caption)


def test_evaluate_runs_every_chosen_model_one_row_each(app_config):
    ws, other = _second_set(app_config)
    freeze_split(ws)
    at = _open("app_pages/evaluate.py")
    assert at.multiselect(key="ev_models").value == [other]
    at.multiselect(key="ev_methods").set_value(["zero_shot", "logreg"])
    at.multiselect(key="ev_ks").set_value([1])
    at.number_input(key="ev_draws").set_value(1)
    next(b for b in at.button if b.label == "Run evaluation").click().run()
    assert not at.exception, at.exception
    job = next(j for j in list_jobs(ws) if j["kind"] == "evaluate")
    assert "--models" in job["args"]
    assert wait_for_job(ws, job["id"], timeout=240)["status"] == "done"
    assert [m["key"] for m in list_runs(ws, "evaluation")[0]["settings"]["models"]] == [TINY_KEY, other]

    at = _open("app_pages/evaluate.py")
    methods = next(df.value for df in at.dataframe if "method" in df.value)["method"].tolist()
    assert len(methods) == 4
    assert sum(m.endswith("· tiny (untrained)") for m in methods) == 2
    assert sum(m.endswith("· tiny (tiny-seed5.pt) (untrained)") for m in methods) == 2
    assert sum(m.startswith("zero-shot") for m in methods) == 2  # the same prompt set on each model


def _embedded_per_model(at: AppTest) -> list[dict]:
    (table,) = [d.value for d in at.dataframe if list(d.value.columns) == ["model", "embedded", "share"]]
    return table.to_dict("records")


def test_home_embeds_with_a_second_model_and_lists_what_each_model_embedded(app_config):
    from clipcore.embedding.models import describe_key

    ws = app_workspace(app_config)
    folder = app_config.parent / "models"
    folder.mkdir()
    save_tiny_checkpoint(folder / "tiny-seed5.pt", seed=5)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()  # Home
    assert not at.exception, at.exception
    assert any(e.label == "Embed with another model" for e in at.expander)
    assert len(_embedded_per_model(at)) == 1
    _submit(at, "tiny", "", "tiny-seed5.pt")
    (job,) = [j for j in list_jobs(ws) if j["kind"] == "embed"]
    assert "--checkpoint" in job["args"]
    assert wait_for_job(ws, job["id"], timeout=240)["status"] == "done"
    at.run()
    assert not at.exception, at.exception
    other = next(k for k in ws.embedding_keys() if k != TINY_KEY)
    rows = _embedded_per_model(at)
    assert sorted((r["model"], r["embedded"]) for r in rows) == sorted([(describe_key(TINY_KEY), 32), (describe_key(other), 32)])


def test_home_offers_no_second_model_to_annotators_or_viewers(team):
    from tests.app.test_roles import ALICE, GUEST, _app, _user

    for who in (ALICE, GUEST):
        at = _app(_user(who))
        assert not at.exception, at.exception
        assert not any(e.label == "Embed with another model" for e in at.expander)
        assert not [b for b in at.button if b.label == "Embed with this model"]
