"""A small IIIF server on loopback for tests: Presentation 2.1 and 3.0 manifests, one
collection, and an Image API that draws each page at the size asked for.

Faults are scripted per path: ``server.faults[path] = ["429", "500", "truncate", "timeout",
"drip", "401", "403"]`` answers the next requests of ``path`` with those faults in turn, then
normally ("drip": headers, then one byte every ``drip_s``). ``server.delay_s`` slows every
image response (to kill an import mid-way), ``server.manifest_delay_s`` every document.
Every request is logged as (monotonic time, path, User-Agent); ``server.peak[prefix]`` is
the most requests under ``prefix`` in flight at once.

Tests add their own documents (``server.docs[path] = dict``) and image services
(``server.images[name] = ImageService(...)``, served at ``/img/<name>``): each image request
is checked against its service's version and level (a level-0 service answers only
``full``/``max`` and its listed sizes; ``native`` only in 1.1; ``!w,h`` only at level 2; no
upscaling), and refused with 400 otherwise.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw

PAGE_W, PAGE_H = 1200, 1600  # every canvas; the Image API scales from this
BOOKS = {
    # book id: (version, title, pages, Image API level)
    "b1": (2, "Genji monogatari, vol. 1", 4, 2),
    "b2": (3, "Hokusai manga, vol. 2", 4, 1),
    "b3": (2, "Ehon <i>yamato</i> hiji", 4, 0),
}
ATTRIBUTION_HTML = 'Provided by <a href="https://example.org/">Example Library</a> <script>alert(1)</script>'
COLOURS = {"b1": (200, 60, 60), "b2": (60, 160, 60), "b3": (60, 60, 200)}


def page_image(book: str, page: int, w: int, h: int) -> bytes:
    """A JPEG that differs by book and page (so contents never collide as duplicates)."""
    img = Image.new("RGB", (w, h), COLOURS[book])
    draw = ImageDraw.Draw(img)
    for k in range(page):
        y = int(h * (k + 1) / (page + 2))
        draw.rectangle([w // 8, y, w - w // 8 - k * 7, y + max(2, h // 40)], fill=(240, 240, 240))
    draw.ellipse([w // 3, h // 3, w // 3 + page * 11 + 20, h // 3 + page * 13 + 20], fill=(10, 10, 10))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _v2_manifest(base: str, book: str) -> dict:
    _, title, n, level = BOOKS[book]
    canvases = []
    for p in range(1, n + 1):
        svc = f"{base}/iiif/{book}/{p}"
        canvases.append({
            "@id": f"{base}/canvas/{book}/{p}", "@type": "sc:Canvas", "label": f"p. {p}",
            "width": PAGE_W, "height": PAGE_H,
            "images": [{
                "@type": "oa:Annotation", "motivation": "sc:painting", "on": f"{base}/canvas/{book}/{p}",
                "resource": {
                    "@id": f"{svc}/full/full/0/default.jpg", "@type": "dctypes:Image", "format": "image/jpeg",
                    "width": PAGE_W, "height": PAGE_H,
                    "service": {"@context": "http://iiif.io/api/image/2/context.json", "@id": svc,
                                "profile": f"http://iiif.io/api/image/2/level{level}.json"},
                },
            }],
        })
    return {
        "@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{base}/manifests/{book}.json",
        "@type": "sc:Manifest", "label": title, "attribution": ATTRIBUTION_HTML,
        "metadata": [{"label": "Shelfmark", "value": f"MS {book.upper()}"}], "related": f"https://library.example/item/{book}",
        "license": "https://creativecommons.org/publicdomain/mark/1.0/",
        "sequences": [{"@type": "sc:Sequence", "canvases": canvases}],
    }


def _v3_manifest(base: str, book: str) -> dict:
    _, title, n, level = BOOKS[book]
    items = []
    for p in range(1, n + 1):
        svc = f"{base}/iiif/{book}/{p}"
        cid = f"{base}/canvas/{book}/{p}"
        items.append({
            "id": cid, "type": "Canvas", "label": {"none": [f"{p}r"]}, "width": PAGE_W, "height": PAGE_H,
            "items": [{"id": f"{cid}/page", "type": "AnnotationPage", "items": [{
                "id": f"{cid}/anno", "type": "Annotation", "motivation": "painting", "target": cid,
                "body": {"id": f"{svc}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
                         "width": PAGE_W, "height": PAGE_H,
                         "service": [{"id": svc, "type": "ImageService3", "profile": f"level{level}"}]},
            }]}],
        })
    return {
        "@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}/manifests/{book}.json",
        "type": "Manifest", "label": {"en": [title]},
        "requiredStatement": {"label": {"en": ["Attribution"]}, "value": {"en": ["Example Library, CC0"]}},
        "rights": "http://creativecommons.org/publicdomain/zero/1.0/", "items": items,
    }


@dataclass
class ImageService:
    """An image behind ``/img/<name>``: its size, Image API version and level, listed sizes."""

    width: int
    height: int
    level: int = 2
    version: int = 2
    sizes: tuple[tuple[int, int], ...] = ()
    colour: tuple[int, int, int] = (120, 90, 40)

    def info(self, base: str, name: str) -> dict:
        sid = f"{base}/img/{name}"
        ctx = {1: "http://library.stanford.edu/iiif/image-api/1.1/context.json",
               2: "http://iiif.io/api/image/2/context.json", 3: "http://iiif.io/api/image/3/context.json"}[self.version]
        doc = {"@context": ctx, "width": self.width, "height": self.height}
        if self.version == 3:
            doc.update({"id": sid, "type": "ImageService3", "profile": f"level{self.level}"})
        elif self.version == 2:
            doc.update({"@id": sid, "profile": [f"http://iiif.io/api/image/2/level{self.level}.json"]})
        else:
            doc.update({"@id": sid, "profile": f"http://library.stanford.edu/iiif/image-api/1.1/compliance.html#level{self.level}"})
        if self.sizes:
            doc["sizes"] = [{"width": w, "height": h} for w, h in self.sizes]
        return doc

    def render(self, region: str, size: str, quality: str) -> tuple[int, bytes]:
        if quality != ("native" if self.version == 1 else "default"):
            return 400, f"quality {quality} is not Image API {self.version}".encode()
        full = "max" if self.version == 3 else "full"
        if region == "full":
            rw, rh = self.width, self.height
        else:
            m = re.fullmatch(r"(\d+),(\d+),(\d+),(\d+)", region)
            if not m or self.level < 1:
                return 400, b"region not supported at this level"
            x, y, rw, rh = map(int, m.groups())
            rw, rh = min(rw, self.width - x), min(rh, self.height - y)
        listed = {f"{w},{h}" for w, h in self.sizes}
        if size == full:
            out = (rw, rh)
        elif size in listed and region == "full":
            w, h = map(int, size.split(","))
            out = (w, h)
        elif self.level == 0:
            return 400, f"level 0: only {full} or a listed size, not {size}".encode()
        elif size.startswith("!"):
            if self.level < 2:
                return 400, b"!w,h needs level 2"
            w, h = map(int, size[1:].split(","))
            scale = min(w / rw, h / rh)
            out = (max(1, round(rw * scale)), max(1, round(rh * scale)))
        elif re.fullmatch(r"\d+,", size):
            w = int(size[:-1])
            out = (w, max(1, round(rh * w / rw)))
        elif re.fullmatch(r",\d+", size):
            h = int(size[1:])
            out = (max(1, round(rw * h / rh)), h)
        else:
            return 400, f"size {size} not supported".encode()
        if out[0] > rw or out[1] > rh:
            return 400, b"upscaling is not supported"
        img = Image.new("RGB", out, self.colour)
        ImageDraw.Draw(img).rectangle([out[0] // 4, out[1] // 4, out[0] // 2, out[1] // 2], fill=(250, 250, 250))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        return 200, buf.getvalue()


def _size(spec: str) -> tuple[int, int] | None:
    if spec in ("full", "max"):
        return PAGE_W, PAGE_H
    m = re.fullmatch(r"(\d+),(\d+)", spec)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"!(\d+),(\d+)", spec)
    if m:
        scale = min(int(m.group(1)) / PAGE_W, int(m.group(2)) / PAGE_H)
        return max(1, round(PAGE_W * scale)), max(1, round(PAGE_H * scale))
    m = re.fullmatch(r"(\d+),", spec)
    if m:
        return int(m.group(1)), max(1, round(PAGE_H * int(m.group(1)) / PAGE_W))
    m = re.fullmatch(r",(\d+)", spec)
    if m:
        return max(1, round(PAGE_W * int(m.group(1)) / PAGE_H)), int(m.group(1))
    return None


class IIIFServer:
    """Start with ``start()``; ``base`` is its URL; ``stop()`` when done."""

    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.log: list[tuple[float, str, str]] = []
        self.delay_s = 0.0
        self.manifest_delay_s = 0.0
        self.fault_sleep_s = 3.0
        self.drip_s = 0.5
        self.docs: dict[str, dict] = {}
        self.images: dict[str, ImageService] = {}
        self.peak: dict[str, int] = defaultdict(int)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> "IIIFServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests(self, prefix: str = "") -> list[str]:
        """Paths requested so far that start with ``prefix``."""
        with self._lock:
            return [p for _, p, _ in self.log if p.startswith(prefix)]

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def _enter(self, path: str, delta: int) -> None:
        prefix = "/" + path.split("/")[1] if path.count("/") > 1 else path
        with self._lock:
            self._in_flight[prefix] += delta
            self.peak[prefix] = max(self.peak[prefix], self._in_flight[prefix])

    def _route(self, path: str) -> tuple[int, str, bytes] | None:
        base = self.base
        if path in self.docs:
            if self.manifest_delay_s:
                time.sleep(self.manifest_delay_s)
            return 200, "application/ld+json", json.dumps(self.docs[path]).encode()
        m = re.fullmatch(r"/img/([\w-]+)/info\.json", path)
        if m and m.group(1) in self.images:
            return 200, "application/ld+json", json.dumps(self.images[m.group(1)].info(base, m.group(1))).encode()
        m = re.fullmatch(r"/img/([\w-]+)/([^/]+)/([^/]+)/0/(\w+)\.jpg", path)
        if m and m.group(1) in self.images:
            code, body = self.images[m.group(1)].render(m.group(2), m.group(3), m.group(4))
            return code, "image/jpeg" if code == 200 else "text/plain", body
        m = re.fullmatch(r"/iiif/(b\d)/(\d+)/info\.json", path)
        if m and m.group(1) in BOOKS:
            level = BOOKS[m.group(1)][3]
            sizes = [{"width": PAGE_W // k, "height": PAGE_H // k} for k in (4, 2, 1)] if level == 0 else []
            doc = {"@context": "http://iiif.io/api/image/2/context.json", "@id": f"{base}/iiif/{m.group(1)}/{m.group(2)}",
                   "width": PAGE_W, "height": PAGE_H, "profile": [f"http://iiif.io/api/image/2/level{level}.json"],
                   "sizes": sizes}
            return 200, "application/ld+json", json.dumps(doc).encode()
        m = re.fullmatch(r"/manifests/(b\d)\.json", path)
        if m and m.group(1) in BOOKS:
            book = m.group(1)
            doc = _v2_manifest(base, book) if BOOKS[book][0] == 2 else _v3_manifest(base, book)
            return 200, "application/ld+json", json.dumps(doc).encode()
        if path == "/collection.json":
            doc = {
                "@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}/collection.json",
                "type": "Collection", "label": {"en": ["Picture books"]},
                "items": [{"id": f"{base}/manifests/{b}.json", "type": "Manifest"} for b in ("b2", "b3")],
            }
            return 200, "application/ld+json", json.dumps(doc).encode()
        if path == "/hostile-collection.json":
            doc = {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": f"{base}/hostile-collection.json",
                   "@type": "sc:Collection", "manifests": [{"@id": "/etc/passwd"}, {"@id": f"{base}/manifests/b1.json"}]}
            return 200, "application/ld+json", json.dumps(doc).encode()
        if path == "/not-a-manifest.json":
            return 200, "application/json", b'{"hello": "world"}'
        m = re.fullmatch(r"/iiif/(b\d)/(\d+)/full/([^/]+)/0/default\.jpg", path)
        if m and m.group(1) in BOOKS:
            size = _size(m.group(3))
            if size is None:
                return 400, "text/plain", b"unsupported size"
            if self.delay_s:
                time.sleep(self.delay_s)
            return 200, "image/jpeg", page_image(m.group(1), int(m.group(2)), *size)
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, ctype: str, body: bytes, headers: dict | None = None, cut: bool = False):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if cut:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True

            def _drip(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    try:
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return
                    time.sleep(server.drip_s)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.log.append((time.monotonic(), path, self.headers.get("User-Agent", "")))
                server._enter(path, 1)
                try:
                    self._get(path)
                finally:
                    server._enter(path, -1)

            def _get(self, path: str) -> None:
                if path == "/redirect-ftp":
                    return self._send(302, "text/plain", b"", {"Location": "ftp://127.0.0.1/m.json"})
                fault = server._next_fault(path)
                if fault == "429":
                    return self._send(429, "text/plain", b"slow down", {"Retry-After": "1"})
                if fault == "429-long":
                    return self._send(429, "text/plain", b"slow down", {"Retry-After": "3600"})
                if fault == "500":
                    return self._send(500, "text/plain", b"oops")
                if fault in ("401", "403"):
                    return self._send(int(fault), "text/plain", b"login first")
                if fault == "drip":
                    self.close_connection = True
                    return self._drip(b"x" * 1000)
                if fault == "timeout":
                    time.sleep(server.fault_sleep_s)
                routed = server._route(path)
                if routed is None:
                    return self._send(404, "text/plain", b"not found")
                self._send(*routed, cut=fault == "truncate")

        return Handler


def main() -> None:
    """Serve until interrupted (for trying the README's commands by hand)."""
    srv = IIIFServer().start()
    print(srv.base, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()


def add_books(ws, out, tiny_model, books: tuple[str, ...] = ("b1", "b3")) -> dict[int, dict]:
    """Serve ``books``, import them into ``out``, ingest and embed them into ``ws`` (tiny model).

    Returns the image metadata of every image in ``ws`` that came from a book.
    """
    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.metadata import image_metadata
    from clipcore.embedding.pipeline import embed_workspace
    from clipcore.sources.iiif import FetchPolicy, import_iiif

    srv = IIIFServer().start()
    try:
        import_iiif([f"{srv.base}/manifests/{b}.json" for b in books], out, size=128, policy=FetchPolicy(allow_private=True))
    finally:
        srv.stop()
    ingest_folder(ws, out)
    embed_workspace(ws, tiny_model, batch_size=16)
    return image_metadata(ws, [int(i) for i in ws.image_ids()])
