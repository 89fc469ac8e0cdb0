"""Ingestion of real-world folders: formats, broken files, duplicates, links, re-runs."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipcore.errors import InputError
from clipcore.catalog.images import ImageRejected, open_rgb
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace


def _jpeg(color=(200, 30, 30), size=(64, 48), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()


def _huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge size (the data is tiny): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


@pytest.fixture
def messy(tmp_path) -> Path:
    """A folder with every kind of file a real collection has."""
    root = tmp_path / "messy"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    g = root / "good"
    g.joinpath("plain.jpg").write_bytes(_jpeg())
    g.joinpath("名前 with spaces & 'quotes'.jpg").write_bytes(_jpeg((10, 200, 10)))
    g.joinpath("copy of plain.jpg").write_bytes(_jpeg())  # same bytes: a duplicate
    g.joinpath("cmyk.jpg").write_bytes(_save(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"))
    arr16 = (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50)
    g.joinpath("sixteen.png").write_bytes(_save(Image.fromarray(arr16), "PNG"))
    pal = Image.new("P", (20, 20), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    g.joinpath("palette.png").write_bytes(_save(pal, "PNG", transparency=0))
    g.joinpath("alpha.png").write_bytes(_save(Image.new("RGBA", (20, 20), (0, 0, 255, 0)), "PNG"))
    frames = [Image.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 255, 0)]]
    g.joinpath("anim.gif").write_bytes(_save(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    g.joinpath("scan.tif").write_bytes(_save(Image.new("RGB", (30, 20), (1, 2, 3)), "TIFF"))
    g.joinpath("scan.bmp").write_bytes(_save(Image.new("RGB", (30, 20), (4, 5, 6)), "BMP"))
    g.joinpath("scan.webp").write_bytes(_save(Image.new("RGB", (30, 20), (7, 8, 9)), "WEBP"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 64x48 landscape, shown 48x64 portrait
    g.joinpath("rotated.jpg").write_bytes(_jpeg((50, 50, 200), (64, 48), exif=exif.tobytes()))
    g.joinpath("wrong extension.png").write_bytes(_jpeg((90, 90, 90)))

    b = root / "bad"
    b.joinpath("empty.jpg").write_bytes(b"")
    b.joinpath("truncated.jpg").write_bytes(_jpeg((1, 1, 1), (300, 300), quality=95)[:400])
    b.joinpath("notes.txt").write_text("not an image")
    b.joinpath("bomb.png").write_bytes(_huge_png(30000, 30000))
    b.joinpath("icon.ico").write_bytes(_save(Image.new("RGB", (16, 16)), "ICO"))
    (root / ".hidden.jpg").write_bytes(_jpeg())
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(_jpeg((3, 3, 3)))
    os.symlink(outside, b / "escape.jpg")
    os.symlink(tmp_path, b / "escape_dir")
    os.symlink(g / "plain.jpg", root / "inner_link.jpg")  # stays inside: followed (a duplicate)
    os.symlink(b / "gone.jpg", b / "dangling.jpg")
    return root


def test_every_file_class(messy, tmp_path):
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, messy)
    skipped = {s["path"]: s["reason"] for s in report.skipped}
    assert skipped.keys() == {
        "bad/empty.jpg", "bad/truncated.jpg", "bad/notes.txt", "bad/bomb.png", "bad/icon.ico",
        "bad/escape.jpg", "bad/escape_dir", "bad/dangling.jpg",
    }
    assert "empty" in skipped["bad/empty.jpg"]
    assert "truncated" in skipped["bad/truncated.jpg"]
    assert "not an image" in skipped["bad/notes.txt"]
    assert "decompression bomb" in skipped["bad/bomb.png"]
    assert "unsupported image format ICO" in skipped["bad/icon.ico"]
    assert "symlink leaves" in skipped["bad/escape.jpg"] and "symlink leaves" in skipped["bad/escape_dir"]
    assert report.duplicates == 2  # "copy of plain.jpg" and the inner link
    assert report.added == 12 and report.total == 12
    recs = {r.path: r for r in ws.images()}
    assert ".hidden.jpg" not in recs
    assert recs["good/rotated.jpg"].width == 48 and recs["good/rotated.jpg"].height == 64
    assert recs["good/wrong extension.png"].format == "JPEG"
    for r in recs.values():  # every catalogued image has a decodable RGB thumbnail
        thumb = Image.open(ws.thumbnail_path(r.content_hash))
        assert thumb.mode == "RGB" and max(thumb.size) <= 256


def test_colour_modes_become_sensible_rgb(messy):
    cmyk = open_rgb(messy / "good/cmyk.jpg").image
    assert cmyk.mode == "RGB" and cmyk.getpixel((5, 5))[0] > 200  # C=0,M=Y=255 is red
    sixteen = np.asarray(open_rgb(messy / "good/sixteen.png").image)
    assert sixteen.dtype == np.uint8 and sixteen.max() == 255 and sixteen.min() == 0
    assert open_rgb(messy / "good/palette.png").image.getpixel((3, 3)) == (255, 0, 0)
    assert open_rgb(messy / "good/alpha.png").image.getpixel((3, 3)) == (255, 255, 255)  # transparent -> white
    assert open_rgb(messy / "good/anim.gif").image.getpixel((3, 3)) == (255, 0, 0)  # first frame
    with pytest.raises(ImageRejected):
        open_rgb(b"")


def test_rerun_adds_only_new_or_changed(messy, tmp_path):
    ws = Workspace(tmp_path / "ws")
    first = ingest_folder(ws, messy)
    again = ingest_folder(ws, messy)
    assert again.added == 0 and again.updated == 0 and again.duplicates == 0 and again.total == first.total
    assert again.unchanged == first.added + first.duplicates + len([s for s in first.skipped if "symlink" not in s["reason"]])

    (messy / "good" / "new.png").write_bytes(_save(Image.new("RGB", (10, 10), (9, 9, 9)), "PNG"))
    target = messy / "good" / "plain.jpg"
    target.write_bytes(_jpeg((0, 0, 0)))
    os.utime(target, ns=(1, 1))  # a different mtime for sure
    third = ingest_folder(ws, messy)
    # plain.jpg changed (and inner_link.jpg with it): "copy of plain.jpg" kept the old content, so it is promoted.
    assert third.added == 1 and third.updated == 1 and third.promoted == 1 and third.total == first.total + 2


def test_changed_file_loses_its_stale_embedding(demo_dir, tiny_model, tmp_path):
    import shutil

    from clipcore.embedding.pipeline import embed_workspace

    copy = tmp_path / "collection"
    shutil.copytree(demo_dir, copy)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, copy)
    embed_workspace(ws, tiny_model)
    key = tiny_model.info.key
    before = len(ws.image_ids())
    rec = ws.images()[5]
    (copy / rec.path).write_bytes(_jpeg((12, 34, 56), (80, 100)))
    report = ingest_folder(ws, copy)
    assert report.updated == 1 and report.added == 0 and len(ws.image_ids()) == before
    assert ws.missing_embeddings(key) == [rec.id]
    assert ws.images([rec.id])[0].width == 80
    assert embed_workspace(ws, tiny_model).embedded == 1
    assert ws.missing_embeddings(key) == [] and len(ws.load_embeddings(key).ids) == before


def test_labels_from_folders_and_csv(demo_dir, tmp_path):
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, demo_dir, labels_from_folders=True)
    truth = ws.ground_truth()
    assert len(truth) == 32 and set(truth.values()) == {"illustration", "text", "blank page", "cover"}
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label,group\ncover/cover_000.jpg,\"odd, \"\"quoted\"\" label\",vol1\n")
    ingest_folder(ws, demo_dir, labels_csv=csv)
    image = [r.id for r in ws.images() if r.path == "cover/cover_000.jpg"][0]
    assert ws.ground_truth()[image] == 'odd, "quoted" label'
    assert ws.ground_truth_groups()[image] == "vol1"
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\nx,y\n")
    with pytest.raises(InputError, match="'path' and 'label'"):
        ingest_folder(ws, demo_dir, labels_csv=bad)


def test_bad_folder_arguments(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(InputError, match="does not exist"):
        ingest_folder(ws, tmp_path / "nope")
    (tmp_path / "file.jpg").write_bytes(_jpeg())
    with pytest.raises(InputError, match="is a file"):
        ingest_folder(ws, tmp_path / "file.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    report = ingest_folder(ws, empty)
    assert report.to_dict() == {
        "added": 0, "updated": 0, "unchanged": 0, "duplicates": 0, "skipped": [], "labelled": 0,
        "moved": 0, "returned": 0, "vanished": 0, "promoted": 0, "total": 0, "missing": 0,
    }
    json.dumps(report.to_dict())
