"""Thumbnail grid with its lightbox and in-browser selection, shared by every page that shows images.

Thumbnails are the ~256 px JPEGs made at ingest, sent as data URLs to a small
bidirectional component (ui/components/grid/index.html, plain HTML + JS, no build), so a
grid never decodes an original. Tiles are clicked: select/deselect on the Label page (in
the browser, no rerun), open the lightbox elsewhere; "more like this" everywhere. User strings (paths, labels) are set as text, never as HTML.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import streamlit as st

from clipcore.catalog.metadata import books_version, distinct_names, image_metadata, metadata_pairs
from clipcore.catalog.store import ImageRecord, Workspace


COMPONENT_DIR = Path(__file__).resolve().parent / "components" / "grid"
SIMILAR_LABEL = "more like this"  # the one name of this action, on every page


@dataclass
class GridResult:
    """What the user did in a grid during this rerun."""

    similar_to: int | None = None
    assigned: list[int] | None = None  # select mode: the ids selected when Assign was pressed


def thumbnail_paths(ws: Workspace, records: Sequence[ImageRecord]) -> list[str]:
    """Thumbnail file of each record. Never the original: a missing thumbnail is drawn
    as a placeholder (``ui.core.resources.thumbnail_url``), so a grid cannot be made to
    serve whatever an original (or a link swapped in for it) points at."""
    return [str(ws.thumbnail_path(r.content_hash)) for r in records]


def _seen_key(key: str) -> str:
    return f"{key}-seen"


def _preview_key(key: str) -> str:
    return f"{key}-preview"


def results_sig(ids: Sequence[int]) -> str:
    """A short hash of the ids a grid shows: what a click and a selection belong to."""
    return hashlib.sha1(",".join(str(int(i)) for i in ids).encode()).hexdigest()[:12]


def component_key(key: str) -> str:
    """The component's widget key. It stays the same when the results change, so the
    browser keeps its frame and only redraws the tiles (a new frame per result set cost
    about 1.7 s a query at 1M in Chromium); values carry the results' ``results_sig``
    instead, so nothing carries over to new results."""
    return f"{key}-c"


ACTIONS = ("assign", "similar", "preview")


def new_event(value: object, seen: object, sig: str | None = None) -> dict | None:
    """The grid component's value as an event to act on, or None: no value yet (AppTest,
    first draw), not an event, one already acted on (same nonce), or one sent for other
    results than ``sig`` (a value about the previous results). A value stays in the widget
    state across reruns; the nonce makes each one count once.

    Selection happens in the browser; the component sends a value only for "assign" (the
    ids selected), "similar" (more like this) and "preview" (the lightbox's image)."""
    if not isinstance(value, dict) or not value.get("nonce") or value.get("nonce") == seen:
        return None
    if value.get("action") not in ACTIONS:
        return None
    if sig is not None and value.get("sig") != sig:
        return None
    return value


def _take_event(key: str, ids: Sequence[int]) -> dict | None:
    """The unseen event of grid ``key`` for these ids; marks it seen."""
    event = new_event(st.session_state.get(component_key(key)), st.session_state.get(_seen_key(key)), results_sig(ids))
    if event is None:
        return None
    st.session_state[_seen_key(key)] = event["nonce"]
    return event


def take_assigned(key: str, ids: Sequence[int]) -> list[int] | None:
    """The ids selected when the selectable grid ``key`` (showing ``ids``) last sent an
    Assign not yet acted on, or None; marks it acted on. For a page that applies Assign
    before it draws anything (and checks the role then), whether or not it draws the grid."""
    event = new_event(st.session_state.get(component_key(key)), st.session_state.get(_seen_key(key)), results_sig(ids))
    if event is None or event["action"] != "assign":
        return None
    st.session_state[_seen_key(key)] = event["nonce"]
    keep = {int(i) for i in event.get("selected") or []}
    return [int(i) for i in ids if int(i) in keep]


_GRID_COMPONENT = None


def _grid_component():
    """The bidirectional grid (ui/components/grid/index.html), declared once per process."""
    global _GRID_COMPONENT
    if _GRID_COMPONENT is None:
        import streamlit.components.v1 as components

        _GRID_COMPONENT = components.declare_component("clipcore_grid", path=str(COMPONENT_DIR))
    return _GRID_COMPONENT


def _captions(ws: Workspace, records: Sequence[ImageRecord], meta: Mapping[int, dict], scores: Mapping[int, float] | None) -> list[str]:
    """The caption line of each tile: score, then a file name that tells it apart from the
    others shown (its book and page, or folder, beside it when the name repeats)."""
    names = distinct_names([r.path for r in records], [_book_page(meta.get(r.id)) for r in records])
    out = []
    for rec, name in zip(records, names):
        if scores is not None and rec.id in scores:
            name = f"{scores[rec.id]:.3f} · {name}"
        out.append(name)
    return out


def _book_page(meta: dict | None) -> str | None:
    if not meta:
        return None
    page = meta["page_label"] or f"p. {meta['page']}"
    return f"{meta['book_label']}, {page}"


def _info_lines(rec: ImageRecord, score: float | None, truth: str | None, label: str | None, meta: dict | None) -> list[str]:
    """What the lightbox says about one image (plain text; remote strings are set as text)."""
    lines = [rec.path]
    if truth is not None:
        lines.append(f"class (ground truth): {truth}")
    if label is not None:
        lines.append(f"label: {label}")
    if meta:
        lines.append(f"book: {_book_page(meta)}")
        if meta.get("attribution"):
            lines.append(f"attribution: {meta['attribution']}" + (f" ({meta['license']})" if meta.get("license") else ""))
        lines.extend(f"{name}: {value}" for name, value in metadata_pairs(meta)[:8])
    size = f"{rec.width} × {rec.height} {rec.format}".strip()
    lines.append(f"{size} · id {rec.id}" + (f" · score {score:.4f}" if score is not None else ""))
    return lines


def _preview(ws: Workspace, key: str, event: dict | None, shown: Sequence[int]) -> dict | None:
    """The bounded preview the lightbox asked for (kept for this grid until another is
    asked for), as ``{"id", "url", "warning"}``; None when none was asked for these tiles."""
    if event is not None and event["action"] == "preview" and int(event.get("id", -1)) in shown:
        st.session_state[_preview_key(key)] = _make_preview(ws, int(event["id"]))
    kept = st.session_state.get(_preview_key(key))
    return kept if isinstance(kept, dict) and kept.get("id") in shown else None


def _make_preview(ws: Workspace, image_id: int) -> dict:
    from clipcore.catalog.images import ImageRejected
    from clipcore.catalog.previews import view_preview
    from clipcore.errors import ServerBusy, UnsafePathError

    rec = ws.images([image_id])[0]
    try:
        # A bounded copy (<= 1024 px JPEG), made once and kept, made only after the real
        # path passed the source-root check; the original's bytes never reach the browser.
        data = view_preview(ws, rec)
    except (UnsafePathError, ImageRejected, ServerBusy, OSError) as exc:
        reason = exc.reason if isinstance(exc, ImageRejected) else str(exc)
        return {"id": image_id, "url": None, "warning": f"The original cannot be shown: {reason}"}
    return {"id": image_id, "url": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"), "warning": None}


def image_grid(
    ws: Workspace,
    ids: Sequence[int],
    *,
    key: str,
    scores: Mapping[int, float] | None = None,
    notes: Mapping[int, str] | None = None,
    columns: int = 6,
    selectable: bool = False,
    assign_label: str = "",
    find_similar: bool = True,
    similar_label: str = SIMILAR_LABEL,
    first_rank: int = 1,
    epoch: int = 0,
) -> GridResult:
    """Draw ids as a grid of thumbnails, best first, numbered from ``first_rank``, as a small
    component whose tiles are clicked (or focused and Enter/Space).

    A tile opens the lightbox (its "view" button in select mode, or Enter): the image
    fitted to the screen (its bounded preview once loaded), ←/→ through the tiles in the
    order shown, Esc to close, with its class, label, note and book/page. With
    ``find_similar`` each tile and the lightbox have a "more like this" button that returns
    the image as ``GridResult.similar_to``.

    With ``selectable`` every tile starts selected; a click toggles it, a shift-click
    sets a range, S / D select all / none, all in the browser (a deselected tile is pale,
    grey, dashed and marked "excluded"). With ``assign_label`` the grid has that button (and
    the A key); pressing it returns the selected ids as ``GridResult.assigned``.

    Args:
        key: unique widget-key prefix for this grid.
        scores: shown under each tile.
        notes: one more line per tile (e.g. a label or prediction), shown as text.
        similar_label: the text of the "more like this" button.
        first_rank: the rank of the first tile (a second page of 48 starts at 49).
        epoch: a new value starts a fresh selection even for the same ids (a new Label page).
    """
    from clipcore.catalog.labels import labels_of

    from ui.core.resources import thumbnail_url

    result = GridResult()
    if not ids:
        return result
    records = ws.images(ids)
    shown = [r.id for r in records]
    urls = [thumbnail_url(t) for t in thumbnail_paths(ws, records)]
    event = _take_event(key, shown)
    meta = image_metadata(ws, shown)
    truth = ws.ground_truth_of(shown)
    labels = labels_of(ws, shown)
    captions = _captions(ws, records, meta, scores)
    tiles = [
        # Plain strings: the component sets them with textContent, never as HTML.
        {
            "id": r.id, "rank": first_rank + i, "url": u, "alt": r.path, "caption": cap, "note": (notes or {}).get(r.id, ""),
            "info": _info_lines(r, scores.get(r.id) if scores else None, truth.get(r.id), labels.get(r.id), meta.get(r.id)),
            # an http(s) URL (checked when stored): the item in its library's viewer
            "link": (meta.get(r.id) or {}).get("homepage") or "",
        }
        for i, (u, r, cap) in enumerate(zip(urls, records, captions))
    ]
    args = {
        "grid": key,
        "mode": "select" if selectable else "actions",
        "columns": columns,
        "similar": similar_label if find_similar else "",
        "assign": assign_label if selectable else "",
        "sig": results_sig(shown),
        "epoch": int(epoch),
        "previews": True,
        "preview": _preview(ws, key, event, shown),
    }
    _grid_component()(tiles=tiles, **args, key=component_key(key), default=None)
    show_credits(ws, ids)
    if event is not None and event["action"] == "similar" and int(event.get("id", -1)) in shown:
        result.similar_to = int(event["id"])
    if event is not None and event["action"] == "assign" and selectable and assign_label:
        keep = {int(i) for i in event.get("selected") or []}
        result.assigned = [i for i in shown if i in keep]
    return result


def more_like_this_on_search(image_id: int) -> None:
    """A grid's "more like this" on a page without its own search (Zero-shot, Evaluate):
    Search opens with that image as its query."""
    from ui.core import state

    st.session_state[state.SEARCH_PENDING_SIMILAR] = int(image_id)
    st.switch_page("app_pages/search.py")


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
