"""AppTest of the ZIP export on the Label page's Export view: the job builds it into the
workspace's exports/ folder, named after the collection, and the page offers it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest

from clipcore.catalog import labels as lbl
from clipcore.catalog.jobs import list_jobs
from tests.app.test_roles import team  # noqa: F401 (fixture)
from tests.helpers import label_view, app_workspace, wait_for_job


def _export_view() -> AppTest:
    return label_view("Export")


def test_a_job_builds_the_zip_and_the_page_offers_it(app_config):
    ws = app_workspace(app_config)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    at = _export_view()
    assert not [b for b in at.get("download_button") if "labels-" in str(b.proto.label)]
    at.button(key="label_zip_build").click().run()
    assert not at.exception
    (job,) = [j for j in list_jobs(ws) if j["kind"] == "export-zip"]
    done = wait_for_job(ws, job["id"], timeout=120)
    assert done["status"] == "done", done
    (path,) = (ws.root / "exports").glob("demo-labels-*.zip")
    with zipfile.ZipFile(path) as zf:
        assert len(zf.namelist()) == 3 and all(n.startswith("cover/") for n in zf.namelist())
    at.run()
    assert not [b for b in at.get("download_button") if "labels-" in str(b.proto.label)]  # read only when asked
    (prepare,) = [b for b in at.button if str(b.label).startswith(f"Prepare {path.name}")]
    prepare.click().run()
    (download,) = [b for b in at.get("download_button") if str(b.proto.label).startswith(f"Download {path.name}")]
    at.run()  # the next click: the file is no longer held for this person
    assert not [b for b in at.get("download_button") if "labels-" in str(b.proto.label)]


def _team_export_view(email: str) -> AppTest:
    from tests.app.test_roles import _app, _user

    at = _app(_user(email), "app_pages/label.py")
    at.radio(key="label_view").set_value("Export").run()
    assert not at.exception, at.exception
    return at


def _zip_downloads(at: AppTest) -> list[str]:
    """The ZIPs offered (each first as a Prepare button), as "Download NAME (SIZE)"."""
    return [str(b.label).replace("Prepare ", "Download ", 1) for b in at.button if str(b.label).startswith("Prepare ")
            and "-labels-" in str(b.label)]


def test_originals_for_admins_thumbnails_for_every_role_that_may_view(team):
    from clipcore.catalog.exportzip import export_zip
    from tests.app.test_roles import ALICE, GUEST, LEAD

    ws = app_workspace(team)
    ids = [int(i) for i in ws.image_ids()]
    lbl.record_batch(ws, "cover", ids[:3], annotator="alice", source={"kind": "text"})
    originals = Path(export_zip(ws, "demo")["zip"]).name  # built earlier by a lead

    at = _team_export_view(LEAD)
    assert at.radio(key="label_zip_content").options == ["Originals (the files as they are)",
                                                         "Thumbnails (small JPEGs, about 256 px)"]
    assert any(lab.startswith(f"Download {originals}") for lab in _zip_downloads(at))

    for who in (ALICE, GUEST):  # an annotator and a viewer: thumbnails only, and never the originals' ZIP
        at = _team_export_view(who)
        assert not [r for r in at.radio if r.key == "label_zip_content"]
        assert any("Thumbnails (small JPEGs" in c.value for c in at.caption)
        assert _zip_downloads(at) == []
    at.button(key="label_zip_build").click().run()
    assert not at.exception
    (job,) = [j for j in list_jobs(ws) if j["kind"] == "export-zip"]
    assert job["args"][job["args"].index("--content") + 1] == "thumbnails"
    done = wait_for_job(ws, job["id"], timeout=120)
    assert done["status"] == "done", done
    (thumbs,) = (ws.root / "exports").glob("demo-labels-thumbnails-*.zip")
    at.run()
    assert [lab.split(" (")[0] for lab in _zip_downloads(at)] == [f"Download {thumbs.name}"]
