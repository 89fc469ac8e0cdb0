"""The import: sources -> documents -> books -> planned pages -> downloads -> page files + ``iiif-pages.csv``.

Documents (manifests, collections, and the manifests a collection lists) are fetched through
the same ``Fetcher`` as images, so the per-host bound holds for both; a collection's members
are fetched ``workers`` at a time, in order, and fetching stops once ``max_manifests``
manifests are read or ``max_images`` pages are planned.

A page's file is ``<book folder>/<canvas position>.jpg``: the name never shifts when another
canvas gains or loses an image, and a book already on disk keeps its folder (found by its
manifest id in the pages file), so a rerun downloads only the pages that are missing and
fetches no info.json for pages it has. Files are written under a hidden temporary name and
renamed when whole.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from clipcore.catalog.metadata import METADATA_NAME, read_pages_file, write_pages_file
from clipcore.catalog.store import atomic_write_bytes
from clipcore.errors import InputError
from clipcore.sources.iiif.fetcher import Fetcher, FetchError, FetchPolicy
from clipcore.sources.iiif.image_api import ImageRef, ImageRequest, image_request, merge_info, needs_info
from clipcore.sources.iiif.presentation import Book, ManifestError, Page, collection_members, document_kind, parse_manifest

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
ACCEPT_JSON = "application/ld+json, application/json;q=0.9"


@dataclass
class ImportReport:
    """What one import did; ``failed`` holds one {url, reason} per source, canvas or page that failed.

    ``limited``: pages not downloaded because of ``max_images``; ``manifests_limited``:
    manifests not read because a limit was reached.
    """

    out: str
    manifests: int = 0
    downloaded: int = 0
    skipped: int = 0
    limited: int = 0
    manifests_limited: int = 0
    failed: list[dict] = field(default_factory=list)
    books: list[dict] = field(default_factory=list)

    @property
    def nothing_imported(self) -> bool:
        """No page downloaded or already there, and something failed (the CLI exits 2)."""
        return self.downloaded + self.skipped == 0 and bool(self.failed)

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "out": self.out,
            "manifests": self.manifests,
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "limited": self.limited,
            "manifests_limited": self.manifests_limited,
            "failed": self.failed,
            "books": self.books,
        }


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def login_reason(institution: str, detail: str) -> str:
    """The reason given for an IIIF Auth answer (401/403)."""
    return f"this item needs a login at {institution} ({detail})"


class _Importer:
    def __init__(self, out: Path, size: int, policy: FetchPolicy, fetcher: Fetcher | None, language: str | None) -> None:
        self.out = out
        self.size = size
        self.policy = policy
        self.language = language
        self.fetcher = fetcher or Fetcher(policy)
        self.report = ImportReport(out=str(out))
        self.todo: list[tuple[Book, Page, Path]] = []
        self.rows: list[dict] = []
        self._seen: set[str] = set()
        self._collections = 0
        self._folders = self._known_folders()
        self._infos: dict[str, Any] = {}
        self._info_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, policy.workers), thread_name_prefix="clipcore-iiif")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _known_folders(self) -> dict[str, str]:
        """manifest id -> book folder of the books already described in the pages file."""
        known: dict[str, str] = {}
        for row in read_pages_file(self.out / METADATA_NAME).values():
            if row.get("manifest") and row.get("book"):
                known.setdefault(row["manifest"], row["book"])
        return known

    def fail(self, url: str, reason: str) -> None:
        logger.warning("%s: %s", url, reason)
        self.report.failed.append({"url": url, "reason": reason})

    # -- documents -------------------------------------------------------------------------

    def _full(self) -> bool:
        p = self.policy
        if p.max_manifests is not None and self.report.manifests >= p.max_manifests:
            return True
        return p.max_images is not None and len(self.todo) >= p.max_images

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

    def _load(self, source: str) -> tuple[Any, bool] | str:
        """(document, is a list of sources), or the reason it could not be read."""
        try:
            if _is_url(source):
                body = self.fetcher.get(source, max_bytes=self.policy.max_manifest_bytes, accept=ACCEPT_JSON)
                return json.loads(body.decode("utf-8-sig")), False
            return self._load_local(source)
        except FetchError as exc:
            if exc.status in (401, 403):
                return login_reason(_host(source), str(exc))
            return str(exc)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return f"not JSON: {exc}"

    def add_sources(self, sources: list[str]) -> None:
        self._add_many(sources, depth=0, named_remotely=False)

    def _add_many(self, sources: list[str], depth: int, named_remotely: bool) -> None:
        """Read ``sources`` in order, ``workers`` documents at a time, until a limit is reached."""
        wanted = []
        for source in sources:
            source = source.strip()
            if not source or source in self._seen:
                continue
            self._seen.add(source)
            if named_remotely and not _is_url(source):
                # A document from the network may name only http(s) URLs, never a file here.
                self.fail(source, "refused: a remote collection may only name http(s) URLs")
                continue
            wanted.append(source)
        start = 0
        while start < len(wanted):
            if self._full():
                self.report.manifests_limited += len(wanted) - start
                logger.info("limit reached: %d more source(s) not read", len(wanted) - start)
                return
            step = max(1, self.policy.workers)
            if self.policy.max_manifests is not None:  # no more fetched than may still be read
                step = min(step, self.policy.max_manifests - self.report.manifests)
            batch = wanted[start : start + step]
            start += len(batch)
            for source, loaded in zip(batch, self._pool.map(self._load, batch)):
                if self._full():
                    self.report.manifests_limited += 1
                    continue
                self._take(source, loaded, depth, named_remotely)

    def _take(self, source: str, loaded: tuple[Any, bool] | str, depth: int, named_remotely: bool) -> None:
        if isinstance(loaded, str):
            return self.fail(source, loaded)
        doc, is_list = loaded
        if is_list:
            if depth > 0:
                return self.fail(source, "a list of sources may not name another list")
            return self._add_many(doc, depth + 1, named_remotely)
        if document_kind(doc) == "collection":
            if depth >= 5:
                return self.fail(source, "collections nested more than 5 deep")
            self._collections += 1
            cap = self.policy.max_manifests
            if cap is not None and self._collections > cap:  # a tree of empty collections is bounded too
                return self.fail(source, f"more than {cap} collections in one run (the manifest limit); not read")
            members = collection_members(doc)
            if not members:
                return self.fail(source, "the collection lists no manifests")
            return self._add_many(members, depth + 1, named_remotely or _is_url(source))
        try:
            book = parse_manifest(doc, source, language=self.language)
        except ManifestError as exc:
            return self.fail(source, str(exc))
        self.report.manifests += 1
        for bad in book.skipped:
            self.fail(bad["canvas"], bad["reason"])
        self._plan(book)

    # -- pages -----------------------------------------------------------------------------

    def _folder_on_disk(self, book: Book) -> str | None:
        """The folder of this manifest's book already on disk: named in the pages file, else
        the one folder ending in the manifest's hash (a pages file lost or replaced)."""
        if book.manifest_id in self._folders:
            return self._folders[book.manifest_id]
        suffix = "-" + book.folder.rsplit("-", 1)[1]
        found = [p.name for p in self.out.glob(f"*{suffix}") if p.is_dir() and not p.name.startswith(".")]
        return found[0] if len(found) == 1 else None

    def _plan(self, book: Book) -> None:
        folder_name = self._folder_on_disk(book) or book.folder  # a book on disk keeps its folder
        self._folders[book.manifest_id] = folder_name
        folder = self.out / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # left by a run that was killed mid-write
            stale.unlink(missing_ok=True)
        budget = self.policy.max_images
        for page in book.pages:
            target = folder / f"{page.canvas_position:04d}.jpg"
            self.rows.append(
                {
                    "path": f"{folder_name}/{target.name}", "book": folder_name, "book_label": book.label,
                    "page": page.index, "page_label": page.label, "manifest": book.manifest_id,
                    "canvas": page.canvas_id, "attribution": book.attribution, "license": book.license,
                    "canvas_position": page.canvas_position,
                    "book_label_languages": json.dumps(book.label_languages, ensure_ascii=False) if book.label_languages else "",
                    "metadata": json.dumps(book.metadata, ensure_ascii=False) if book.metadata else "",
                    "homepage": book.homepage,
                }
            )
            if target.exists():
                self.report.skipped += 1
            elif budget is not None and len(self.todo) >= budget:
                self.report.limited += 1
            else:
                self.todo.append((book, page, target))
        self.report.books.append(
            {"book": folder_name, "label": book.label, "manifest": book.manifest_id, "pages": len(book.pages),
             "homepage": book.homepage}
        )

    def write_pages(self) -> None:
        if self.rows:  # once, before any download: every planned page is described even if the run dies
            write_pages_file(self.out, self.rows)

    def _with_info(self, ref: ImageRef) -> ImageRef:
        """``ref`` with its service completed by info.json, fetched once per service (failures too)."""
        svc = ref.service
        if svc is None or not needs_info(ref):
            return ref
        with self._info_lock:
            event = self._infos.get(svc.id)
            owner = event is None
            if owner:
                event = self._infos[svc.id] = threading.Event()
        if owner:
            try:
                doc: Any = json.loads(
                    self.fetcher.get(f"{svc.id}/info.json", max_bytes=1024 * 1024, accept=ACCEPT_JSON).decode("utf-8-sig")
                )
            except (FetchError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                logger.info("no info.json for %s: %s", svc.id, exc)
                doc = None
            with self._info_lock:
                self._infos[svc.id + "\0doc"] = doc
            event.set()
        else:
            event.wait()
        doc = self._infos.get(svc.id + "\0doc")
        return ImageRef(ref.url, merge_info(svc, doc) if doc else svc, ref.width, ref.height, ref.region)

    def download(self, item: tuple[Book, Page, Path]) -> tuple[str, str | None]:
        """Fetch, check and store one page: (the URL asked, the failure reason or None)."""
        book, page, target = item
        url = page.image_url
        try:
            request = image_request(self._with_info(page.image), self.size)
            url = request.url
            data = self.fetcher.get(url, max_bytes=self.policy.max_image_bytes, accept="image/*")
            data = self._checked_jpeg(data, request)
        except FetchError as exc:
            if exc.status in (401, 403):
                svc = page.image.service
                detail = f"{svc.auth_label}; {exc}" if svc and svc.auth_label else str(exc)  # the auth service's own words
                return url, login_reason(book.provider or _host(url), detail)
            return url, str(exc)
        except ValueError as exc:
            return url, str(exc)
        atomic_write_bytes(target, data)
        return url, None

    def _checked_jpeg(self, data: bytes, request: ImageRequest) -> bytes:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > self.policy.max_image_pixels:
                    raise FetchError(f"too many pixels: {w}x{h} (limit {self.policy.max_image_pixels})")
                img.load()  # a truncated or corrupt body fails here, not in a later ingest
                out = img
                if request.crop:  # a region the service could not cut
                    x0, y0, x1, y1 = request.crop
                    out = out.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
                if request.max_side and max(out.size) > request.max_side:  # a service that could not scale
                    scale = request.max_side / max(out.size)
                    out = out.resize((max(1, round(out.width * scale)), max(1, round(out.height * scale))), Image.LANCZOS)
                if out is img and img.format == "JPEG":
                    return data
                buf = io.BytesIO()
                out.convert("RGB").save(buf, "JPEG", quality=92)
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
    language: str | None = None,
) -> ImportReport:
    """Download every page of the books named by ``sources`` into ``out/<book>/<canvas>.jpg``.

    Args:
        sources: manifest or collection URLs or files, or text files listing them (one a line).
        size: longest side of a stored page, in pixels (64..10000); never more is downloaded
            when the service can scale, and never more than the image has is asked for.
        progress: called as ``progress(done, total)`` over the pages to download.
        language: the language to take titles and labels in (else ``none``, English, the first).
    Returns:
        The report; a source, canvas or page that failed is in ``failed`` with its reason, the
        rest still imported. ``out/iiif-pages.csv`` describes every page (see ``catalog.metadata``).
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
    imp = _Importer(root.resolve(), int(size), policy, fetcher, language)
    try:
        imp.add_sources(sources)
        imp.write_pages()
        todo = imp.todo
        done = 0
        if progress:
            progress(0, len(todo))
        for url, reason in imp._pool.map(imp.download, todo):
            done += 1
            if reason is None:
                imp.report.downloaded += 1
            else:
                imp.fail(url, reason)
            if progress:
                progress(done, len(todo))
    finally:
        imp.close()
    logger.info("import-iiif into %s: %s", root, {k: v for k, v in imp.report.to_dict().items() if k not in ("failed", "books")})
    return imp.report
