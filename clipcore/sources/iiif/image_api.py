"""The IIIF Image API side: what a service can do, and the one request for a page image.

A page's image is an ``ImageRef``: the resource's own URL, its Image API service (if any),
the image's own size (from the resource or the service, never the canvas), and an optional
region (a part of the image painted on the canvas). ``image_request`` turns it into the URL
to fetch and what is left to do locally:

- never ask for more than the image has (``full`` / ``max`` when it is already small enough),
- never more than ``size`` on the long side when the service can scale (``!S,S`` at level 2,
  ``S,`` / ``,S`` at level 1), a listed size at level 0, else the full image scaled down here,
- a region through the service when it can cut one (level 1+), else cut here,
- the version from the service's ``@context`` (then its type, then its profile): Image API
  1.1 names the quality ``native``, 2 and 3 ``default``; 3 names the full size ``max``.

``info.json`` is needed only when the image's size is unknown or the service is level 0
without listed sizes (``needs_info``); the importer fetches it once per service.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ServiceInfo:
    """An Image API service as the manifest (or its info.json) describes it."""

    id: str
    version: int
    level: int
    features: frozenset[str] = frozenset()
    max_w: int | None = None
    max_h: int | None = None
    max_area: int | None = None
    width: int | None = None
    height: int | None = None
    sizes: tuple[tuple[int, int], ...] = ()
    auth_label: str = ""


@dataclass(frozen=True)
class ImageRef:
    """Where a page's image comes from. ``width``/``height``: the image's own size, if given.

    ``region``: ``x,y,w,h`` in pixels of the full image, or ``pct:x,y,w,h``; None for the whole image.
    """

    url: str
    service: ServiceInfo | None = None
    width: int | None = None
    height: int | None = None
    region: str | None = None


@dataclass(frozen=True)
class ImageRequest:
    """The URL to fetch, then ``crop`` (fractions x0, y0, x1, y1 of what arrives) and ``max_side`` here."""

    url: str
    crop: tuple[float, float, float, float] | None = None
    max_side: int | None = None


def _int(v: Any) -> int | None:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _id(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return str(obj.get("id") or obj.get("@id") or "")
    return ""


def _version(ctx: str, stype: str, profile_text: str) -> int:
    # The @context names the API the service speaks; a profile may still point at an older
    # compliance document, so it only decides when neither context nor type does.
    for pattern, version in (("image/3", 3), ("image/2", 2), ("image-api/1", 1), ("image/1", 1)):
        if pattern in ctx:
            return version
    if stype in ("ImageService3", "ImageService2", "ImageService1"):
        return int(stype[-1])
    if "image/3" in profile_text:
        return 3
    if "image-api/1" in profile_text or "image/1" in profile_text:
        return 1
    return 2 if "image/2" in profile_text else 3 if stype.startswith("ImageService") else 2


def _auth_label(service: dict) -> str:
    """The label of an IIIF Auth service nested in an image service ('' if none)."""
    for s in service.get("service") or [] if isinstance(service.get("service"), list) else [service.get("service")]:
        if not isinstance(s, dict):
            continue
        profile = json.dumps(s.get("profile", "")) + str(s.get("type") or s.get("@type") or "")
        if "auth" in profile.lower():
            label = s.get("label")
            if isinstance(label, dict):  # v2 auth: a language map
                label = next((v[0] if isinstance(v, list) and v else v for v in label.values()), "")
            return str(label or "").strip()
    return ""


def describe_service(service: Any) -> ServiceInfo | None:
    """The first Image API service in ``service`` (a dict or a list, as a manifest or info.json gives it)."""
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
        if not sid or not ("ImageService" in stype or "image/" in ctx or "image-api" in ctx or "image/" in text
                           or "image-api" in text or "level" in text):
            continue
        m = re.search(r"level([012])", text)
        level = int(m.group(1)) if m else 0
        features = set(s.get("extraFeatures") or [])
        max_w, max_h, max_area = _int(s.get("maxWidth")), _int(s.get("maxHeight")), _int(s.get("maxArea"))
        for p in profiles:
            if isinstance(p, dict):
                features |= set(p.get("supports") or [])
                max_w = max_w or _int(p.get("maxWidth"))
                max_h = max_h or _int(p.get("maxHeight"))
                max_area = max_area or _int(p.get("maxArea"))
        sizes = []
        for entry in s.get("sizes") or []:
            if isinstance(entry, dict) and _int(entry.get("width")) and _int(entry.get("height")):
                sizes.append((int(entry["width"]), int(entry["height"])))
        return ServiceInfo(
            id=sid.rstrip("/").removesuffix("/info.json"),
            version=_version(ctx, stype, text),
            level=level,
            features=frozenset(str(f) for f in features),
            max_w=max_w,
            max_h=max_h,
            max_area=max_area,
            width=_int(s.get("width")),
            height=_int(s.get("height")),
            sizes=tuple(sorted(set(sizes))),
            auth_label=_auth_label(s),
        )
    return None


def merge_info(service: ServiceInfo, info_json: Any) -> ServiceInfo:
    """``service`` completed by its info.json (which speaks for the service where both say something)."""
    info = describe_service(info_json)
    if info is None:
        return service
    return replace(
        service,
        version=info.version,
        level=info.level,
        features=service.features | info.features,
        max_w=info.max_w or service.max_w,
        max_h=info.max_h or service.max_h,
        max_area=info.max_area or service.max_area,
        width=info.width or service.width,
        height=info.height or service.height,
        sizes=info.sizes or service.sizes,
        auth_label=service.auth_label or info.auth_label,
    )


def _full_size(ref: ImageRef) -> tuple[int | None, int | None]:
    svc = ref.service
    if svc is not None and svc.width and svc.height:
        return svc.width, svc.height
    return ref.width, ref.height


def _region_box(region: str, w: int | None, h: int | None) -> tuple[float, float, float, float] | None:
    """(x, y, w, h) of a region in pixels of the full image (None when it cannot be known)."""
    m = re.fullmatch(r"\s*(pct:)?\s*([\d.]+),([\d.]+),([\d.]+),([\d.]+)\s*", region)
    if not m:
        return None
    x, y, rw, rh = (float(g) for g in m.groups()[1:])
    if m.group(1):
        if not (w and h):
            return None
        x, y, rw, rh = x * w / 100, y * h / 100, rw * w / 100, rh * h / 100
    if w and h:  # a region running past the edge is cut to the image, as a server does
        rw, rh = max(0.0, min(rw, w - x)), max(0.0, min(rh, h - y))
    return (x, y, rw, rh) if rw > 0 and rh > 0 else None


def needs_info(ref: ImageRef) -> bool:
    """Whether the service's info.json is needed to ask for the right size (see the module doc)."""
    svc = ref.service
    if svc is None:
        return False
    w, h = _full_size(ref)
    if not (w and h):
        return True
    if ref.region and ref.region.startswith("pct:") and not (svc.width and svc.height):
        return True
    return svc.level == 0 and not svc.sizes


def _limit(svc: ServiceInfo, size: int) -> int:
    limit = size
    for cap in (svc.max_w, svc.max_h):
        if cap:
            limit = min(limit, cap)
    if svc.max_area:
        limit = min(limit, int(math.sqrt(svc.max_area)))
    return max(1, limit)


def image_request(ref: ImageRef, size: int) -> ImageRequest:
    """The request for ``ref`` at most ``size`` px on its long side (see the module doc).

    Raises:
        ValueError: neither a service nor a URL (the caller reports the page, not the book).
    """
    svc = ref.service
    full_w, full_h = _full_size(ref)
    box = _region_box(ref.region, full_w, full_h) if ref.region else None
    if svc is None:
        if not ref.url:
            raise ValueError("the canvas has neither an image service nor an image URL")
        crop = _fractions(box, full_w, full_h) if box else None
        return ImageRequest(ref.url, crop=crop, max_side=size)
    v3 = svc.version >= 3
    full = "max" if v3 else "full"
    quality = "native" if svc.version == 1 else "default"  # Image API 1.1 names it "native"
    feats = svc.features
    can_region = svc.level >= 1 or "regionByPx" in feats
    region, crop = "full", None
    target_w, target_h = full_w, full_h
    if ref.region and box is not None and can_region:
        region = f"{round(box[0])},{round(box[1])},{round(box[2])},{round(box[3])}"
        target_w, target_h = round(box[2]), round(box[3])
    elif ref.region and can_region and ref.region.startswith("pct:") and (svc.level >= 2 or "regionByPct" in feats):
        region, target_w, target_h = ref.region.replace(" ", ""), None, None
    elif ref.region and box is not None:
        crop = _fractions(box, full_w, full_h)  # level 0: the whole image, cut here
    limit = _limit(svc, size)
    known = bool(target_w and target_h)
    long_side = max(target_w, target_h) if known else None  # type: ignore[type-var]
    if known and long_side <= limit:
        spec = full  # never ask for more than the image has
    elif svc.level >= 2 or "sizeByConfinedWh" in feats:
        spec = f"!{limit},{limit}"
    elif known and (svc.level >= 1 or {"sizeByW", "sizeByH"} & feats):
        spec = f"{limit}," if target_w >= target_h else f",{limit}"  # type: ignore[operator]
    elif svc.sizes and region == "full" and svc.version > 1:
        spec = _listed(svc.sizes, size)
    else:
        spec = full
    url = f"{svc.id}/{region}/{spec}/0/{quality}.jpg"
    return ImageRequest(url, crop=crop, max_side=size)


def _listed(sizes: tuple[tuple[int, int], ...], size: int) -> str:
    """The smallest listed size whose long side reaches ``size``, else the largest (level 0: ``w,h``)."""
    ordered = sorted(sizes, key=lambda s: max(s))
    pick = next((s for s in ordered if max(s) >= size), ordered[-1])
    return f"{pick[0]},{pick[1]}"


def _fractions(box, w, h) -> tuple[float, float, float, float] | None:
    if not (w and h):
        return None
    x, y, rw, rh = box
    return (x / w, y / h, (x + rw) / w, (y + rh) / h)


def choose_image_url(service: Any, fallback: str, size: int, width: int | None, height: int | None) -> str:
    """The URL of an image at most ``size`` px on its long side, in a form the service allows.

    ``width``/``height`` are the image's own size (not the canvas's). Kept for callers that
    have a raw service description; the importer uses ``image_request``.
    Raises:
        ValueError: neither a service nor a URL.
    """
    info = describe_service(service) if service else None
    return image_request(ImageRef(fallback, info, width, height), size).url
