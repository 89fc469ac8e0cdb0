"""IIIF Presentation 2.1 and 3.0: a manifest as a ``Book`` of ``Page``\\ s, a collection as its members.

Pages are the canvases that paint an image, numbered 1, 2, 3... in reading order
(``Page.index``); ``canvas_position`` keeps the canvas's own place (a sound or blank canvas
is counted there, not in the page numbers). The image is the painting annotation's body:
a v2 ``oa:Choice`` or v3 ``Choice`` gives its default (the first item), a
``SpecificResource`` the image it points at plus its region. A canvas whose painting has
neither an image service nor a URL is skipped with a reason (``Book.skipped``); the rest
of the book stands.

Text: a label, attribution, licence or metadata value may be a string, a v2 list of
``{"@value", "@language"}``, or a v3 language map. One language is chosen: the asked one,
else ``none``, else English, else the first given; the title in the other languages is
kept (``Book.label_languages``). HTML is reduced to its text.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from clipcore.errors import ClipcoreError
from clipcore.sources.iiif.image_api import ImageRef, _id, _int, describe_service


class ManifestError(ClipcoreError):
    """A document is not a usable IIIF manifest or collection."""


@dataclass(frozen=True)
class Page:
    """One page: ``index`` its number among the book's images (1-based), ``canvas_position``
    the canvas's place among all canvases (1-based; names the page's file)."""

    index: int
    canvas_id: str
    label: str
    image: ImageRef
    canvas_position: int = 0

    @property
    def image_url(self) -> str:
        """The resource's own URL (the request actually made may differ: ``image_api.image_request``)."""
        return self.image.url or (self.image.service.id if self.image.service else "")


@dataclass
class Book:
    """One manifest; ``folder`` is its folder name under the import's output.

    ``skipped``: one {canvas, reason} per canvas whose image could not be used.
    ``metadata``: the manifest's (label, value) pairs as text; ``homepage``: a link to the
    item in the library's own viewer (http(s) only); ``provider``: the institution's name.
    """

    manifest_id: str
    label: str
    attribution: str
    license: str
    pages: list[Page] = field(default_factory=list)
    label_languages: dict[str, str] = field(default_factory=dict)
    metadata: list[tuple[str, str]] = field(default_factory=list)
    homepage: str = ""
    provider: str = ""
    skipped: list[dict] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return book_folder(self.label, self.manifest_id)


def book_folder(label: str, manifest_id: str) -> str:
    """A stable, unique folder name: the label made safe (letters of any script kept) + a short hash."""
    slug = re.sub(r"[^\w.-]+", "-", label, flags=re.UNICODE).strip("-.")[:40] or "book"
    return f"{slug}-{hashlib.sha1(manifest_id.encode()).hexdigest()[:6]}"


# -- text ----------------------------------------------------------------------------------


def _pairs(value: Any) -> list[tuple[str | None, str]]:
    """(language or None, text) for every string in a label-like value, in order."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [(None, str(value))]
    if isinstance(value, list):
        return [p for v in value for p in _pairs(v)]
    if isinstance(value, dict):
        if "@value" in value:
            lang = value.get("@language")
            return [(str(lang) if lang else None, t) for _, t in _pairs(value["@value"])]
        if "value" in value and "label" in value:  # v3 requiredStatement
            return _pairs(value["value"])
        out = []
        for lang, v in value.items():
            lang = None if lang in ("none", "@none", "") else str(lang)
            out += [(lang, t) for _, t in _pairs(v)]
        return out
    return []


def _matches(lang: str | None, wanted: str) -> bool:
    return lang is not None and (lang.lower() == wanted or lang.lower().startswith(wanted + "-"))


def pick_language(value: Any, language: str | None = None) -> tuple[str, dict[str, str]]:
    """The text of ``value`` in one language, and the others as {language: text}.

    Order of choice: ``language`` (``fr`` also takes ``fr-CA``), else no language
    (``none``), else English, else the first language given. Several strings in the
    chosen language are joined with ``; ``.
    """
    pairs = [(lang, t.strip()) for lang, t in _pairs(value) if t and t.strip()]
    if not pairs:
        return "", {}
    langs = list(dict.fromkeys(lang for lang, _ in pairs))
    wanted = (language or "").strip().lower()
    chosen = next((lang for lang in langs if wanted and _matches(lang, wanted)), "\0")
    if chosen == "\0":
        chosen = None if None in langs else next((lang for lang in langs if _matches(lang, "en")), langs[0])
    text = "; ".join(t for lang, t in pairs if lang == chosen)
    others: dict[str, str] = {}
    for lang in langs:
        if lang != chosen:
            others[lang or "none"] = "; ".join(t for la, t in pairs if la == lang)
    return text, others


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


def strip_html(text: str) -> str:
    """``text`` with HTML markup reduced to its text, whitespace collapsed."""
    if "<" in text or "&" in text:
        parser = _PlainText()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return " ".join(text.split())


def plain_text(value: Any, language: str | None = None) -> str:
    """A label-like value as plain text in one language (``pick_language``), HTML reduced to text.

    Untrusted either way: callers escape it before display.
    """
    return strip_html(pick_language(value, language)[0])


# -- structure -----------------------------------------------------------------------------


def _kind(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    t = doc.get("type") or doc.get("@type") or ""
    t = t[0] if isinstance(t, list) and t else t
    return str(t).split(":")[-1].lower()


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [] if v is None else [v]


def _selector_region(selector: Any) -> str | None:
    for sel in _as_list(selector):
        if isinstance(sel, dict):
            if sel.get("region"):
                return str(sel["region"])
            m = re.search(r"xywh=(?:pixel:)?([\d.]+,[\d.]+,[\d.]+,[\d.]+)", str(sel.get("value") or ""))
            if m:
                return m.group(1)
            m = re.search(r"xywh=percent:([\d.]+,[\d.]+,[\d.]+,[\d.]+)", str(sel.get("value") or ""))
            if m:
                return "pct:" + m.group(1)
    return None


def _image_ref(res: Any) -> ImageRef | None:
    """The image of a painting body (v2 resource or v3 body); None when it is not an image."""
    if isinstance(res, str) and urllib.parse.urlsplit(res).scheme in ("http", "https"):
        return ImageRef(res)  # a bare URL as the body
    if not isinstance(res, dict):
        return None
    kind = _kind(res)
    if kind == "choice":  # v2 oa:Choice: default, else the first item; v3 Choice: the first item
        default = res.get("default")
        pick = default if isinstance(default, dict) else next(iter(_as_list(res.get("item") or res.get("items"))), None)
        return _image_ref(pick)
    if kind == "specificresource":
        inner = _image_ref(res.get("full") or res.get("source"))
        if inner is None:
            return None
        region = _selector_region(res.get("selector"))
        return ImageRef(inner.url, inner.service, inner.width, inner.height, region or inner.region)
    if kind not in ("image", ""):
        return None  # sound, video, text: not a page image
    url = _id(res)
    region = None
    if "#xywh=" in url:
        url, frag = url.split("#", 1)
        region = _selector_region({"value": frag})
    return ImageRef(url, describe_service(res.get("service")), _int(res.get("width")), _int(res.get("height")), region)


def _v2_bodies(canvas: dict) -> list[Any]:
    return [a.get("resource") for a in _as_list(canvas.get("images")) if isinstance(a, dict)]


def _v3_bodies(canvas: dict) -> list[Any]:
    out = []
    for page in _as_list(canvas.get("items")):
        for anno in _as_list(page.get("items")) if isinstance(page, dict) else []:
            if isinstance(anno, dict) and str(anno.get("motivation") or "painting").endswith("painting"):
                out += _as_list(anno.get("body"))
    return out


def _pages(canvases: list, bodies_of, language: str | None, skipped: list[dict]) -> list[Page]:
    pages: list[Page] = []
    for position, canvas in enumerate(canvases, start=1):
        if not isinstance(canvas, dict):
            continue
        bodies = [b for b in bodies_of(canvas) if isinstance(b, (dict, str))]
        if not bodies:
            continue  # a canvas with nothing painted on it is not a page
        label = plain_text(canvas.get("label"), language)
        refs = [_image_ref(b) for b in bodies]
        ref = next((r for r in refs if r is not None and (r.url or r.service)), None)
        if ref is None:
            if any(r is not None for r in refs):  # an image, but nothing to fetch it by
                skipped.append({"canvas": _id(canvas) or f"canvas {position}", "position": position,
                                "reason": f"canvas {position} ({label or 'no label'}): its image has neither "
                                          "an image service nor an image URL; page skipped"})
            continue
        pages.append(Page(len(pages) + 1, _id(canvas), label, ref, position))
    return pages


def _homepage(doc: dict) -> str:
    for link in _as_list(doc.get("homepage")) + _as_list(doc.get("related")):
        url = _id(link)
        if urllib.parse.urlsplit(url).scheme in ("http", "https"):
            return url
    return ""


def _metadata(doc: dict, language: str | None) -> list[tuple[str, str]]:
    out = []
    for entry in _as_list(doc.get("metadata"))[:100]:
        if isinstance(entry, dict):
            label, value = plain_text(entry.get("label"), language), plain_text(entry.get("value"), language)
            if label or value:
                out.append((label[:200], value[:1000]))
    return out


def parse_manifest(doc: Any, source: str, size: int = 1024, *, language: str | None = None) -> Book:
    """A Presentation 2.1 or 3.0 manifest as a ``Book`` (``size`` is unused; kept for callers).

    Raises:
        ManifestError: not a manifest, or a manifest without any usable page.
    """
    del size
    if not isinstance(doc, dict) or _kind(doc) != "manifest":
        kind = _kind(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ManifestError(f"not an IIIF manifest (type {kind or 'missing'!r})")
    v3 = "items" in doc and "sequences" not in doc
    manifest_id = _id(doc) or source
    title, others = pick_language(doc.get("label"), language)
    label = " ".join(title.split()) or manifest_id
    skipped: list[dict] = []
    if v3:
        attribution = plain_text(doc.get("requiredStatement"), language)
        license_ = plain_text(doc.get("rights"), language)
        pages = _pages(_as_list(doc.get("items")), _v3_bodies, language, skipped)
        provider = next((plain_text(p.get("label"), language) for p in _as_list(doc.get("provider")) if isinstance(p, dict)), "")
    else:
        attribution = plain_text(doc.get("attribution"), language)
        license_ = plain_text(doc.get("license"), language)
        sequences = _as_list(doc.get("sequences"))
        canvases = _as_list(sequences[0].get("canvases")) if sequences and isinstance(sequences[0], dict) else []
        pages = _pages(canvases, _v2_bodies, language, skipped)
        provider = ""
    if not pages:
        reason = "the manifest has no canvas with an image"
        if skipped:
            reason += f" ({len(skipped)} canvas(es) without an image service or URL)"
        raise ManifestError(reason)
    return Book(
        manifest_id, label, attribution, license_, pages,
        label_languages={k: " ".join(v.split()) for k, v in others.items()},
        metadata=_metadata(doc, language), homepage=_homepage(doc), provider=provider, skipped=skipped,
    )


def collection_members(doc: dict) -> list[str]:
    """URLs of the manifests and sub-collections a Presentation 2 or 3 collection lists."""
    members = []
    for key in ("manifests", "collections", "members", "items"):
        for m in _as_list(doc.get(key)):
            mid = _id(m)
            if mid:
                members.append(mid)
    return list(dict.fromkeys(members))


def document_kind(doc: Any) -> str:
    """``manifest``, ``collection``, or another lower-case type name ('' if none)."""
    return _kind(doc)
