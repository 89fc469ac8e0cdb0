"""IIIF manifests of the shapes real libraries publish (issue 21), each made here and served
from loopback with every image request checked against its service's version and level:
v2 oa:Choice, a bad canvas, image sizes unlike the canvas, regions, Image API versions,
language maps, licences with markup, sound canvases, a dripping server, a large collection,
formula-like text, manifests under the per-host bound, IIIF Auth, metadata and homepage."""

from __future__ import annotations

import csv
import io
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.metadata import METADATA_NAME, image_metadata, read_pages_file
from clipcore.catalog.store import Workspace
from clipcore.sources.iiif import Fetcher, FetchError, FetchPolicy, choose_image_url, import_iiif, pick_language
from tests.sources.iiif_server import IIIFServer, ImageService

FAST = FetchPolicy(allow_private=True, timeout_s=2.0, backoff_s=0.05, max_backoff_s=0.2, max_retries=1)
CTX2 = "http://iiif.io/api/presentation/2/context.json"
CTX3 = "http://iiif.io/api/presentation/3/context.json"
IMG2 = "http://iiif.io/api/image/2/context.json"


@pytest.fixture
def server():
    srv = IIIFServer().start()
    yield srv
    srv.stop()


def policy(**kw) -> FetchPolicy:
    return FetchPolicy(**{**FAST.__dict__, **kw})


def v2_resource(base: str, name: str, *, level: int = 2, width=None, height=None, ctx=IMG2, profile=None) -> dict:
    res = {"@id": f"{base}/img/{name}/full/full/0/default.jpg", "@type": "dctypes:Image", "format": "image/jpeg",
           "service": {"@context": ctx, "@id": f"{base}/img/{name}",
                       "profile": profile or f"http://iiif.io/api/image/2/level{level}.json"}}
    if width:
        res.update(width=width, height=height)
    return res


def v2_canvas(base: str, n: int, resource: dict | None, *, w: int = 3350, h: int = 2086, label: str | None = None) -> dict:
    cid = f"{base}/canvas/{n}"
    canvas = {"@id": cid, "@type": "sc:Canvas", "label": label or f"f. {n}", "width": w, "height": h, "images": []}
    if resource is not None:
        canvas["images"] = [{"@type": "oa:Annotation", "motivation": "sc:painting", "on": cid, "resource": resource}]
    return canvas


def v2_manifest(base: str, path: str, canvases: list, **extra) -> dict:
    return {"@context": CTX2, "@id": f"{base}{path}", "@type": "sc:Manifest", "label": extra.pop("label", "A book"),
            "sequences": [{"@type": "sc:Sequence", "canvases": canvases}], **extra}


def v3_canvas(base: str, n: int, body: dict | None, *, w: int = 1000, h: int = 1000, label=None) -> dict:
    cid = f"{base}/canvas3/{n}"
    items = []
    if body is not None:
        items = [{"id": f"{cid}/p", "type": "AnnotationPage", "items": [
            {"id": f"{cid}/a", "type": "Annotation", "motivation": "painting", "target": cid, "body": body}]}]
    return {"id": cid, "type": "Canvas", "label": label or {"none": [f"{n}"]}, "width": w, "height": h, "items": items}


def v3_image(base: str, name: str, *, level: int = 2, width=None, height=None) -> dict:
    body = {"id": f"{base}/img/{name}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
            "service": [{"id": f"{base}/img/{name}", "type": "ImageService3", "profile": f"level{level}"}]}
    if width:
        body.update(width=width, height=height)
    return body


def v3_manifest(base: str, path: str, canvases: list, **extra) -> dict:
    return {"@context": CTX3, "id": f"{base}{path}", "type": "Manifest", "label": extra.pop("label", {"en": ["A book"]}),
            "items": canvases, **extra}


def rows(out: Path) -> list[dict]:
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def sizes(out: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for p in sorted(out.rglob("*.jpg")):
        with Image.open(p) as img:
            found[p.name] = img.size
    return found


# 1 -----------------------------------------------------------------------------------------


def test_v2_choice_takes_its_default_and_a_bad_canvas_skips_only_its_page(server, tmp_path):
    b = server.base
    server.images.update(plain=ImageService(800, 600), default=ImageService(800, 600), other=ImageService(800, 600))
    choice = {"@type": "oa:Choice", "default": v2_resource(b, "default", width=800, height=600),
              "item": [v2_resource(b, "other", width=800, height=600)]}
    broken = {"@type": "dctypes:Image", "format": "image/jpeg"}  # an image with neither URL nor service
    server.docs["/m/choice.json"] = v2_manifest(b, "/m/choice.json", [
        v2_canvas(b, 1, v2_resource(b, "plain", width=800, height=600)),
        v2_canvas(b, 2, choice, label="multispectral"),
        v2_canvas(b, 3, broken, label="lost leaf"),
    ])
    out = tmp_path / "o"
    report = import_iiif([f"{b}/m/choice.json"], out, size=1024, policy=FAST)
    assert (report.manifests, report.downloaded) == (1, 2)
    assert report.failed == [{"url": f"{b}/canvas/3", "reason": "canvas 3 (lost leaf): its image has neither an image "
                                                              "service nor an image URL; page skipped"}]
    assert server.requests("/img/default/") and not server.requests("/img/other/")
    assert sorted((r["page"], r["page_label"]) for r in rows(out)) == [("1", "f. 1"), ("2", "multispectral")]


# 2 (CLI exit status: tests/sources/test_iiif_cli.py) ---------------------------------------
# 3 -----------------------------------------------------------------------------------------


def test_sizes_come_from_the_image_not_the_canvas_never_upscaled_never_more_than_asked(server, tmp_path):
    b = server.base
    server.images.update(
        small=ImageService(443, 325),  # a 443x325 image on a 3350x2086 canvas
        big=ImageService(3348, 2088),  # no size in the manifest: from info.json
        big1=ImageService(2088, 3348, level=1),  # level 1, size unknown: info.json gives the long side
        shared=ImageService(2000, 1000),  # one service painted on two canvases: one info.json
        static=ImageService(2400, 1600, level=0, sizes=((300, 200), (1200, 800), (2400, 1600))),
        bare0=ImageService(1600, 1200, level=0),  # level 0 without sizes: the full image, scaled here
    )
    server.docs["/m/sizes.json"] = v2_manifest(b, "/m/sizes.json", [
        v2_canvas(b, 1, v2_resource(b, "small", width=443, height=325)),
        v2_canvas(b, 2, v2_resource(b, "big"), w=330, h=401),
        v2_canvas(b, 3, v2_resource(b, "big1", level=1)),
        v2_canvas(b, 4, v2_resource(b, "shared")),
        v2_canvas(b, 5, v2_resource(b, "shared")),
        v2_canvas(b, 6, v2_resource(b, "static", level=0, width=2400, height=1600)),
        v2_canvas(b, 7, v2_resource(b, "bare0", level=0, width=1600, height=1200)),
    ])
    out = tmp_path / "o"
    report = import_iiif([f"{b}/m/sizes.json"], out, size=1024, policy=FAST)
    assert report.failed == [] and report.downloaded == 7
    asked = server.requests("/img/")
    assert "/img/small/full/full/0/default.jpg" in asked  # never ask for more than the image has
    assert "/img/big/full/!1024,1024/0/default.jpg" in asked
    assert "/img/big1/full/,1024/0/default.jpg" in asked
    assert asked.count("/img/shared/info.json") == 1  # cached per service
    assert "/img/static/full/1200,800/0/default.jpg" in asked  # level 0: the smallest listed size reaching 1024
    assert "/img/bare0/full/full/0/default.jpg" in asked
    # info.json only where the size is missing (big, big1, shared) or the service is level 0 (static, bare0)
    assert sorted(p for p in asked if p.endswith("info.json")) == [
        f"/img/{n}/info.json" for n in ("bare0", "big", "big1", "shared", "static")]
    got = sizes(out)
    assert got["0001.jpg"] == (443, 325) and got["0002.jpg"] == (1024, 639) and got["0003.jpg"] == (639, 1024)
    assert max(got["0006.jpg"]) == 1024 and got["0007.jpg"] == (1024, 768)  # stored at --size at most


def test_image_url_from_the_image_size_and_the_context_version():
    v2_with_old_profile = {"@context": IMG2, "@id": "https://x/i",
                           "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"}
    # 5: the context says Image API 2, so the quality is "default", whatever the profile names.
    assert choose_image_url(v2_with_old_profile, "", 800, 3000, 2000) == "https://x/i/full/800,/0/default.jpg"
    v11 = {"@context": "http://library.stanford.edu/iiif/image-api/1.1/context.json", "@id": "https://x/i",
           "profile": "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"}
    assert choose_image_url(v11, "", 800, 3000, 2000) == "https://x/i/full/800,/0/native.jpg"
    assert choose_image_url([{"id": "https://x/i", "type": "ImageService2", "profile": "level2"}], "", 800, 400, 300) \
        == "https://x/i/full/full/0/default.jpg"


# 4 -----------------------------------------------------------------------------------------


def test_a_partial_image_is_asked_as_its_region_at_the_size_wanted(server, tmp_path):
    b = server.base
    server.images.update(folio=ImageService(2000, 1600, version=3), flat=ImageService(2000, 1600, level=0, version=3))
    part = {"type": "SpecificResource", "source": v3_image(b, "folio", width=2000, height=1600),
            "selector": {"type": "ImageApiSelector", "region": "0,0,1000,1600"}}
    part0 = {"type": "SpecificResource", "source": v3_image(b, "flat", level=0, width=2000, height=1600),
             "selector": [{"type": "FragmentSelector", "value": "xywh=1000,0,1000,1600"}]}
    server.docs["/m/part.json"] = v3_manifest(b, "/m/part.json", [v3_canvas(b, 1, part), v3_canvas(b, 2, part0)])
    out = tmp_path / "o"
    report = import_iiif([f"{b}/m/part.json"], out, size=1024, policy=FAST)
    assert report.failed == [] and report.downloaded == 2
    assert "/img/folio/0,0,1000,1600/!1024,1024/0/default.jpg" in server.requests("/img/folio/")
    assert server.requests("/img/flat/") == ["/img/flat/info.json", "/img/flat/full/max/0/default.jpg"]
    got = sizes(out)
    assert got["0001.jpg"] == (640, 1024)
    assert got["0002.jpg"] == (640, 1024)  # level 0 cannot cut: the right half, cut and scaled here


# 5 -----------------------------------------------------------------------------------------


def test_image_api_version_is_taken_from_the_service_context(server, tmp_path):
    b = server.base
    server.images.update(v2=ImageService(3000, 2000, level=1, version=2), v11=ImageService(3000, 2000, level=1, version=1))
    old_profile = "http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level1"
    server.docs["/m/versions.json"] = v2_manifest(b, "/m/versions.json", [
        v2_canvas(b, 1, v2_resource(b, "v2", width=3000, height=2000, profile=old_profile)),
        v2_canvas(b, 2, v2_resource(b, "v11", width=3000, height=2000, profile=old_profile,
                                    ctx="http://library.stanford.edu/iiif/image-api/1.1/context.json")),
    ])
    report = import_iiif([f"{b}/m/versions.json"], tmp_path / "o", size=512, policy=FAST)
    assert report.failed == [] and report.downloaded == 2  # the server refuses native.jpg from a 2.x service
    assert server.requests("/img/v2/") == ["/img/v2/full/512,/0/default.jpg"]
    assert server.requests("/img/v11/") == ["/img/v11/full/512,/0/native.jpg"]


# 6, 7 --------------------------------------------------------------------------------------


def test_one_language_is_chosen_and_the_others_kept():
    v2_label = [{"@value": "quelque titre", "@language": "fr"}, {"@value": "some title", "@language": "en"}]
    assert pick_language(v2_label) == ("some title", {"fr": "quelque titre"})
    assert pick_language(v2_label, "fr") == ("quelque titre", {"en": "some title"})
    assert pick_language({"en-GB": ["colour"], "none": ["MS 12"]}) == ("MS 12", {"en-GB": "colour"})
    assert pick_language({"de": ["Buch"], "la": ["liber"]}) == ("Buch", {"la": "liber"})
    assert pick_language({"en-GB": ["colour"], "fr": ["couleur"]}, "EN") == ("colour", {"fr": "couleur"})
    assert pick_language({"fr": ["a", "b"]}) == ("a; b", {})


def test_language_and_licence_in_an_import(server, tmp_path):
    b = server.base
    server.images["p"] = ImageService(400, 300)
    label = [{"@value": "quelque titre", "@language": "fr"}, {"@value": "some title", "@language": "en"}]
    licence = 'Licensed under <a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>'
    server.docs["/m/lang.json"] = v2_manifest(b, "/m/lang.json", [v2_canvas(b, 1, v2_resource(b, "p", width=400, height=300))],
                                              label=label, license=licence, attribution=[{"@value": "Bibliothèque", "@language": "fr"}])
    out = tmp_path / "o"
    import_iiif([f"{b}/m/lang.json"], out, size=256, policy=FAST)
    (row,) = rows(out)
    assert row["book_label"] == "some title" and json.loads(row["book_label_languages"]) == {"fr": "quelque titre"}
    assert row["license"] == "Licensed under CC BY 4.0" and row["attribution"] == "Bibliothèque"
    fr = tmp_path / "fr"
    import_iiif([f"{b}/m/lang.json"], fr, size=256, policy=FAST, language="fr")
    assert rows(fr)[0]["book_label"] == "quelque titre" and rows(fr)[0]["book"].startswith("quelque-titre-")


# 8 -----------------------------------------------------------------------------------------


def test_pages_are_numbered_by_images_with_the_canvas_position_beside(server, tmp_path):
    b = server.base
    server.images.update(one=ImageService(300, 400, version=3), three=ImageService(300, 400, version=3))
    sound = {"id": f"{b}/audio.mp3", "type": "Sound", "format": "audio/mpeg"}
    server.docs["/m/mixed.json"] = v3_manifest(b, "/m/mixed.json", [
        v3_canvas(b, 1, sound), v3_canvas(b, 2, sound),
        v3_canvas(b, 3, v3_image(b, "one", width=300, height=400), label={"none": ["1r"]}),
        v3_canvas(b, 4, None),
        v3_canvas(b, 5, v3_image(b, "three", width=300, height=400), label={"none": ["2r"]}),
    ])
    out = tmp_path / "o"
    report = import_iiif([f"{b}/m/mixed.json"], out, size=256, policy=FAST)
    assert report.failed == [] and report.downloaded == 2
    got = sorted((r["page"], r["canvas_position"], r["page_label"], r["path"].split("/")[1]) for r in rows(out))
    assert got == [("1", "3", "1r", "0003.jpg"), ("2", "5", "2r", "0005.jpg")]


def test_a_book_on_disk_keeps_its_folder_and_files_when_its_title_changes(server, tmp_path):
    out = tmp_path / "o"
    url = f"{server.base}/manifests/b1.json"
    first = import_iiif([url], out, size=128, policy=FAST)
    (folder,) = [b["book"] for b in first.books]
    # An import made before this change named the book differently (say the title was then
    # read in another language): its folder is found again by the manifest id.
    old = "Genji-old-title-abc123"
    (out / folder).rename(out / old)
    text = (out / METADATA_NAME).read_text(encoding="utf-8").replace(folder, old)
    (out / METADATA_NAME).write_text(text, encoding="utf-8")
    before = len(server.requests("/iiif/"))
    again = import_iiif([url], out, size=128, policy=FAST)
    assert (again.downloaded, again.skipped) == (0, 4) and server.requests("/iiif/")[before:] == []
    assert [b["book"] for b in again.books] == [old] and sorted(p.name for p in out.iterdir() if p.is_dir()) == [old]
    # Without the pages file, the folder ending in the manifest's hash is the book's.
    (out / METADATA_NAME).unlink()
    hashed = "Genji-older-" + folder.rsplit("-", 1)[1]
    (out / old).rename(out / hashed)
    third = import_iiif([url], out, size=128, policy=FAST)
    assert (third.downloaded, third.skipped) == (0, 4) and [b["book"] for b in third.books] == [hashed]


# 9 -----------------------------------------------------------------------------------------


def test_a_dripping_server_cannot_hold_a_request(server, tmp_path):
    url = "/iiif/b1/1/full/!128,128/0/default.jpg"
    server.faults[url] = ["drip"] * 3  # one byte every 0.5 s: every read is well inside timeout_s
    started = time.monotonic()
    report = import_iiif([f"{server.base}/manifests/b1.json"], tmp_path / "o", size=128,
                         policy=policy(timeout_s=2.0, max_request_s=1.5, max_retries=0))
    took = time.monotonic() - started
    assert took < 5, took
    assert report.downloaded == 3
    assert report.failed == [{"url": f"{server.base}{url}", "reason": "timed out: slower than 1.5s in all (after 1 tries)"}]


def test_the_deadline_covers_dns(monkeypatch):
    real = socket.getaddrinfo

    def slow(host, *a, **kw):
        if host == "slow-dns.example":
            time.sleep(3)
        return real(host, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    fetcher = Fetcher(policy(max_request_s=0.5, max_retries=0))
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out: no DNS answer for slow-dns.example within 0.5s"):
        fetcher.get("http://slow-dns.example/m.json", max_bytes=1000)
    assert time.monotonic() - started < 1.5


# 10, 12 ------------------------------------------------------------------------------------


def _big_collection(server, n: int) -> str:
    b = server.base
    server.images["shared"] = ImageService(200, 200)
    for i in range(n):
        path = f"/m/{i}.json"
        server.docs[path] = v2_manifest(b, path, [v2_canvas(b, 1, v2_resource(b, "shared", width=200, height=200))],
                                        label=f"Book {i}")
    server.docs["/coll/big.json"] = {"@context": CTX2, "@id": f"{b}/coll/big.json", "@type": "sc:Collection",
                                     "manifests": [{"@id": f"{b}/m/{i}.json", "@type": "sc:Manifest"} for i in range(n)]}
    return f"{b}/coll/big.json"


def test_a_large_collection_stops_at_the_image_and_manifest_limits(server, tmp_path):
    coll = _big_collection(server, 300)
    one = import_iiif([coll], tmp_path / "a", size=128, policy=policy(max_images=1))
    assert (one.downloaded, one.manifests) == (1, 1) and one.manifests_limited == 299
    assert len(server.requests("/m/")) <= FAST.workers  # reading stopped once the image limit was reached
    server.log.clear()
    five = import_iiif([coll], tmp_path / "b", size=128, policy=policy(max_manifests=5))
    assert (five.manifests, five.downloaded, five.manifests_limited) == (5, 5, 295)
    assert len(server.requests("/m/")) == 5
    # Collections count against the same cap, so a tree of collections that name no manifest ends too.
    b = server.base
    for i in range(10):
        server.docs[f"/coll/{i}.json"] = {"@context": CTX2, "@id": f"{b}/coll/{i}.json", "@type": "sc:Collection",
                                          "collections": [{"@id": f"{b}/coll/{i + 1}.json"}]}
    server.log.clear()
    tree = import_iiif([f"{b}/coll/0.json"], tmp_path / "c", size=128, policy=policy(max_manifests=3))
    assert tree.failed[-1]["reason"] == "more than 3 collections in one run (the manifest limit); not read"
    assert len(server.requests("/coll/")) == 4


def test_manifests_of_a_collection_are_fetched_in_parallel_under_the_per_host_bound(server, tmp_path):
    coll = _big_collection(server, 8)
    server.manifest_delay_s = 0.3
    started = time.monotonic()
    report = import_iiif([coll], tmp_path / "o", size=128, policy=policy(per_host=2, workers=4))
    assert report.manifests == 8 and report.failed == []
    assert server.peak["/m"] == 2  # two at a time, as images are; never more
    assert time.monotonic() - started < 8 * 0.3  # and not one after the other


def test_app_imports_get_the_configured_limits(tmp_path, monkeypatch):
    from clipcore import cli

    def policy_for(argv, config=""):
        cfg = tmp_path / "c.toml"
        cfg.write_text(config)
        monkeypatch.setenv("CLIPCORE_CONFIG", str(cfg))
        return cli._iiif_policy(cli.build_parser().parse_args(["import-iiif", "u", "--out", "o", *argv]))

    from_app = policy_for(["--job-id", "j1"])
    assert (from_app.max_images, from_app.max_manifests) == (cli.APP_MAX_IMAGES, cli.APP_MAX_MANIFESTS)
    configured = policy_for(["--job-id", "j1"], "[iiif]\nmax_images = 40\nmax_manifests = 3\n")
    assert (configured.max_images, configured.max_manifests) == (40, 3)
    by_hand = policy_for(["--max-manifests", "7"])
    assert (by_hand.max_images, by_hand.max_manifests) == (None, 7)


# 11 ----------------------------------------------------------------------------------------


def test_pages_file_is_csv_guarded_and_read_back_exactly(server, tmp_path):
    b = server.base
    server.images["p"] = ImageService(400, 300)
    server.docs["/m/formula.json"] = v2_manifest(
        b, "/m/formula.json", [v2_canvas(b, 1, v2_resource(b, "p", width=400, height=300), label="+1 verso")],
        label='=HYPERLINK("https://evil.example","x")', attribution="@SUM(A1:A9)", license="-2 rights",
    )
    out = tmp_path / "o"
    import_iiif([f"{b}/m/formula.json"], out, size=256, policy=FAST)
    with (out / METADATA_NAME).open(newline="", encoding="utf-8") as fh:
        raw = next(csv.DictReader(fh))
    assert raw["book_label"].startswith("'=") and raw["page_label"] == "'+1 verso"
    assert raw["attribution"] == "'@SUM(A1:A9)" and raw["license"] == "'-2 rights"
    (row,) = read_pages_file(out / METADATA_NAME).values()
    assert row["book_label"] == '=HYPERLINK("https://evil.example","x")' and row["page_label"] == "+1 verso"
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, out)
    (meta,) = image_metadata(ws, [int(i) for i in ws.image_ids()]).values()
    assert meta["attribution"] == "@SUM(A1:A9)" and meta["license"] == "-2 rights"
    ws.close()


def test_an_older_unguarded_pages_file_reads_back_unchanged(tmp_path):
    (tmp_path / METADATA_NAME).write_text(
        "path,book,book_label,page,page_label,manifest,canvas,attribution,license\n"
        "bk-1/0001.jpg,bk-1,=1+2,1,-3,m,c,@x,'plain\n", encoding="utf-8")
    (row,) = read_pages_file(tmp_path / METADATA_NAME).values()
    assert (row["book_label"], row["page_label"], row["attribution"], row["license"]) == ("=1+2", "-3", "@x", "'plain")
    assert row["canvas_position"] == "" and row["homepage"] == ""


# 13 ----------------------------------------------------------------------------------------


def test_iiif_auth_answers_are_reported_as_a_login(server, tmp_path):
    b = server.base
    server.images.update(open=ImageService(300, 300, version=3), locked=ImageService(300, 300, version=3))
    server.docs["/m/auth.json"] = v3_manifest(
        b, "/m/auth.json",
        [v3_canvas(b, 1, v3_image(b, "open", width=300, height=300)), v3_canvas(b, 2, v3_image(b, "locked", width=300, height=300))],
        provider=[{"id": "https://example.org", "type": "Agent", "label": {"en": ["Example Library"]}}],
    )
    server.faults["/img/locked/full/max/0/default.jpg"] = ["401"]
    server.faults["/m/private.json"] = ["403"]
    report = import_iiif([f"{b}/m/auth.json", f"{b}/m/private.json"], tmp_path / "o", size=512, policy=FAST)
    assert report.downloaded == 1
    reasons = {f["url"].removeprefix(b): f["reason"] for f in report.failed}
    assert reasons["/img/locked/full/max/0/default.jpg"] == "this item needs a login at Example Library (HTTP 401 Unauthorized)"
    assert reasons["/m/private.json"] == f"this item needs a login at {b.removeprefix('http://')} (HTTP 403 Forbidden)"

    # v2: no provider; the host names the institution and the IIIF Auth service's label says more.
    server.images["locked2"] = ImageService(300, 300)
    res = v2_resource(b, "locked2", width=300, height=300)
    res["service"]["service"] = {"@context": "http://iiif.io/api/auth/1/context.json", "@id": f"{b}/login",
                                 "profile": "http://iiif.io/api/auth/1/login", "label": "Login to Example Institution"}
    server.docs["/m/auth2.json"] = v2_manifest(b, "/m/auth2.json", [v2_canvas(b, 1, res)])
    server.faults["/img/locked2/full/full/0/default.jpg"] = ["401"]
    v2 = import_iiif([f"{b}/m/auth2.json"], tmp_path / "o2", size=512, policy=FAST)
    assert v2.failed[0]["reason"] == (f"this item needs a login at {b.removeprefix('http://')} "
                                      "(Login to Example Institution; HTTP 401 Unauthorized)")


def test_metadata_pairs_and_the_link_back_are_kept(server, tmp_path):
    b = server.base
    server.images["p"] = ImageService(400, 300)
    server.docs["/m/meta.json"] = v2_manifest(
        b, "/m/meta.json", [v2_canvas(b, 1, v2_resource(b, "p", width=400, height=300))],
        metadata=[{"label": "Shelfmark", "value": "MS Or. 12"},
                  {"label": [{"@value": "Date", "@language": "en"}], "value": "<span>c. 1450</span>"}],
        related=[{"@id": "javascript:alert(1)"}, {"@id": "https://library.example/item/12", "format": "text/html"}],
    )
    out = tmp_path / "o"
    report = import_iiif([f"{b}/m/meta.json"], out, size=256, policy=FAST)
    (row,) = rows(out)
    assert json.loads(row["metadata"]) == [["Shelfmark", "MS Or. 12"], ["Date", "c. 1450"]]
    assert row["homepage"] == "https://library.example/item/12" == report.books[0]["homepage"]

    # In the workspace: searchable by a metadata value, and the link travels in the exports.
    from clipcore.catalog.labels import labels_csv, record_batch
    from clipcore.catalog.metadata import ids_matching, metadata_pairs
    from clipcore.classify.zeroshot import ZeroShotResult, predictions_csv

    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, out)
    (image_id,) = [int(i) for i in ws.image_ids()]
    meta = image_metadata(ws, [image_id])[image_id]
    assert meta["homepage"] == "https://library.example/item/12" and meta["canvas_position"] == 1
    assert metadata_pairs(meta) == [("Shelfmark", "MS Or. 12"), ("Date", "c. 1450")]
    assert ids_matching(ws, book="ms or. 12") == {image_id} and ids_matching(ws, book="MS Or. 13") == set()
    record_batch(ws, "cover", [image_id], annotator="ann", source={"kind": "test"})
    (exported,) = csv.DictReader(io.StringIO(labels_csv(ws)))
    assert exported["homepage"] == "https://library.example/item/12"
    zs = ZeroShotResult(ids=np.asarray([image_id]), labels=["a", "b"], proba=np.asarray([[0.9, 0.1]], dtype=np.float32))
    (predicted,) = csv.DictReader(io.StringIO(predictions_csv(zs, ws.paths([image_id]), image_metadata(ws, [image_id]))))
    assert predicted["homepage"] == "https://library.example/item/12"
    ws.close()


def test_v2_specific_resource_and_fragment_regions_are_parsed():
    from clipcore.sources.iiif import image_request, parse_manifest

    svc = {"@context": IMG2, "@id": "https://x/i", "profile": "http://iiif.io/api/image/2/level2.json"}
    specific = {"@type": "oa:SpecificResource",
                "full": {"@id": "https://x/i/full/full/0/default.jpg", "@type": "dctypes:Image", "width": 4000, "height": 3000,
                         "service": svc},
                "selector": {"@type": "iiif:ImageApiSelector", "region": "2000,0,2000,3000"}}
    fragment = {"@id": "https://x/plain.jpg#xywh=0,0,50,100", "@type": "dctypes:Image", "width": 100, "height": 100}
    book = parse_manifest(v2_manifest("https://x", "/m", [v2_canvas("https://x", 1, specific), v2_canvas("https://x", 2, fragment)]), "m")
    first, second = (image_request(p.image, 1000) for p in book.pages)
    assert first.url == "https://x/i/2000,0,2000,3000/!1000,1000/0/default.jpg" and first.crop is None
    assert second.url == "https://x/plain.jpg" and second.crop == (0.0, 0.0, 0.5, 1.0)  # no service: cut here
