"""Thumbnail grid and image detail dialog, shared by every page that shows images.

Thumbnails are the ~256 px JPEGs made at ingest, sent as data URLs to a small
bidirectional component (ui/components/grid/index.html, plain HTML + JS, no build), so a
grid never decodes an original. Tiles are clicked: select/deselect on the Label page, view
or find similar elsewhere. User strings (paths, labels) are set as text, never as HTML.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import streamlit as st

from clipcore.catalog.metadata import books_version, image_metadata, metadata_pairs
from clipcore.catalog.store import ImageRecord, Workspace

from ui.core import state

COMPONENT_DIR = Path(__file__).resolve().parent / "components" / "grid"


@dataclass
class GridResult:
    """What the user did in a grid during this rerun."""

    selected: set[int] = field(default_factory=set)
    similar_to: int | None = None


def thumbnail_paths(ws: Workspace, records: Sequence[ImageRecord]) -> list[str]:
    """Thumbnail file of each record. Never the original: a missing thumbnail is drawn
    as a placeholder (``ui.core.resources.thumbnail_url``), so a grid cannot be made to
    serve whatever an original (or a link swapped in for it) points at."""
    return [str(ws.thumbnail_path(r.content_hash)) for r in records]


def _keep_key(key: str) -> str:
    return f"{key}-keep"


def _seen_key(key: str) -> str:
    return f"{key}-seen"


def results_sig(ids: Sequence[int]) -> str:
    """A short hash of the ids a grid shows: what a click and a selection belong to."""
    return hashlib.sha1(",".join(str(int(i)) for i in ids).encode()).hexdigest()[:12]


def component_key(key: str) -> str:
    """The component's widget key. It stays the same when the results change, so the
    browser keeps its frame and only redraws the tiles (a new frame per result set cost
    about 1.7 s a query at 1M in Chromium); clicks and selections carry the results'
    ``results_sig`` instead, so nothing carries over to new results."""
    return f"{key}-c"


def new_event(value: object, seen: object, sig: str | None = None) -> dict | None:
    """The grid component's value as an event to act on, or None: no value yet (AppTest,
    first draw), not an event, one already acted on (same nonce), or one sent for other
    results than ``sig`` (a click on the previous results). A value stays in the widget
    state across reruns; the nonce makes each click count once."""
    if not isinstance(value, dict) or not value.get("nonce") or value.get("nonce") == seen:
        return None
    if value.get("action") not in ("select", "view", "similar"):
        return None
    if sig is not None and value.get("sig") != sig:
        return None
    return value


def _take_event(key: str, ids: Sequence[int], actions: tuple[str, ...]) -> dict | None:
    """The unseen event of grid ``key`` among ``actions``; marks it seen, and applies a selection."""
    sig = results_sig(ids)
    event = new_event(st.session_state.get(component_key(key)), st.session_state.get(_seen_key(key)), sig)
    if event is None or event["action"] not in actions:
        return None
    st.session_state[_seen_key(key)] = event["nonce"]
    if event["action"] == "select":
        shown = {int(i) for i in ids}
        st.session_state[_keep_key(key)] = {"sig": sig, "ids": [int(i) for i in event.get("selected") or [] if int(i) in shown]}
    return event


def selected_ids(key: str, ids: Sequence[int]) -> list[int]:
    """The ids still selected in the selectable grid ``key`` (all of them before any click
    on these results). Safe in a callback: a tile click not yet seen is applied first."""
    _take_event(key, ids, ("select",))
    kept = st.session_state.get(_keep_key(key))
    if not isinstance(kept, dict) or kept.get("sig") != results_sig(ids):
        return [int(i) for i in ids]
    keep = {int(i) for i in kept["ids"]}
    return [int(i) for i in ids if int(i) in keep]


def set_selection(key: str, ids: Sequence[int], selected: bool) -> None:
    """Select (or deselect) every tile of the grid ``key``; call before the grid is drawn, e.g. in a callback."""
    _take_event(key, ids, ("select",))  # a click before this button is older than it
    st.session_state[_keep_key(key)] = {"sig": results_sig(ids), "ids": [int(i) for i in ids] if selected else []}


_GRID_COMPONENT = None


def _grid_component():
    """The bidirectional grid (ui/components/grid/index.html), declared once per process."""
    global _GRID_COMPONENT
    if _GRID_COMPONENT is None:
        import streamlit.components.v1 as components

        _GRID_COMPONENT = components.declare_component("clipcore_grid", path=str(COMPONENT_DIR))
    return _GRID_COMPONENT


def _caption(rec: ImageRecord, scores: Mapping[int, float] | None) -> str:
    line = rec.path.rsplit("/", 1)[-1]
    if scores is not None and rec.id in scores:
        line = f"{scores[rec.id]:.3f} · {line}"
    return line


def image_grid(
    ws: Workspace,
    ids: Sequence[int],
    *,
    key: str,
    scores: Mapping[int, float] | None = None,
    notes: Mapping[int, str] | None = None,
    columns: int = 6,
    selectable: bool = False,
    find_similar: bool = True,
    similar_label: str = "similar",
) -> GridResult:
    """Draw ids as a grid of thumbnails, best first, numbered 1..n, as a small component
    whose tiles are clicked (or focused and Enter/Space).

    Without ``selectable`` a tile click opens its larger view (``image_details``); with
    ``find_similar`` each tile has a button that returns it as ``GridResult.similar_to``.
    With ``selectable`` every tile starts selected and a click toggles it (a deselected
    tile is pale, grey, dashed and marked "excluded"). A click is acted on once.

    Args:
        key: unique widget-key prefix for this grid.
        scores: shown under each tile.
        notes: one more line per tile (e.g. a label or prediction), shown as text.
        similar_label: the text of the per-tile "find similar" button.
    """
    from ui.core.resources import thumbnail_url

    result = GridResult()
    if not ids:
        return result
    records = ws.images(ids)
    shown = [r.id for r in records]
    urls = [thumbnail_url(t) for t in thumbnail_paths(ws, records)]
    event = _take_event(key, shown, ("select", "view", "similar"))
    tiles = [
        # Plain strings: the component sets them with textContent, never as HTML.
        {"id": r.id, "rank": i + 1, "url": u, "alt": r.path, "caption": _caption(r, scores), "note": (notes or {}).get(r.id, "")}
        for i, (u, r) in enumerate(zip(urls, records))
    ]
    args = {
        "grid": key,
        "mode": "select" if selectable else "actions",
        "columns": columns,
        "similar": similar_label if find_similar else "",
        "selected": selected_ids(key, shown) if selectable else [],
        "sig": results_sig(shown),
    }
    _grid_component()(tiles=tiles, **args, key=component_key(key), default=None)
    show_credits(ws, ids)
    if selectable:
        result.selected = set(selected_ids(key, shown))
    if event is not None and event["action"] in ("view", "similar") and int(event.get("id", -1)) in shown:
        image_id = int(event["id"])
        if event["action"] == "similar":
            result.similar_to = image_id
        else:
            st.session_state[state.DETAIL_IMAGE] = image_id
            image_details(ws, image_id, scores.get(image_id) if scores else None)
    return result


@st.dialog("Image", width="large")
def image_details(ws: Workspace, image_id: int, score: float | None = None) -> None:
    """A larger view of one image with its path, size, score and labels."""
    from clipcore.catalog.images import ImageRejected
    from clipcore.catalog.previews import view_preview
    from clipcore.errors import ServerBusy, UnsafePathError

    from ui.core.text import md

    rec = ws.images([image_id])[0]
    try:
        # A bounded copy (<= 1024 px JPEG), made once and kept, shown only after the real
        # path passed the source-root check; the original's bytes never reach the browser.
        st.image(view_preview(ws, rec))
    except (UnsafePathError, ImageRejected, ServerBusy, OSError) as exc:
        thumb = ws.thumbnail_path(rec.content_hash)
        if thumb.is_file():
            st.image(str(thumb))
        reason = exc.reason if isinstance(exc, ImageRejected) else str(exc)
        st.warning(f"The original cannot be shown: {md(reason)}", icon="⚠️")
    st.text(f"path: {rec.path}")
    st.text(f"size: {rec.width} x {rec.height} {rec.format}   id: {rec.id}")
    if score is not None:
        st.text(f"score: {score:.4f}")
    truth = ws.ground_truth_of([image_id]).get(image_id)
    if truth is not None:
        st.text(f"ground truth: {truth}")
    from clipcore.catalog.labels import current_labels

    label = current_labels(ws).get(image_id)  # only when the dialog opens
    if label is not None:
        st.text(f"label: {label}")
    meta = image_metadata(ws, [image_id]).get(image_id)
    if meta:  # remote strings: st.text shows them as text, never markup
        page = f"page {meta['page']}" + (f" ({meta['page_label']})" if meta["page_label"] else "")
        st.text(f"book: {meta['book_label']}, {page}")
        if meta["attribution"]:
            st.text(f"attribution: {meta['attribution']}")
        if meta["license"]:
            st.text(f"licence: {meta['license']}")
        for label, value in metadata_pairs(meta)[:12]:
            st.text(f"{label}: {value}")
        if meta.get("homepage"):  # an http(s) URL (checked when stored): the item in its library's viewer
            st.link_button("View in the library's viewer", meta["homepage"])


def show_credits(ws: Workspace, ids: Sequence[int]) -> None:
    """The required attribution (and licence) of the imported books among ``ids``, once each."""
    credits = sorted({(m["book_label"], m["attribution"], m["license"]) for m in image_metadata(ws, ids).values()})
    lines = [
        f"{title}: {attribution or 'no attribution given'}" + (f" ({licence})" if licence else "")
        for title, attribution, licence in credits
    ]
    if lines:
        # Escaped HTML, not markdown: markdown would still turn a licence URL into a live link.
        text = html.escape("Images from " + "; ".join(lines))
        st.html(f'<div class="cc-credit" style="font-size:0.8rem;color:#555">{text}</div>')


def book_filters(ws: Workspace) -> tuple[str | None, int | None]:
    """Book and page filters, shown only when the workspace holds imported books."""
    from ui.core.resources import books as cached_books

    found = cached_books(str(ws.root), books_version(ws))
    if not found:
        return None, None
    titles = {b["book"]: f"{b['book_label']} ({b['pages']} pages)" for b in found}
    c1, c2 = st.columns([3, 1])
    book = c1.selectbox("Book", [None, *titles], format_func=lambda b: "(any)" if b is None else titles[b], key="search_book")
    page = c2.number_input("Page", min_value=0, value=0, step=1, key="search_page_no", help="0 = any page")
    return book, int(page) or None
