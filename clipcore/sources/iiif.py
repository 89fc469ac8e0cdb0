"""Import a digital library's books through IIIF: manifests in, ``DIR/<book>/<page>.jpg`` out.

sources (manifest / collection URLs or files, or a text file listing them)
-> documents (fetched JSON; a collection is followed to its manifests)
-> books (``parse_manifest``: IIIF Presentation 2.1 or 3.0; canvases are the pages)
-> page URLs (``choose_image_url``: the Image API form the service's profile allows)
-> downloads (``Fetcher``: polite, bounded, retried) -> atomic page files + ``iiif-pages.csv``.

Politeness: at most ``per_host`` connections to one host, retries with exponential backoff on
429 and 5xx (a ``Retry-After`` is honoured, up to a cap), a User-Agent naming the project, a
timeout per request. Resumable: a page file is written under a hidden temporary name and
renamed when whole, so a rerun downloads only the pages that are missing.

Safety: only http(s) is fetched. Unless ``allow_private`` is set, a connection to a private,
loopback, link-local or otherwise non-public address is refused at connect time (after DNS,
so a redirect or a name that resolves inward is caught too). Local files as sources are
refused unless ``allow_local_files`` is set (the CLI allows them; an import started from the
app does not, unless the config says so).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import json
import logging
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterable

from clipcore import __version__
from clipcore.catalog.metadata import write_pages_file
from clipcore.catalog.store import atomic_write_bytes
from clipcore.errors import ClipcoreError, InputError

logger = logging.getLogger(__name__)

USER_AGENT = f"clipcore-iiif/{__version__} (image collection tool; python urllib)"
ProgressFn = Callable[[int, int], None]


class FetchError(ClipcoreError):
    """A URL could not be fetched; ``str(exc)`` is the one-line reason."""


class ManifestError(ClipcoreError):
    """A document is not a usable IIIF manifest or collection."""


@dataclass(frozen=True)
class FetchPolicy:
    """How an import behaves on the network, and its limits.

    ``max_images`` caps the pages downloaded by one import (None: no cap).
    """

    user_agent: str = USER_AGENT
    timeout_s: float = 30.0
    max_request_s: float = 600.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    per_host: int = 2
    workers: int = 4
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 80_000_000
    max_images: int | None = None
    max_manifest_bytes: int = 20 * 1024 * 1024
    allow_private: bool = False
    allow_local_files: bool = True


# -- network -------------------------------------------------------------------------------


def _blocked(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not addr.is_global or addr.is_multicast


def _guarded_connect(allow_private: bool):
    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kw):
        sock = socket.create_connection(address, timeout, source_address, **kw)
        peer = sock.getpeername()[0]
        if not allow_private and _blocked(peer):
            sock.close()
            raise FetchError(
                f"refused: {address[0]} is a private or local address ({peer}); "
                "allow it with --allow-private or [iiif] allow_private = true in clipcore.toml"
            )
        return sock

    return create_connection


def _opener(allow_private: bool) -> urllib.request.OpenerDirector:
    connect = _guarded_connect(allow_private)

    class _HTTP(http.client.HTTPConnection):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._create_connection = connect

    class _HTTPS(http.client.HTTPSConnection):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._create_connection = connect

    class _HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_HTTP, req)

    class _HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(_HTTPS, req)

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
                raise FetchError(f"refused: redirect to a non-http(s) URL {newurl[:200]!r}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    # No ProxyHandler from the environment: the address check must see the real peer.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _Redirects)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Fetcher:
    """GET with retries and a connection bound per host; safe to share between threads."""

    def __init__(self, policy: FetchPolicy, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._opener = _opener(policy.allow_private)
        self._sleep = sleep
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = (urllib.parse.urlsplit(url).netloc or "").lower()
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(max(1, self.policy.per_host))
            return self._hosts[host]

    def _once(self, url: str, max_bytes: int, accept: str) -> bytes:
        req = urllib.request.Request(url, headers={"User-Agent": self.policy.user_agent, "Accept": accept})
        with self._host_slot(url):
            with self._opener.open(req, timeout=self.policy.timeout_s) as resp:
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"too large: {int(declared)} bytes (limit {max_bytes})")
                chunks, total = [], 0
                started = time.monotonic()
                while True:
                    chunk = resp.read(64 * 1024)
                    if not chunk:
                        break
                    if time.monotonic() - started > self.policy.max_request_s:  # a server that drips
                        raise TimeoutError(f"slower than {self.policy.max_request_s:g}s in all")
                    total += len(chunk)
                    if total > max_bytes:
                        raise FetchError(f"too large: more than {max_bytes} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
                if declared and declared.isdigit() and len(body) < int(declared):
                    raise http.client.IncompleteRead(body, int(declared) - len(body))
                return body

    def get(self, url: str, *, max_bytes: int, accept: str = "*/*") -> bytes:
        """The body of ``url``.

        Retries 429, 5xx, timeouts, resets and truncated bodies up to ``max_retries`` times,
        waiting ``Retry-After`` when the server gives one (refusing waits above
        ``max_retry_after_s``), else exponential backoff with jitter.
        Raises:
            FetchError: with a one-line reason, once retries are spent or at once for other errors.
        """
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise FetchError(f"refused: only http(s) URLs are fetched; got {url[:200]!r}")
        p = self.policy
        for attempt in range(p.max_retries + 1):
            wait: float | None = None
            try:
                return self._once(url, max_bytes, accept)
            except FetchError:
                raise
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and not 500 <= exc.code < 600:
                    raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
                reason = f"HTTP {exc.code} {exc.reason}"
                wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if wait is not None and wait > p.max_retry_after_s:
                    raise FetchError(f"{reason}; server asked to wait {wait:.0f}s (limit {p.max_retry_after_s:.0f}s)") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, FetchError):
                    raise exc.reason from None
                if isinstance(exc.reason, socket.gaierror):  # an unknown host name does not come back
                    raise FetchError(f"cannot resolve host: {exc.reason}") from None
                reason = f"cannot connect: {exc.reason}"
            except (TimeoutError, socket.timeout) as exc:
                detail = str(exc) if str(exc) not in ("", "timed out") else f"no data for {p.timeout_s:g}s"
                reason = f"timed out: {detail}"
            except http.client.IncompleteRead as exc:
                reason = f"truncated body ({len(exc.partial)} bytes, {exc.expected} missing)"
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                reason = f"connection failed: {exc}"
            if attempt == p.max_retries:
                raise FetchError(f"{reason} (after {p.max_retries + 1} tries)")
            if wait is None:
                wait = min(p.max_backoff_s, p.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
            logger.info("retrying %s in %.1fs: %s", url, wait, reason)
            self._sleep(wait)
        raise FetchError("unreachable")  # the loop returns or raises


# -- IIIF Presentation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One canvas: ``index`` 1-based in reading order; ``image_url`` what will be fetched."""

    index: int
    canvas_id: str
    label: str
    image_url: str
    width: int | None = None
    height: int | None = None


@dataclass
class Book:
    """One manifest; ``folder`` is its folder name under the import's output."""

    manifest_id: str
    label: str
    attribution: str
    license: str
    pages: list[Page] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return book_folder(self.label, self.manifest_id)


def book_folder(label: str, manifest_id: str) -> str:
    """A stable, unique folder name: the label made safe (letters of any script kept) + a short hash."""
    slug = re.sub(r"[^\w.-]+", "-", label, flags=re.UNICODE).strip("-.")[:40] or "book"
    return f"{slug}-{hashlib.sha1(manifest_id.encode()).hexdigest()[:6]}"


def _text(value: Any) -> str:
    """A label, attribution or licence as plain text: v2 strings / {"@value"} / lists, v3 language maps."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return "; ".join(p for p in parts if p)
    if isinstance(value, dict):
        if "@value" in value:
            return _text(value["@value"])
        if "value" in value and "label" in value:  # v3 requiredStatement
            return _text(value["value"])
        for lang in ("en", "none", "@none"):
            if lang in value:
                return _text(value[lang])
        for v in value.values():
            return _text(v)
    return ""


class _PlainText(HTMLParser):
    """The text of the HTML subset IIIF allows in labels and attribution; scripts dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p"):
            self.parts.append(" ")

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def plain_text(value: Any) -> str:
    """``_text`` with any HTML markup reduced to its text and whitespace collapsed.

    Untrusted either way: callers escape it before display.
    """
    text = _text(value)
    if "<" in text or "&" in text:
        parser = _PlainText()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return " ".join(text.split())


def _id(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return str(obj.get("id") or obj.get("@id") or "")
    return ""


def _kind(doc: dict) -> str:
    t = doc.get("type") or doc.get("@type") or ""
    t = t[0] if isinstance(t, list) and t else t
    return str(t).split(":")[-1].lower()


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _service_info(service: Any) -> dict | None:
    """{id, version, level, features, max_w, max_h} of the first Image API service."""
    services = service if isinstance(service, list) else [service]
    for s in services:
        if not isinstance(s, dict):
            continue
        sid = _id(s)
        stype = str(s.get("type") or s.get("@type") or "")
        ctx = json.dumps(s.get("@context", ""))
        profile = s.get("profile")
        profiles = profile if isinstance(profile, list) else [profile]
        text = " ".join(p for p in profiles if isinstance(p, str))
        if not sid or not ("ImageService" in stype or "image/" in ctx or "image/" in text or "level" in text):
            continue
        version = 3 if (stype == "ImageService3" or "image/3" in ctx or "image/3" in text) else 2
        if "image-api/1" in ctx + text or "image/1" in ctx + text:
            version = 1
        m = re.search(r"level([012])", text)
        level = int(m.group(1)) if m else 0
        features = set(s.get("extraFeatures") or [])
        max_w, max_h = _int(s.get("maxWidth")), _int(s.get("maxHeight"))
        for p in profiles:
            if isinstance(p, dict):
                features |= set(p.get("supports") or [])
                max_w = max_w or _int(p.get("maxWidth"))
                max_h = max_h or _int(p.get("maxHeight"))
        sid = sid.rstrip("/").removesuffix("/info.json")
        return {"id": sid, "version": version, "level": level, "features": features, "max_w": max_w, "max_h": max_h}
    return None


def choose_image_url(service: Any, fallback: str, size: int, width: int | None, height: int | None) -> str:
    """The URL of a page image at most ``size`` px on its long side, in a form the service allows.

    Level 2 (or ``sizeByConfinedWh``): ``full/!S,S/0/default.jpg``. Level 1 (``sizeByW`` /
    ``sizeByH``) with the canvas size known: ``full/S,/...`` or ``full/,S/...`` on the long
    side. Level 0, or an image already small enough: the full size (``full`` in Image API 2,
    ``max`` in 3). No image service: the resource's own URL. No info.json is fetched: one
    request per page.
    """
    info = _service_info(service) if service else None
    if info is None:
        if not fallback:
            raise ManifestError("a canvas has neither an image service nor an image URL")
        return fallback
    full = "max" if info["version"] == 3 else "full"
    quality = "native" if info["version"] == 1 else "default"  # Image API 1.1 names it "native"
    limit = size
    if info["max_w"] or info["max_h"]:
        limit = min(size, *(v for v in (info["max_w"], info["max_h"]) if v))
    feats = info["features"]
    small = width is not None and height is not None and max(width, height) <= limit
    if small:
        spec = full
    elif info["level"] >= 2 or "sizeByConfinedWh" in feats:
        spec = f"!{limit},{limit}"
    elif width and height and (info["level"] >= 1 or {"sizeByW", "sizeByH"} & feats):
        spec = f"{limit}," if width >= height else f",{limit}"
    else:
        spec = full
    return f"{info['id']}/full/{spec}/0/{quality}.jpg"


def _v2_pages(doc: dict, size: int) -> list[Page]:
    sequences = doc.get("sequences") or []
    canvases = (sequences[0].get("canvases") if sequences and isinstance(sequences[0], dict) else None) or []
    pages = []
    for n, canvas in enumerate(canvases, start=1):
        if not isinstance(canvas, dict):
            continue
        images = canvas.get("images") or []
        res = images[0].get("resource") if images and isinstance(images[0], dict) else None
        if not isinstance(res, dict):
            continue
        w, h = _int(canvas.get("width")), _int(canvas.get("height"))
        url = choose_image_url(res.get("service"), _id(res), size, w, h)
        pages.append(Page(n, _id(canvas), _text(canvas.get("label")), url, w, h))
    return pages


def _v3_body(canvas: dict) -> dict | None:
    for page in canvas.get("items") or []:
        for anno in (page.get("items") or []) if isinstance(page, dict) else []:
            body = anno.get("body") if isinstance(anno, dict) else None
            bodies = body if isinstance(body, list) else [body]
            for b in bodies:
                if isinstance(b, dict) and _kind(b) == "choice":
                    b = (b.get("items") or [None])[0]
                if isinstance(b, dict) and _kind(b) in ("image", ""):
                    return b
    return None


def _v3_pages(doc: dict, size: int) -> list[Page]:
    pages = []
    for n, canvas in enumerate(doc.get("items") or [], start=1):
        if not isinstance(canvas, dict):
            continue
        body = _v3_body(canvas)
        if body is None:
            continue
        w, h = _int(canvas.get("width")), _int(canvas.get("height"))
        url = choose_image_url(body.get("service"), _id(body), size, w, h)
        pages.append(Page(n, _id(canvas), _text(canvas.get("label")), url, w, h))
    return pages


def parse_manifest(doc: Any, source: str, size: int = 1024) -> Book:
    """A Presentation 2.1 or 3.0 manifest as a ``Book``.

    Raises:
        ManifestError: not a manifest, or a manifest without any usable page.
    """
    if not isinstance(doc, dict) or _kind(doc) != "manifest":
        kind = _kind(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ManifestError(f"not an IIIF manifest (type {kind or 'missing'!r})")
    v3 = "items" in doc and "sequences" not in doc
    manifest_id = _id(doc) or source
    label = " ".join(_text(doc.get("label")).split()) or manifest_id
    if v3:
        attribution = plain_text(doc.get("requiredStatement"))
        license_ = _text(doc.get("rights"))
        pages = _v3_pages(doc, size)
    else:
        attribution = plain_text(doc.get("attribution"))
        license_ = _text(doc.get("license"))
        pages = _v2_pages(doc, size)
    if not pages:
        raise ManifestError("the manifest has no canvas with an image")
    return Book(manifest_id, label, attribution, license_, pages)


def collection_members(doc: dict) -> list[str]:
    """URLs of the manifests and sub-collections a Presentation 2 or 3 collection lists."""
    members = []
    for key in ("manifests", "collections", "members", "items"):
        for m in doc.get(key) or []:
            mid = _id(m)
            if mid:
                members.append(mid)
    return list(dict.fromkeys(members))


# -- the import ----------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What one import did; ``failed`` holds one {url, reason} per source or page that failed."""

    out: str
    manifests: int = 0
    downloaded: int = 0
    skipped: int = 0
    limited: int = 0
    failed: list[dict] = field(default_factory=list)
    books: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "out": self.out,
            "manifests": self.manifests,
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "limited": self.limited,
            "failed": self.failed,
            "books": self.books,
        }


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


class _Importer:
    def __init__(self, out: Path, size: int, policy: FetchPolicy, fetcher: Fetcher | None) -> None:
        self.out = out
        self.size = size
        self.policy = policy
        self.fetcher = fetcher or Fetcher(policy)
        self.report = ImportReport(out=str(out))
        self.books: list[Book] = []
        self._seen: set[str] = set()

    def fail(self, url: str, reason: str) -> None:
        logger.warning("%s: %s", url, reason)
        self.report.failed.append({"url": url, "reason": reason})

    def _load_local(self, text: str) -> tuple[Any, bool]:
        path = Path(text.removeprefix("file://")).expanduser()
        if not self.policy.allow_local_files:
            raise FetchError("refused: local files are not allowed here; give an http(s) URL")
        if not path.is_file():
            raise FetchError(f"no such file or URL {text!r}")
        raw = path.read_bytes()[: self.policy.max_manifest_bytes + 1]
        if len(raw) > self.policy.max_manifest_bytes:
            raise FetchError(f"too large: more than {self.policy.max_manifest_bytes} bytes")
        body = raw.decode("utf-8-sig", errors="replace")
        if body.lstrip().startswith(("{", "[")):
            return json.loads(body), False
        return [line.strip() for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")], True

    def add_source(self, source: str, depth: int = 0, *, named_remotely: bool = False) -> None:
        source = source.strip()
        if not source or source in self._seen:
            return
        self._seen.add(source)
        if named_remotely and not _is_url(source):
            # A document from the network may name only http(s) URLs, never a file here.
            return self.fail(source, "refused: a remote collection may only name http(s) URLs")
        try:
            if _is_url(source):
                body = self.fetcher.get(
                    source, max_bytes=self.policy.max_manifest_bytes, accept="application/ld+json, application/json;q=0.9"
                )
                doc, is_list = json.loads(body.decode("utf-8-sig")), False
            else:
                doc, is_list = self._load_local(source)
        except (FetchError, ManifestError) as exc:
            return self.fail(source, str(exc))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return self.fail(source, f"not JSON: {exc}")
        if is_list:
            if depth > 0:
                return self.fail(source, "a list of sources may not name another list")
            for line in doc:
                self.add_source(line, depth + 1)
            return
        if isinstance(doc, dict) and _kind(doc) == "collection":
            if depth >= 5:
                return self.fail(source, "collections nested more than 5 deep")
            members = collection_members(doc)
            if not members:
                self.fail(source, "the collection lists no manifests")
            for member in members:
                self.add_source(member, depth + 1, named_remotely=named_remotely or _is_url(source))
            return
        try:
            book = parse_manifest(doc, source, self.size)
        except ManifestError as exc:
            return self.fail(source, str(exc))
        self.books.append(book)
        self.report.manifests += 1

    def plan(self) -> list[tuple[Book, Page, Path]]:
        todo = []
        rows = []
        budget = self.policy.max_images
        for book in self.books:
            folder = self.out / book.folder
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp"):  # left by a run that was killed mid-write
                stale.unlink(missing_ok=True)
            for page in book.pages:
                target = folder / f"{page.index:04d}.jpg"
                rows.append(
                    {
                        "path": f"{book.folder}/{target.name}", "book": book.folder, "book_label": book.label,
                        "page": page.index, "page_label": page.label, "manifest": book.manifest_id,
                        "canvas": page.canvas_id, "attribution": book.attribution, "license": book.license,
                    }
                )
                if target.exists():
                    self.report.skipped += 1
                elif budget is not None and len(todo) >= budget:
                    self.report.limited += 1
                else:
                    todo.append((book, page, target))
            self.report.books.append(
                {"book": book.folder, "label": book.label, "manifest": book.manifest_id, "pages": len(book.pages)}
            )
        if rows:  # once, before any download: every planned page is described even if the run dies
            write_pages_file(self.out, rows)
        return todo

    def download(self, item: tuple[Book, Page, Path]) -> str | None:
        """Fetch, check and store one page; the failure reason, or None."""
        _, page, target = item
        try:
            data = self.fetcher.get(page.image_url, max_bytes=self.policy.max_image_bytes, accept="image/*")
            data = self._checked_jpeg(data)
        except FetchError as exc:
            return str(exc)
        atomic_write_bytes(target, data)
        return None

    def _checked_jpeg(self, data: bytes) -> bytes:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > self.policy.max_image_pixels:
                    raise FetchError(f"too many pixels: {w}x{h} (limit {self.policy.max_image_pixels})")
                img.load()  # a truncated or corrupt body fails here, not in a later ingest
                if img.format == "JPEG":
                    return data
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "JPEG", quality=92)
                return buf.getvalue()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise FetchError(f"not a readable image: {exc}") from None


def import_iiif(
    sources: Iterable[str],
    out: str | Path,
    *,
    size: int = 1024,
    policy: FetchPolicy | None = None,
    progress: ProgressFn | None = None,
    fetcher: Fetcher | None = None,
) -> ImportReport:
    """Download every page of the books named by ``sources`` into ``out/<book>/<page>.jpg``.

    Args:
        sources: manifest or collection URLs or files, or text files listing them (one a line).
        size: longest side requested from the Image API, in pixels (64..10000).
        progress: called as ``progress(done, total)`` over the pages to download.
    Returns:
        The report; a source or page that failed is in ``failed`` with its reason, the rest
        still imported. ``out/iiif-pages.csv`` describes every page (see ``catalog.metadata``).
    Raises:
        InputError: no sources, a bad size, or an unusable output folder.
    """
    sources = [s for s in sources if s and s.strip()]
    if not sources:
        raise InputError("import-iiif needs at least one manifest or collection URL, or a file listing them.")
    if not 64 <= int(size) <= 10000:
        raise InputError(f"--size must be between 64 and 10000 pixels; got {size}.")
    policy = policy or FetchPolicy()
    root = Path(out).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"output {str(root)!r} is a file; give a folder.")
    root.mkdir(parents=True, exist_ok=True)
    imp = _Importer(root.resolve(), int(size), policy, fetcher)
    for source in sources:
        imp.add_source(source)
    todo = imp.plan()
    done = 0
    if progress:
        progress(0, len(todo))
    with ThreadPoolExecutor(max_workers=max(1, policy.workers)) as pool:
        for item, reason in zip(todo, pool.map(imp.download, todo)):
            done += 1
            if reason is None:
                imp.report.downloaded += 1
            else:
                imp.fail(item[1].image_url, reason)
            if progress:
                progress(done, len(todo))
    logger.info("import-iiif into %s: %s", root, {k: v for k, v in imp.report.to_dict().items() if k not in ("failed", "books")})
    return imp.report
