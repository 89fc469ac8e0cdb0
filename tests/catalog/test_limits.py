"""Decompression-bomb limits: one pixel-count check from the header, the same in every
thread, configurable in clipcore.toml; query uploads refused from the header."""

from __future__ import annotations

import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageFile

from clipcore.catalog.images import ImageRejected, check_upload, load_query_image, open_rgb
from clipcore.config import Limits
from clipcore.errors import InputError
from tests.helpers import run_cli


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (its data is tiny and invalid)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def _reason(data: bytes, **kw) -> str:
    try:
        open_rgb(data, **kw)
    except ImageRejected as exc:
        return exc.reason
    return "accepted"


def test_bomb_check_is_the_same_in_every_thread():
    big = _png_header_only(13000, 13000)  # 169 MP
    limit = 150_000_000
    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(lambda _: _reason(big, max_pixels=limit), range(32)))
    assert all(r.startswith("decompression bomb guard") for r in reasons)
    # Below the limit the guard lets it through (it then fails as corrupt: its data is fake).
    with ThreadPoolExecutor(8) as pool:
        reasons = list(pool.map(lambda _: _reason(_png_header_only(10000, 10000)), range(16)))  # 100 MP < 180 MP
    assert not any("bomb" in r for r in reasons)


def test_configured_limit_applies_to_ingest(demo_dir, tmp_path):
    cfg = tmp_path / "clipcore.toml"
    cfg.write_text("[limits]\nmax_image_pixels = 1000\n")
    proc = run_cli("ingest", str(demo_dir), "--workspace", str(tmp_path / "ws"), "--json", env={"CLIPCORE_CONFIG": str(cfg)})
    out = json.loads(proc.stdout)
    assert out["total"] == 0 and len(out["skipped"]) == 32
    assert all("exceeds the limit of 1,000" in s["reason"] and "max_image_pixels" in s["reason"] for s in out["skipped"])


def test_upload_of_a_huge_png_is_refused_from_its_header(monkeypatch):
    # A real, valid 9000 x 9900 grey PNG: ~90 KB on disk, 89 MP once decoded.
    raw = zlib.compress(b"".join(b"\x00" + b"\x80" * 9000 for _ in range(9900)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 9000, 9900, 8, 0, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    assert len(png) < 300_000

    def no_decoding(self, *a, **kw):
        raise AssertionError("the upload was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(InputError, match="9000x9900 = 89,100,000 pixels; a query image may have at most"):
        check_upload(png)
    with pytest.raises(InputError, match="a query image may have at most"):
        load_query_image(png)
    monkeypatch.undo()
    with pytest.raises(InputError, match="at most 1,000 are accepted"):
        check_upload(png, Limits(max_upload_bytes=1000))


def test_small_upload_passes_the_header_check():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(out, "PNG")
    assert check_upload(out.getvalue()) == (64, 48)
    assert load_query_image(out.getvalue()).size == (64, 48)
    with pytest.raises(InputError, match="empty"):
        check_upload(b"")
