"""``import-iiif`` as a user runs it: a subprocess against the loopback IIIF server, killed
mid-way and rerun, then the README's path from manifests to a grouped evaluation."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from clipcore.catalog.metadata import METADATA_NAME
from tests.helpers import ROOT, run_cli
from tests.sources.iiif_server import IIIFServer


@pytest.fixture
def server():
    srv = IIIFServer().start()
    yield srv
    srv.stop()


def ok_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_kill_9_mid_import_then_rerun_downloads_only_missing_pages(server, tmp_path):
    out = tmp_path / "books"
    sources = [f"{server.base}/manifests/{b}.json" for b in ("b1", "b2", "b3")]
    server.delay_s = 0.3
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLIPCORE_CONFIG": str(ROOT / "clipcore.toml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clipcore", "import-iiif", *sources, "--out", str(out), "--size", "256",
         "--per-host", "1", "--allow-private", "--json", "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.jpg"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the import finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert 3 <= len(done) < 12
    for rel in done:  # no half files under a page's name
        with Image.open(out / rel) as img:
            img.load()
    asked_before = len(server.requests("/iiif/"))

    server.delay_s = 0.0
    rerun = ok_json(run_cli("import-iiif", *sources, "--out", str(out), "--size", "256", "--allow-private", "--json"))
    assert rerun["skipped"] == len(done) and rerun["downloaded"] == 12 - len(done) and rerun["failed"] == []
    asked_again = server.requests("/iiif/")[asked_before:]
    fetched_again = [p for p in asked_again if not p.endswith("/info.json")]  # level 0: info.json, once per service
    assert len(fetched_again) == 12 - len(done)
    finished_pages = {_page_url_key(out, rel) for rel in done}
    assert not finished_pages & {_url_key(p) for p in asked_again}  # nothing asked about a page it has
    assert not list(out.rglob(".*.tmp"))


def _url_key(path: str) -> tuple[str, int]:
    parts = path.split("/")  # /iiif/<book>/<page>/full/...
    return parts[2], int(parts[3])


def _page_url_key(out: Path, rel: str) -> tuple[str, int]:
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["path"] == rel)
    return row["canvas"].rstrip("/").split("/")[-2], int(row["canvas_position"])


def test_private_address_refused_without_the_flag_and_bad_size_exits_2(server, tmp_path):
    proc = run_cli("import-iiif", f"{server.base}/manifests/b1.json", "--out", str(tmp_path / "o"), "--json")
    assert proc.returncode == 2  # nothing imported and a source failed; the object is still printed
    refused = json.loads(proc.stdout)
    assert refused["downloaded"] == 0 and "private or local address" in refused["failed"][0]["reason"]
    assert "--allow-private" in refused["failed"][0]["reason"]  # a person at a terminal gets the flag
    assert server.log == []
    bad = run_cli("import-iiif", f"{server.base}/manifests/b1.json", "--out", str(tmp_path / "o"), "--size", "1", "--json")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --size must be between")


def test_readme_path_three_manifests_to_a_grouped_evaluation(server, tmp_path):
    """Done-when: a list of three manifests -> import -> ingest with a labels CSV -> embed (tiny,
    untrained) -> evaluate with a grouped split: the hold-out holds whole books only."""
    listing = tmp_path / "manifests.txt"
    listing.write_text("".join(f"{server.base}/manifests/{b}.json\n" for b in ("b1", "b2", "b3")))
    out, ws = tmp_path / "books", tmp_path / "ws"
    imported = ok_json(run_cli("import-iiif", str(listing), "--out", str(out), "--size", "256", "--allow-private", "--json"))
    assert (imported["manifests"], imported["downloaded"], imported["skipped"], imported["failed"]) == (3, 12, 0, [])

    # The labels CSV: the pages file with a label column (book, page -> class).
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        for r in rows:
            w.writerow([r["path"], "text" if int(r["page"]) <= 2 else "illustration"])

    ing = ok_json(run_cli("ingest", str(out), "--workspace", str(ws), "--labels-csv", str(labels), "--json"))
    assert ing["added"] == 12 and ing["labelled"] == 12 and ing["skipped"] == []
    emb = ok_json(run_cli("embed", "--workspace", str(ws), "--model", "tiny", "--json"))
    assert emb["embedded"] == 12
    frozen = ok_json(run_cli("split", "freeze", "--workspace", str(ws), "--group-by", "group", "--json"))
    assert frozen["split"]["group_by"] == "group" and frozen["created"]
    ev = ok_json(run_cli("evaluate", "--workspace", str(ws), "--model", "tiny", "--k", "1",
                         "--draws", "1", "--methods", "zero_shot,knn", "--json"))
    assert ev["split"]["group_by"] == "group" and ev["split"]["test_ids"] == frozen["split"]["test_ids"]

    from clipcore.catalog.metadata import image_groups
    from clipcore.catalog.store import Workspace

    w = Workspace(ws, create=False)
    groups = image_groups(w)
    test_ids = set(ev["split"]["test_ids"])
    test_books = {groups[i] for i in test_ids}
    assert test_books and len(test_books) < 3
    assert test_ids == {i for i, g in groups.items() if g in test_books}  # whole books only
    w.close()


def test_labels_csv_by_book_and_page(server, tmp_path):
    """A labels CSV that names pages as (book, page) -- by book folder or by title -- labels
    exactly those pages; a page number that is not a number is one line, exit 2."""
    listing = tmp_path / "manifests.txt"
    listing.write_text("".join(f"{server.base}/manifests/{b}.json\n" for b in ("b1", "b2")))
    out, ws = tmp_path / "books", tmp_path / "ws"
    ok_json(run_cli("import-iiif", str(listing), "--out", str(out), "--size", "128", "--allow-private", "--json"))
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    books = sorted({r["book"] for r in rows})
    first, second = [r for r in rows if r["book"] == books[0]], [r for r in rows if r["book"] == books[1]]
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["book", "page", "label"])
        w.writerow([first[0]["book"], first[0]["page"], "cover"])  # by folder name
        w.writerow([second[1]["book_label"], second[1]["page"], "text"])  # by title
    ing = ok_json(run_cli("ingest", str(out), "--workspace", str(ws), "--labels-csv", str(labels), "--json"))
    assert ing["labelled"] == 2

    from clipcore.catalog.store import Workspace

    w = Workspace(ws, create=False)
    by_path = {w.images([i])[0].path: label for i, label in w.ground_truth().items()}
    w.close()
    assert by_path == {first[0]["path"]: "cover", second[1]["path"]: "text"}

    labels.write_text(f"book,page,label\n{books[0]},one,cover\n")
    bad = run_cli("ingest", str(out), "--workspace", str(ws), "--labels-csv", str(labels))
    assert bad.returncode == 2 and "page must be a page number" in bad.stderr


def test_exit_status_2_only_when_nothing_imported_and_a_source_failed(server, tmp_path):
    out = str(tmp_path / "o")
    good, bad = f"{server.base}/manifests/b1.json", f"{server.base}/missing.json"
    mixed = run_cli("import-iiif", good, bad, "--out", out, "--size", "128", "--allow-private", "--json")
    assert mixed.returncode == 0 and json.loads(mixed.stdout)["downloaded"] == 4  # one failure, pages imported
    rerun = ok_json(run_cli("import-iiif", good, "--out", out, "--size", "128", "--allow-private", "--json"))
    assert (rerun["downloaded"], rerun["skipped"], rerun["failed"]) == (0, 4, [])  # complete already: exit 0
    failed = run_cli("import-iiif", bad, "--out", out, "--allow-private", "--json")
    assert failed.returncode == 2 and json.loads(failed.stdout)["failed"][0]["reason"] == "HTTP 404 Not Found"
    assert failed.stderr.strip().splitlines()[-1] == "error: nothing was imported and a source failed (see failed)"
    human = run_cli("import-iiif", bad, "--out", out, "--allow-private")
    assert human.returncode == 2 and "failed 1" in human.stdout


def test_language_flag_picks_the_title_language(server, tmp_path):
    svc = f"{server.base}/iiif/b1/1"
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({
        "@context": "http://iiif.io/api/presentation/3/context.json", "id": "https://example.org/m/1", "type": "Manifest",
        "label": {"en": ["The tale"], "fr": ["Le conte"]},
        "items": [{"id": "https://example.org/c/1", "type": "Canvas", "width": 10, "height": 10, "items": [
            {"id": "https://example.org/p/1", "type": "AnnotationPage", "items": [
                {"id": "https://example.org/a/1", "type": "Annotation", "motivation": "painting",
                 "body": {"id": f"{svc}/full/full/0/default.jpg", "type": "Image", "width": 1200, "height": 1600,
                          "service": [{"@id": svc, "@type": "ImageService2", "profile": "level2"}]}}]}]}],
    }))
    fr = ok_json(run_cli("import-iiif", str(manifest), "--out", str(tmp_path / "o"), "--size", "128",
                         "--allow-private", "--language", "fr", "--json"))
    assert [b["label"] for b in fr["books"]] == ["Le conte"] and fr["downloaded"] == 1
    with (tmp_path / "o" / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        (row,) = csv.DictReader(fh)
    assert json.loads(row["book_label_languages"]) == {"en": "The tale"}


def test_an_import_job_that_imports_nothing_is_a_failed_job(server, tmp_path):
    """A job reports success only if it succeeded: the CLI's exit 2 is the job's failure."""
    from clipcore.catalog.store import Workspace
    from clipcore.jobkinds import start_kind
    from tests.helpers import wait_for_job

    ws = Workspace(tmp_path / "ws")
    job_id = start_kind(ws, "import-iiif", urls=[f"{server.base}/missing.json"], out=str(tmp_path / "o"))
    job = wait_for_job(ws, job_id, timeout=120)
    assert job["status"] == "failed" and job["message"].startswith("nothing was imported; 1 failed, the first: "), job
