"""The View dialog's preview: made once (at ingest for large undraftable images, else at
the first view, under a slot), kept on disk, the original never decoded again."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from clipcore.catalog import previews
from clipcore.catalog.ingest import ingest_folder
from clipcore.catalog.store import Workspace
from clipcore.errors import ServerBusy, UnsafePathError


@pytest.fixture
def png_ws(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (1800, 1200), (200, 30, 30)).save(src / "big.png")
    Image.new("RGB", (300, 200), (30, 30, 200)).save(src / "small.png")
    ws = Workspace(tmp_path / "ws")
    yield ws, src
    ws.close()


def _no_decode(monkeypatch):
    calls = []
    monkeypatch.setattr(previews, "preview_jpeg", lambda path: calls.append(path) or pytest.fail("decoded the original"))
    return calls


def _by_name(ws, name):
    return next(r for r in ws.images() if r.path == name)


def test_ingest_keeps_the_preview_of_a_large_undraftable_image(png_ws, monkeypatch):
    """Issue 19, attack 6: every View click decoded the whole 169 MP PNG again."""
    ws, src = png_ws
    monkeypatch.setattr("clipcore.catalog.ingest.PREVIEW_AT_INGEST_PIXELS", 1_000_000)  # 1800x1200 counts as large
    ingest_folder(ws, src)
    big, small = _by_name(ws, "big.png"), _by_name(ws, "small.png")
    assert ws.preview_path(big.content_hash).is_file() and not ws.preview_path(small.content_hash).exists()
    _no_decode(monkeypatch)
    for _ in range(3):
        with Image.open(io.BytesIO(previews.view_preview(ws, big))) as img:
            assert max(img.size) == 1024 and img.format == "JPEG"


def test_the_first_view_makes_the_preview_once(png_ws, monkeypatch):
    ws, src = png_ws
    ingest_folder(ws, src)
    big = _by_name(ws, "big.png")
    assert not ws.preview_path(big.content_hash).exists()  # 2.2 MP: below the ingest threshold
    first = previews.view_preview(ws, big)
    assert ws.preview_path(big.content_hash).read_bytes() == first
    _no_decode(monkeypatch)
    assert previews.view_preview(ws, big) == first


def test_a_kept_preview_still_needs_the_original_in_place(png_ws, tmp_path):
    ws, src = png_ws
    ingest_folder(ws, src)
    big = _by_name(ws, "big.png")
    previews.view_preview(ws, big)
    (tmp_path / "secret.png").write_bytes(big.abs_path.read_bytes())
    big.abs_path.unlink()
    big.abs_path.symlink_to(tmp_path / "secret.png")
    with pytest.raises(UnsafePathError):
        previews.view_preview(ws, big)


def test_large_decodes_wait_for_the_one_preview_slot(png_ws, monkeypatch):
    ws, src = png_ws
    ingest_folder(ws, src)
    big = _by_name(ws, "big.png")
    monkeypatch.setattr(previews, "PREVIEW_WAIT_S", 0.05)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with previews.heavy_slot("held", pool="preview", limit=previews.PREVIEW_SLOTS):
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert entered.wait(10)
        with pytest.raises(ServerBusy):
            previews.view_preview(ws, big)
    finally:
        release.set()
        t.join(10)
    assert previews.view_preview(ws, big)
