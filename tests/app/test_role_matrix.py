"""The role x collection matrix (issue 18): admin, annotator and viewer, each on the demo, an
empty collection and a second collection (the demo's images without ground truth), walk
every page through AppTest (every tab's body runs in AppTest; the Label page's views and
every radio view are switched too). Each page renders without an exception, and every
button a role may not use is disabled or absent.

A button is known by its key or, for form submits (which have none), its label; ``NEEDS``
says which permission (``clipcore.team.roles``) each write needs. A button a viewer sees
enabled must be one of ``VIEWER_MAY`` (looking, paging, downloading): a new write button
fails here until it is classified, so it cannot reach a viewer unchecked.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clipcore.team.roles import allowed
from tests.gridview import grids

ROOT = Path(__file__).resolve().parents[2]
PAGES = [None, "app_pages/search.py", "app_pages/zero_shot.py", "app_pages/few_shot.py", "app_pages/label.py",
         "app_pages/evaluate.py", "app_pages/present.py"]
LEAD, ALICE, GUEST = "lead@lab.org", "alice@lab.org", "guest@elsewhere.org"
ROLE_OF = {"admin": LEAD, "annotator": ALICE, "viewer": GUEST}

# key (or form-submit label) -> the permission it needs
NEEDS = {
    "home_ingest": "start_jobs", "home_download": "start_jobs", "Create and ingest": "start_jobs",
    "Rename": "start_jobs", "Remove from the list": "start_jobs",
    "predict_zero": "start_jobs", "predict_few": "start_jobs",
    "Freeze hold-out": "start_jobs", "Run evaluation": "start_jobs", "Start baseline job": "start_jobs",
    "Embed with this model": "start_jobs",
    "zs_save": "edit_prompts", "zs_rename": "edit_prompts", "zs_duplicate": "edit_prompts", "zs_lab_run": "edit_prompts",
    "label_assign": "label", "label_auto_compute": "label", "label_auto_accept": "label",
    "label_undo": "undo_own", "label_revert": "undo_own",
    "label_resolve": "resolve_conflicts", "label_bulk_resolve": "resolve_conflicts",
    "label_export_folders": "export_files",
    "label_zip_build": "view",  # a ZIP of thumbnails for every role; originals only for export_files (tests/app/test_label_zip.py)
}
# what a viewer may press: looking, paging, choosing what to look at, downloading
VIEWER_MAY = re.compile(
    r"^(auth_sign_out|search_(clear_similar|first|prev|next)|zs_load|zs_new_set|label_(next|all|none|download|zip_build)|"
    r"ev_csv|.*download.*|.*_(prev|next|first|clear).*)$"
)


def _config(tmp_path: Path, demo: Path, second: Path) -> Path:
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text(
        '[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n'
        f'[workspaces.demo]\npath = "{demo}"\n\n'
        f'[workspaces.empty]\npath = "{tmp_path / "empty-ws"}"\n\n'
        f'[workspaces.second]\npath = "{second}"\n\n'
        f'[auth]\nmode = "oidc"\nidentity = "email"\nadmins = ["{LEAD}"]\nannotators = ["{ALICE}"]\nviewers = ["*"]\n'
    )
    return cfg


@pytest.fixture
def matrix_config(_built_workspace, tmp_path, monkeypatch) -> Path:
    from clipcore.catalog.store import Workspace

    demo, second = tmp_path / "demo-ws", tmp_path / "second-ws"
    shutil.copytree(_built_workspace, demo)
    shutil.copytree(_built_workspace, second)
    ws = Workspace(second)
    with ws.transaction() as conn:
        conn.execute("DELETE FROM ground_truth")
    ws.close()
    cfg = _config(tmp_path, demo, second)
    monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
    return cfg


def _buttons(at: AppTest) -> list[tuple[str, bool]]:
    """(key or label, disabled) of every button and form submit on the page now."""
    out = []
    for b in at.button:
        key = b.key or ""
        name = b.label if (not key or key.startswith("FormSubmitter:")) else key
        out.append((name, bool(b.disabled)))
    # The Label page's Assign lives in the grid component (selection in the browser): a
    # selectable grid with an Assign button counts as the enabled button "label_assign".
    out += [("label_assign", False)] if any(g["grid"] == "label-grid" and g["mode"] == "select" and g["assign"] for g in grids(at)) else []
    return out


def _walk(at: AppTest, collection: str, page: str | None) -> list[tuple[str, bool]]:
    """Open ``page`` on ``collection``, switch each radio view; return every button seen."""
    at.query_params["ws"] = collection
    if page:
        at.switch_page(page)
    at.run()
    where = (collection, page)
    assert not at.exception, (where, [e.value for e in at.exception])
    seen = _buttons(at)
    for key in [r.key for r in at.radio if r.key]:
        radio = at.radio(key=key)
        for option in list(radio.options)[1:]:
            at.radio(key=key).set_value(option).run()
            assert not at.exception, (where, key, option, [e.value for e in at.exception])
            seen += _buttons(at)
        at.radio(key=key).set_value(radio.options[0]).run()
    return seen


@pytest.mark.parametrize("collection", ["demo", "empty", "second"])
@pytest.mark.parametrize("role", ["admin", "annotator", "viewer"])
def test_every_page_renders_and_shows_a_role_only_what_it_may_use(matrix_config, role, collection):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.user = {"is_logged_in": True, "email": ROLE_OF[role], "email_verified": True, "sub": f"sub-{role}", "name": role}
    seen: dict[str, set[bool]] = {}
    for page in PAGES:
        for name, disabled in _walk(at, collection, page):
            seen.setdefault(name, set()).add(disabled)
    assert seen, "no button on any page"
    enabled = {name for name, states in seen.items() if False in states}
    forbidden = {name for name in enabled if name in NEEDS and not allowed(role, NEEDS[name])}
    assert not forbidden, (role, collection, sorted(forbidden))
    if role == "viewer":
        unclassified = {name for name in enabled if not VIEWER_MAY.match(name)}
        assert not unclassified, ("a viewer may press these; are they views or writes?", sorted(unclassified))
    if role == "admin" and collection == "demo":
        # the matrix would pass vacuously if the buttons above were never drawn
        assert {"Create and ingest", "zs_save", "label_assign", "Freeze hold-out"} <= enabled, sorted(enabled)
