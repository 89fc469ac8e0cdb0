"""IIIF import against a small IIIF server on loopback: counts, metadata, politeness, limits,
safety, and the books as groups in the workspace."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.labels import export_labels, labels_csv, record_batch
from clipcore.catalog.metadata import METADATA_NAME, ids_matching, image_groups, image_metadata
from clipcore.catalog.store import Workspace
from clipcore.classify.splits import freeze_split
from clipcore.classify.zeroshot import ZeroShotResult, predictions_csv
from clipcore.errors import InputError
from clipcore.retrieval.search import SearchFilters, filter_ids
from clipcore.sources.iiif import USER_AGENT, FetchPolicy, choose_image_url, import_iiif, parse_manifest
from tests.sources.iiif_server import BOOKS, IIIFServer

FAST = FetchPolicy(allow_private=True, timeout_s=0.5, backoff_s=0.05, max_backoff_s=0.2, max_retries=3)


@pytest.fixture
def server():
    srv = IIIFServer().start()
    yield srv
    srv.stop()


def manifest(server, book: str) -> str:
    return f"{server.base}/manifests/{book}.json"


def pages_rows(out: Path) -> list[dict]:
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_import_v2_v3_and_collection_counts_files_and_metadata(server, tmp_path):
    out = tmp_path / "books"
    report = import_iiif([manifest(server, "b1"), f"{server.base}/collection.json"], out, size=300, policy=FAST)
    assert report.manifests == 3 and report.downloaded == 12 and report.skipped == 0 and report.failed == []
    folders = {b["book"]: b for b in report.books}
    assert sorted(b["label"] for b in report.books) == sorted(t for _, t, _, _ in BOOKS.values())
    jpgs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert len(jpgs) == 12 and all(p.split("/")[0] in folders for p in jpgs)
    assert {p.split("/")[1] for p in jpgs} == {"0001.jpg", "0002.jpg", "0003.jpg", "0004.jpg"}
    # The size asked for follows each service's level: !S,S (level 2), ,S on the long side (level 1),
    # at level 0 the smallest listed size that reaches S (from info.json, once per service).
    asked = server.requests("/iiif/")
    assert any(p.startswith("/iiif/b1/") and "/full/!300,300/" in p for p in asked)
    assert any(p.startswith("/iiif/b2/") and "/full/,300/" in p for p in asked)
    assert sorted(p for p in asked if p.startswith("/iiif/b3/")) == sorted(
        [f"/iiif/b3/{n}/info.json" for n in range(1, 5)] + [f"/iiif/b3/{n}/full/300,400/0/default.jpg" for n in range(1, 5)]
    )
    assert not any(p.endswith("info.json") for p in asked if not p.startswith("/iiif/b3/"))  # sizes known: no info.json
    with Image.open(next(out.glob("Genji*/0001.jpg"))) as img:
        assert max(img.size) == 300
    assert {ua for _, _, ua in server.log} == {USER_AGENT}

    rows = pages_rows(out)
    assert len(rows) == 12
    row = next(r for r in rows if r["book_label"] == "Hokusai manga, vol. 2" and r["page"] == "2")
    assert row["path"] == f"{row['book']}/0002.jpg" and row["page_label"] == "2r"
    assert row["manifest"] == manifest(server, "b2") and row["canvas"] == f"{server.base}/canvas/b2/2"
    assert row["attribution"] == "Example Library, CC0" and "publicdomain/zero" in row["license"]
    v2 = next(r for r in rows if r["manifest"] == manifest(server, "b3"))
    # IIIF 2 attribution holds HTML: stored as its text, the script dropped (and escaped wherever shown).
    assert v2["attribution"] == "Provided by Example Library"
    assert v2["book_label"] == "Ehon <i>yamato</i> hiji"  # labels are text: kept as given, escaped when shown


def test_rerun_downloads_only_what_is_missing(server, tmp_path):
    out = tmp_path / "books"
    import_iiif([manifest(server, "b1")], out, size=200, policy=FAST)
    gone = next(out.glob("Genji*/0003.jpg"))
    gone.unlink()
    before = len(server.requests("/iiif/"))
    again = import_iiif([manifest(server, "b1")], out, size=200, policy=FAST)
    assert (again.downloaded, again.skipped) == (1, 3)
    assert server.requests("/iiif/")[before:] == ["/iiif/b1/3/full/!200,200/0/default.jpg"]
    assert len(pages_rows(out)) == 4  # rows merged, not doubled


def test_retries_on_429_500_truncation_and_timeout(server, tmp_path):
    url = "/iiif/b1/{}/full/!128,128/0/default.jpg"
    server.faults[url.format(1)] = ["429"]
    server.faults[url.format(2)] = ["500", "500"]
    server.faults[url.format(3)] = ["truncate"]
    server.faults[url.format(4)] = ["timeout"]
    report = import_iiif([manifest(server, "b1")], tmp_path / "o", size=128, policy=FAST)
    assert report.failed == [] and report.downloaded == 4
    counts = {n: server.requests().count(url.format(n)) for n in range(1, 5)}
    assert counts == {1: 2, 2: 3, 3: 2, 4: 2}
    # Retry-After: 1 was honoured: the retry came at least a second after the 429.
    times = [t for t, p, _ in server.log if p == url.format(1)]
    assert times[1] - times[0] >= 0.95
    for jpg in (tmp_path / "o").rglob("*.jpg"):
        with Image.open(jpg) as img:
            img.load()  # whole files only


def test_persistent_errors_fail_after_bounded_tries_and_others_import(server, tmp_path):
    url = "/iiif/b1/2/full/!128,128/0/default.jpg"
    server.faults[url] = ["500"] * 10
    server.faults["/iiif/b1/3/full/!128,128/0/default.jpg"] = ["429-long"]
    server.faults["/iiif/b1/4/full/!128,128/0/default.jpg"] = ["timeout"] * 10
    server.fault_sleep_s = 1.0
    report = import_iiif([manifest(server, "b1")], tmp_path / "o", size=128, policy=FAST)
    assert report.downloaded == 1
    reasons = {f["url"].removeprefix(server.base): f["reason"] for f in report.failed}
    assert reasons[url] == "HTTP 500 Internal Server Error (after 4 tries)"
    assert server.requests().count(url) == FAST.max_retries + 1
    assert "asked to wait 3600s" in reasons["/iiif/b1/3/full/!128,128/0/default.jpg"]
    slow = "/iiif/b1/4/full/!128,128/0/default.jpg"
    assert reasons[slow] == "timed out: no data for 0.5s (after 4 tries)"
    assert server.requests().count("/iiif/b1/3/full/!128,128/0/default.jpg") == 1
    assert not list((tmp_path / "o").rglob(".*.tmp"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_sources_give_one_reason_each_and_the_rest_import(server, tmp_path):
    listing = tmp_path / "sources.txt"
    listing.write_text(
        f"# my books\n{manifest(server, 'b2')}\n{server.base}/missing.json\n{server.base}/not-a-manifest.json\n"
        f"http://127.0.0.1:{_closed_port()}/m.json\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    report = import_iiif([str(listing), str(broken), str(tmp_path / "nowhere.json")], tmp_path / "o", size=128, policy=FAST)
    assert report.manifests == 1 and report.downloaded == 4
    reasons = [f["reason"] for f in report.failed]
    assert len(reasons) == 5
    assert "HTTP 404 Not Found" in reasons and "not an IIIF manifest (type 'missing')" in reasons
    assert any(r.startswith("cannot connect") for r in reasons)
    assert any(r.startswith("not JSON") for r in reasons) and any(r.startswith("no such file") for r in reasons)


def test_private_addresses_and_local_files_refused_unless_allowed(server, tmp_path):
    local = tmp_path / "m.txt"
    local.write_text(manifest(server, "b1") + "\n")
    strict = FetchPolicy(allow_local_files=False)
    report = import_iiif([manifest(server, "b1"), str(local)], tmp_path / "o", policy=strict)
    assert report.downloaded == 0 and server.log == []  # nothing reached the server
    assert "private or local address" in report.failed[0]["reason"]
    assert report.failed[1]["reason"].startswith("refused: local files are not allowed")
    file_url = import_iiif(["file:///etc/passwd"], tmp_path / "o", policy=strict)
    assert file_url.failed[0]["reason"].startswith("refused")
    hostile = import_iiif([f"{server.base}/hostile-collection.json"], tmp_path / "h", size=128, policy=FAST)
    assert hostile.failed == [{"url": "/etc/passwd", "reason": "refused: a remote collection may only name http(s) URLs"}]
    assert hostile.manifests == 1 and hostile.downloaded == 4
    redirected = import_iiif([f"{server.base}/redirect-ftp"], tmp_path / "o", policy=FAST)
    assert redirected.failed[0]["reason"].startswith("refused: redirect to a non-http(s) URL")


def test_limits_on_images_bytes_and_pixels(server, tmp_path):
    few = import_iiif([manifest(server, "b1")], tmp_path / "a", size=128, policy=FetchPolicy(**{**FAST.__dict__, "max_images": 3}))
    assert (few.downloaded, few.limited) == (3, 1)
    small = FetchPolicy(**{**FAST.__dict__, "max_image_bytes": 500})
    big = import_iiif([manifest(server, "b1")], tmp_path / "b", size=512, policy=small)
    assert big.downloaded == 0 and all(f["reason"].startswith("too large") for f in big.failed)
    few_px = FetchPolicy(**{**FAST.__dict__, "max_image_pixels": 100 * 100})
    px = import_iiif([manifest(server, "b1")], tmp_path / "c", size=512, policy=few_px)
    assert px.downloaded == 0 and all(f["reason"].startswith("too many pixels") for f in px.failed)
    with pytest.raises(InputError, match="--size"):
        import_iiif([manifest(server, "b1")], tmp_path / "d", size=5, policy=FAST)


@pytest.mark.parametrize(
    ("service", "w", "h", "expected"),
    [
        ({"@id": "https://x/i", "profile": "http://iiif.io/api/image/2/level2.json"}, 2000, 3000, "https://x/i/full/!800,800/0/default.jpg"),
        ({"@id": "https://x/i", "profile": ["http://iiif.io/api/image/2/level1.json"]}, 3000, 2000, "https://x/i/full/800,/0/default.jpg"),
        ([{"id": "https://x/i/", "type": "ImageService3", "profile": "level1"}], 2000, 3000, "https://x/i/full/,800/0/default.jpg"),
        ([{"id": "https://x/i", "type": "ImageService3", "profile": "level0"}], 2000, 3000, "https://x/i/full/max/0/default.jpg"),
        ({"@id": "https://x/i", "profile": ["http://iiif.io/api/image/2/level0.json", {"supports": ["sizeByConfinedWh"]}]},
         None, None, "https://x/i/full/!800,800/0/default.jpg"),
        ({"@id": "https://x/i", "profile": "http://iiif.io/api/image/2/level2.json", "maxWidth": 500}, 2000, 3000,
         "https://x/i/full/!500,500/0/default.jpg"),
        ({"@id": "https://x/i", "profile": "http://iiif.io/api/image/2/level2.json"}, 600, 700, "https://x/i/full/full/0/default.jpg"),
        (None, 2000, 3000, "https://x/direct.jpg"),
        ({"@id": "https://x/i/info.json", "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"},
         3000, 2000, "https://x/i/full/800,/0/native.jpg"),
    ],
)
def test_image_url_follows_the_service_profile(service, w, h, expected):
    assert choose_image_url(service, "https://x/direct.jpg", 800, w, h) == expected


def test_not_a_manifest_is_refused_with_its_type():
    from clipcore.sources.iiif import ManifestError

    with pytest.raises(ManifestError, match="sc:Collection|collection"):
        parse_manifest({"@type": "sc:Collection"}, "x")
    with pytest.raises(ManifestError, match="no canvas"):
        parse_manifest({"@type": "sc:Manifest", "sequences": [{"canvases": []}]}, "x")


def test_ingest_stores_books_as_groups_for_every_image_and_keeps_books_out_of_classes(server, tmp_path):
    out = tmp_path / "books"
    import_iiif([manifest(server, b) for b in ("b1", "b2", "b3")], out, size=128, policy=FAST)
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, out, labels_from_folders=True)
    assert report.added == 12 and report.skipped == []  # the pages file is not an image
    assert report.labelled == 0 and ws.ground_truth() == {}  # a book folder is not a class
    groups = image_groups(ws)
    assert len(groups) == 12 and len(set(groups.values())) == 3
    meta = image_metadata(ws, list(groups))
    first = next(m for m in meta.values() if m["book_label"] == "Genji monogatari, vol. 1" and m["page"] == 2)
    assert first["attribution"] == "Provided by Example Library" and first["canvas"].endswith("/canvas/b1/2")
    assert len(ids_matching(ws, book="hokusai")) == 4 and len(ids_matching(ws, book="genji", page=3)) == 1
    only = filter_ids(ws, SearchFilters(book="GENJI", page=2))
    assert [meta[int(i)]["page"] for i in only] == [2] and meta[int(only[0])]["book_label"].startswith("Genji")

    # Exports carry the book and page; a title holding markup stays text in the CSV.
    ehon = sorted(i for i, m in meta.items() if m["book_label"].startswith("Ehon"))
    record_batch(ws, "cover", ehon[:1], annotator="ann", source={"kind": "test"})
    exported = list(csv.DictReader(io.StringIO(labels_csv(ws))))
    assert [(r["book"], r["page"]) for r in exported] == [("Ehon <i>yamato</i> hiji", "1")]
    export_labels(ws, tmp_path / "export", "folders")
    assert [p.name for p in (tmp_path / "export" / "cover").iterdir()] == [f"{meta[ehon[0]]['book']}-0001.jpg"]
    zs = ZeroShotResult(ids=np.asarray(ehon[:2]), labels=["a", "b"], proba=np.asarray([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32))
    predicted = list(csv.DictReader(io.StringIO(predictions_csv(zs, ws.paths(ehon[:2]), image_metadata(ws, ehon[:2])))))
    assert [(r["book"], r["page"], r["predicted"]) for r in predicted] == [("Ehon <i>yamato</i> hiji", "1", "a"), ("Ehon <i>yamato</i> hiji", "2", "b")]

    # Labels from a CSV (the pages file plus a label column); the split keeps books whole.
    rows = pages_rows(out)
    truth_csv = tmp_path / "labels.csv"
    with truth_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label"])
        for r in rows:
            w.writerow([r["path"], "text" if int(r["page"]) % 2 else "illustration"])
    again = ingest_folder(ws, out, labels_csv=truth_csv)
    assert again.labelled == 12 and again.unchanged == 12
    split = freeze_split(ws, name="books", group_by="group", test_fraction=0.3)
    test_books = {groups[i] for i in split.test_ids}
    train_books = {groups[i] for i in split.train_ids}
    assert test_books and not test_books & train_books
    assert sorted(split.test_ids) == sorted(i for i, g in groups.items() if g in test_books)
    # By default (the app's first evaluation) a split of imported books keeps them whole too.
    auto = freeze_split(ws, name="first", test_fraction=0.3)
    assert auto.group_by == "group" and not {groups[i] for i in auto.test_ids} & {groups[i] for i in auto.train_ids}
    assert freeze_split(ws, name="pages", group_by=None).group_by is None
    # A class found in one book only cannot be on both sides of a grouped split: no grouping then.
    hokusai = {i for i, m in meta.items() if m["book_label"].startswith("Hokusai")}
    ws.set_ground_truth({i: "b" if i in hokusai else "a" for i in groups}, "csv")
    assert freeze_split(ws, name="fallback").group_by is None
    ws.close()


@pytest.mark.parametrize("label", ["../../etc/passwd", "..", "/abs/path", "a\\b\x00c", "源氏物語 巻一", ""])
def test_book_folder_is_one_safe_name_from_any_label(label):
    from clipcore.sources.iiif import book_folder

    name = book_folder(label, "https://x/m.json")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and name.endswith("-" + name.rsplit("-", 1)[1]) and len(name) <= 47
    if label.startswith("源氏"):
        assert name.startswith("源氏物語-巻一")
