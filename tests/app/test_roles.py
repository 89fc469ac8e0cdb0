"""Sign-in and roles, per page, with AppTest's ``at.user`` (OIDC mode) and a stubbed
request (proxy mode): what each role is shown and what it is refused, including in the
widget callbacks that write (they run before the page's own check)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.config import load_settings
from clipcore.team.audit import read_actions, record_action
from tests.gridview import assign_tiles, can_assign, grid_ids
from tests.helpers import app_workspace
from ui.core.text import md

ROOT = Path(__file__).resolve().parents[2]
LEAD, ALICE, BOB, GUEST = "lead@lab.org", "alice@lab.org", "bob@lab.org", "guest@elsewhere.org"
ROLE_OF = {"admin": LEAD, "annotator": ALICE, "viewer": GUEST}
PAGES = ["app_pages/search.py", "app_pages/zero_shot.py", "app_pages/few_shot.py", "app_pages/label.py", "app_pages/evaluate.py"]

TEAM = f"""
[auth]
mode = "oidc"
identity = "email"
admins = ["{LEAD}"]
annotators = ["{ALICE}", "{BOB}"]
viewers = ["*"]
"""


@pytest.fixture
def team(app_config):
    app_config.write_text(app_config.read_text() + TEAM)
    return app_config


def _user(email: str, **extra) -> dict:
    return {
        "is_logged_in": True, "email": email, "email_verified": True, "sub": f"sub-{email}",
        "name": email.split("@")[0].title(), **extra,
    }


def _app(user: dict | None, page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if user is not None:
        at.user = user
    for k, v in query.items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def _signed_out(at: AppTest) -> bool:
    return [t.value for t in at.title] == ["Sign in"] and not at.metric and not at.get("html")


@pytest.mark.parametrize("page", [None, *PAGES])
def test_a_visitor_who_is_not_signed_in_sees_only_the_sign_in_page(team, page):
    at = _app({"is_logged_in": False}, page)
    assert _signed_out(at)
    assert at.button(key="auth_sign_in").label == "Sign in"


def test_a_sign_in_older_than_the_session_limit_is_signed_out(team):
    at = _app(_user(ALICE, iat=time.time() - 13 * 3600), "app_pages/label.py")
    assert _signed_out(at)
    at = _app(_user(ALICE, iat=time.time() - 60), "app_pages/label.py")
    assert not _signed_out(at)


@pytest.mark.parametrize("role", ["viewer", "annotator", "admin"])
def test_what_each_role_is_shown_on_every_page(team, role):
    user = _user(ROLE_OF[role])
    home = _app(user)
    assert any(md(ROLE_OF[role]) in c.value and role in c.value for c in home.sidebar.caption)
    assert home.button(key="home_ingest").disabled == (role != "admin")

    search = _app(user, "app_pages/search.py")
    search.text_input(key="search_text").input("a book cover").run() if _has_text_input(search, "search_text") else None
    assert not search.exception

    zs = _app(user, "app_pages/zero_shot.py")
    assert zs.button(key="zs_save").disabled == (role == "viewer")
    # issue 19, attack 7: the prompt lab's heavy scoring is for those who may save prompts
    assert any("Suggesting prompts is for annotators" in i.value for i in zs.info) == (role == "viewer")

    fs = _app(user, "app_pages/few_shot.py")
    assert not fs.exception

    label = _app(user, "app_pages/label.py")
    assert not [t for t in label.sidebar.text_input if t.key == "annotator_name"]  # no name box with sign-in on
    if role == "viewer":
        assert any("does not label" in i.value for i in label.info)
        assert not can_assign(label)
    else:
        assert can_assign(label) and grid_ids(label)

    ev = _app(user, "app_pages/evaluate.py")
    buttons = {b.label: b for b in ev.button}
    assert buttons["Freeze hold-out"].disabled == (role != "admin")  # evaluation set-up and runs are admin work
    assert buttons["Run evaluation"].disabled  # no split yet; for everyone but admins also by role


def test_an_unverified_email_is_not_let_in(team):
    """Attack 1: `sub-mallory` with lead@lab.org, not verified, was shown as the admin."""
    mallory = {"is_logged_in": True, "sub": "sub-mallory", "name": "Mallory", "email": LEAD, "email_verified": False}
    at = _app(mallory, "app_pages/label.py")
    assert [t.value for t in at.title] == ["Sign in"] and not at.metric and not at.get("html")
    assert any("has not verified the email" in w.value for w in at.warning)
    assert not [c for c in at.sidebar.caption if "admin" in c.value]
    assert at.button(key="auth_refused_sign_out")


def test_a_sub_spelled_like_the_admins_email_is_not_the_admin(team):
    """Attack 1: a user whose `sub` is the string lead@lab.org got admin."""
    at = _app(_user("mallory@elsewhere.org", sub=LEAD))
    assert any("viewer" in c.value for c in at.sidebar.caption)  # viewers = ["*"]
    assert at.button(key="home_ingest").disabled


def test_batches_made_before_the_identity_setting_keep_their_owner(team):
    """identity = "email" keeps today's ids (the email), so a batch recorded before the
    change is still the annotator's own to undo; ``clipcore.catalog.labels.rename_annotator``
    moves batches to new ids for a team that switches to ``sub``."""
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()][:3]
    lbl.record_batch(ws, "cover", ids, annotator=ALICE, source={"kind": "text"})  # the old app recorded the email
    at = _app(_user(ALICE), "app_pages/label.py")
    at.button(key="label_undo").click().run()
    assert not at.exception and lbl.current_labels(ws) == {}


def test_the_demo_is_built_on_an_admins_visit_not_a_viewers(team, tmp_path):
    """Issue 19, item 7: the first-launch build (ingest + embed in the server) ran for
    whichever visitor came first."""
    empty = tmp_path / "empty-demo-ws"
    text = team.read_text()
    start = text.index('path = "', text.index("[workspaces.demo]")) + len('path = "')
    team.write_text(text[:start] + str(empty) + text[text.index('"', start):])
    _app(_user(GUEST))
    assert not (empty / "catalog.sqlite").exists() or not app_workspace(team).has_images()
    _app(_user(LEAD))
    assert app_workspace(team).has_images()


def _has_text_input(at: AppTest, key: str) -> bool:
    return any(t.key == key for t in at.text_input)


def test_labels_carry_the_signed_in_identity_not_a_typed_or_url_name(team):
    ws = app_workspace(team)
    at = _app(_user(ALICE), "app_pages/label.py", annotator="mallory")
    at.selectbox(key="label_n").set_value(12).run()
    assign_tiles(at)
    assert not at.exception
    (batch,) = lbl.list_batches(ws)
    assert batch["annotator"] == ALICE
    assert at.query_params.get("annotator") in (None, "mallory")  # ignored, never adopted


def test_an_annotator_cannot_revert_a_colleagues_batch_and_an_admin_can(team):
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()][:3]
    bobs = lbl.record_batch(ws, "cover", ids, annotator=BOB, source={"kind": "text"})
    at = _app(_user(ALICE), "app_pages/label.py")
    at.radio(key="label_view").set_value("History").run()
    at.text_input(key="label_revert_id-").input(bobs).run()
    at.button(key="label_revert").click().run()
    assert any("only an admin" in e.value for e in at.error)
    assert lbl.current_labels(ws) == {i: "cover" for i in ids}

    at = _app(_user(LEAD), "app_pages/label.py")
    at.radio(key="label_view").set_value("History").run()
    at.text_input(key="label_revert_id-").input(bobs).run()
    at.button(key="label_revert").click().run()
    assert not at.exception and lbl.current_labels(ws) == {}
    assert lbl.list_batches(ws)[0]["reverted_by"] == LEAD
    (entry,) = read_actions(load_settings(config_path=team).app_data)  # the audit log: who, when, what
    assert (entry["who"], entry["action"]) == (LEAD, "revert") and entry["workspace"]
    assert entry["details"] == {"batch_id": bobs, "labels": 3}


def test_conflicts_are_resolved_by_admins_only(team):
    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()][:2]
    lbl.record_batch(ws, "cover", ids, annotator=ALICE, source={})
    lbl.record_batch(ws, "text", ids, annotator=BOB, source={})
    at = _app(_user(ALICE), "app_pages/label.py")
    at.radio(key="label_view").set_value("Conflicts").run()
    assert not [b for b in at.button if b.key in ("label_resolve", "label_bulk_resolve")]
    at = _app(_user(LEAD), "app_pages/label.py")
    at.radio(key="label_view").set_value("Conflicts").run()
    at.radio(key="label_bulk_rule").set_value("latest").run()
    at.button(key="label_bulk_resolve").click().run()
    assert not at.exception
    assert lbl.find_conflicts(ws) == [] and set(lbl.current_labels(ws).values()) == {"text"}
    (entry,) = read_actions(load_settings(config_path=team).app_data)
    assert (entry["who"], entry["action"], entry["details"]["rule"], entry["details"]["settled"]) == (LEAD, "bulk_resolve", "latest", 2)


def test_a_job_start_is_in_the_audit_log(team, monkeypatch):
    started = []
    monkeypatch.setattr("clipcore.jobkinds.launch_job", lambda ws, command, args: started.append(command) or "job-1")
    at = _app(_user(LEAD))
    at.button(key="home_ingest").click().run()
    assert started == ["ingest"]
    (entry,) = read_actions(load_settings(config_path=team).app_data)
    assert (entry["who"], entry["action"], entry["details"]["command"], entry["details"]["job_id"]) == (LEAD, "job_start", "ingest", "job-1")
    assert "--real-folder" in entry["details"]["args"]


@pytest.mark.parametrize("role", ["annotator", "admin"])
def test_the_audit_log_is_for_admins_and_exports_as_csv(team, role):
    record_action(load_settings(config_path=team).app_data, who=LEAD, action="collection_remove", workspace="old", details={})
    home = _app(_user(ROLE_OF[role]))
    buttons = [b for b in home.get("download_button") if "audit log" in str(b.proto.label)]
    assert len(buttons) == (role == "admin")
    assert any(e.label == "Audit log of admin actions" for e in home.expander) == (role == "admin")


def test_the_assign_callback_checks_the_role_again(team):
    """A page drawn while alice was an annotator; her role is withdrawn before she clicks."""
    ws = app_workspace(team)
    at = _app(_user(ALICE), "app_pages/label.py")
    at.selectbox(key="label_n").set_value(12).run()
    team.write_text(team.read_text().replace(f'annotators = ["{ALICE}", "{BOB}"]', f'annotators = ["{BOB}"]'))
    assign_tiles(at)
    assert lbl.list_batches(ws) == []
    assert any("not allowed to label" in e.value for e in at.error)  # kept on the page, not a toast


def test_a_page_drawn_before_a_colleague_labelled_skips_their_images(team):
    ws = app_workspace(team)
    at = _app(_user(ALICE), "app_pages/label.py")
    at.selectbox(key="label_n").set_value(12).run()
    shown = grid_ids(at)
    lbl.record_batch(ws, "map", shown[:3], annotator=BOB, source={"kind": "cli"})
    assign_tiles(at)
    notice = md("3 images were labelled by bob@lab.org since this page was drawn")
    assert any(notice in w.value for w in at.warning) and not any(notice in t.value for t in at.toast)
    current = lbl.current_labels(ws)
    assert [current[i] for i in shown[:3]] == ["map"] * 3 and len(current) == 12
    at.run()  # the next run of the page: the notice is still there (not a vanishing toast)...
    assert any(notice in w.value for w in at.warning)
    at.button(key="label_notice_dismiss").click().run()  # ...until dismissed
    assert not any(notice in w.value for w in at.warning)


# -- proxy mode and mode none ------------------------------------------------------------

PROXY = '\n[auth]\nmode = "proxy"\ntrusted_proxy = true\nadmins = ["lead"]\n'


def _proxy(monkeypatch, headers: dict, peer: str | None) -> None:
    """Requests as Streamlit would see them: ``headers`` maps a name to its value, or to a
    list of values for a repeated header; the server started with FORWARDED_ALLOW_IPS=""."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    values = {k.lower(): v if isinstance(v, list) else [v] for k, v in headers.items()}
    # by name: the app's ui.core.auth module as it is in sys.modules when the test runs
    monkeypatch.setattr("ui.core.auth._header_values", lambda name: values.get(name.lower(), []))
    monkeypatch.setattr("ui.core.auth._peer_address", lambda: peer)


def test_proxy_mode_signs_in_from_the_header_of_a_trusted_peer(app_config, monkeypatch):
    app_config.write_text(app_config.read_text() + PROXY)
    _proxy(monkeypatch, {"X-Forwarded-User": "carol"}, None)  # None: Streamlit's loopback peer
    at = _app(None, "app_pages/label.py")
    assert not _signed_out(at) and can_assign(at)
    assert any(md("carol") in c.value for c in at.sidebar.caption)


def test_proxy_mode_without_the_header_shows_the_sign_in_page(app_config, monkeypatch):
    app_config.write_text(app_config.read_text() + PROXY)
    _proxy(monkeypatch, {}, None)
    assert _signed_out(_app(None, "app_pages/label.py"))


def test_proxy_mode_ignores_the_header_from_an_untrusted_peer(app_config, monkeypatch):
    app_config.write_text(app_config.read_text() + PROXY)
    _proxy(monkeypatch, {"X-Forwarded-User": "lead"}, "192.0.2.7")  # straight to the app port
    assert _signed_out(_app(None, "app_pages/label.py"))


@pytest.mark.parametrize("sent", [["lead", "carol"], ["lead, carol"]])
def test_proxy_mode_refuses_a_duplicated_or_joined_user_header(app_config, monkeypatch, sent):
    """Attack 2: the client sends `lead`, the proxy appends `carol`; the first value won."""
    app_config.write_text(app_config.read_text() + PROXY)
    _proxy(monkeypatch, {"X-Forwarded-User": sent}, None)
    assert _signed_out(_app(None, "app_pages/label.py"))


def test_proxy_mode_refuses_to_start_while_the_server_rewrites_the_peer(app_config, monkeypatch):
    """Attack 2: uvicorn replaced the local proxy's address with the X-Forwarded-For one."""
    app_config.write_text(app_config.read_text() + PROXY)
    _proxy(monkeypatch, {"X-Forwarded-User": "carol"}, None)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS")
    at = _app(None, "app_pages/label.py")
    assert any(md("FORWARDED_ALLOW_IPS") in e.value for e in at.error) and not at.metric and not at.get("html")


def test_proxy_mode_needs_trusted_proxy(app_config):
    app_config.write_text(app_config.read_text() + '\n[auth]\nmode = "proxy"\n')
    at = _app(None)
    assert any(md("trusted_proxy = true") in e.value for e in at.error) and not at.metric


@pytest.fixture
def listen_address():
    """Set Streamlit's server.address for the in-process app, as a command-line flag would."""
    from streamlit import config

    before = config.get_option("server.address")
    yield lambda value: config.set_option("server.address", value)
    config.set_option("server.address", before)


def test_mode_none_refuses_a_non_loopback_address(app_config, listen_address):
    listen_address("0.0.0.0")
    at = _app(None, "app_pages/label.py")
    assert any("Anyone who can reach it" in e.value for e in at.error)
    assert not at.metric and not at.get("html") and not at.sidebar.text_input
    listen_address("127.0.0.1")
    assert _app(None).metric  # the README's loopback default serves the Home page
