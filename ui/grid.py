"""Thumbnail grid and image detail dialog, shared by every page that shows images.

Thumbnails are the ~256 px JPEGs made at ingest, served by path, so a grid never
decodes an original. User strings (paths, labels) are shown as text, never as HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import streamlit as st

from clipcore.catalog.metadata import books_version, image_metadata
from clipcore.catalog.store import ImageRecord, Workspace

from ui import state


@dataclass
class GridResult:
    """What the user did in a grid during this rerun."""

    selected: set[int] = field(default_factory=set)
    similar_to: int | None = None


def thumbnail_paths(ws: Workspace, records: Sequence[ImageRecord]) -> list[str]:
    """Thumbnail file of each record. Never the original: a missing thumbnail is drawn
    as a placeholder (``ui.resources.thumbnail_url``), so a grid cannot be made to
    serve whatever an original (or a link swapped in for it) points at."""
    return [str(ws.thumbnail_path(r.content_hash)) for r in records]


def _keep_key(key: str) -> str:
    return f"{key}-keep"


def selected_ids(key: str, ids: Sequence[int]) -> list[int]:
    """The ids still selected in the selectable grid ``key`` (all of them before it is drawn)."""
    kept = st.session_state.get(_keep_key(key))
    if kept is None:
        return [int(i) for i in ids]
    kept = {int(i) for i in kept}
    return [int(i) for i in ids if int(i) in kept]


def set_selection(key: str, ids: Sequence[int], selected: bool) -> None:
    """Select (or deselect) every tile of the grid ``key``; call before the grid is drawn, e.g. in a callback."""
    st.session_state[_keep_key(key)] = [int(i) for i in ids] if selected else []


TILE_CSS = """
<style>
.cc-grid{display:grid;grid-template-columns:repeat(var(--cols),minmax(0,1fr));gap:10px}
.cc-tile{margin:0;border:2px solid transparent;border-radius:6px;padding:2px;background:#fafafa}
.cc-tile img{width:100%;height:auto;display:block;border-radius:4px}
.cc-tile figcaption{font-size:0.78rem;line-height:1.25;color:#333;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.cc-tile .cc-rank{font-weight:700;margin-right:4px}
.cc-tile.cc-off{border:2px dashed #999;opacity:0.4;filter:grayscale(1)}
.cc-tile.cc-off .cc-rank{text-decoration:line-through}
</style>
"""


def _tile_html(url: str, rank: int, rec: ImageRecord, line: str, note: str | None, *, off: bool = False) -> str:
    # Every user string (file name, label, note) is escaped: it is text, never markup.
    extra = f"<figcaption>{html.escape(note)}</figcaption>" if note else ""
    return (
        f'<figure class="cc-tile{" cc-off" if off else ""}" data-image-id="{rec.id}">'
        f'<img src="{url}" alt="{html.escape(rec.path)}" title="{html.escape(rec.path)}">'
        f'<figcaption><span class="cc-rank">{rank}</span>{html.escape(line)}</figcaption>{extra}</figure>'
    )


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
) -> GridResult:
    """Draw ids as a grid of thumbnails, best first, numbered 1..n.

    The pictures are one HTML block with inline thumbnails (fast to draw); a row of
    numbered pills below picks one tile for "View" (larger image and details) and,
    with ``find_similar``, "Find similar".

    Args:
        key: unique widget-key prefix for this grid.
        scores: shown under each tile.
        notes: one more line per tile (e.g. a label or prediction), shown as text.
        selectable: a row of numbered pills, all selected at first; clicking a number
            deselects that tile (it turns grey and pale, with a dashed frame and its number struck through). No View/Similar picker.
        find_similar: offer "Find similar" for the picked tile.
    """
    from ui.resources import thumbnail_url

    result = GridResult()
    if not ids:
        return result
    records = ws.images(ids)
    urls = [thumbnail_url(t) for t in thumbnail_paths(ws, records)]
    kept = set(selected_ids(key, ids)) if selectable else set()
    tiles = "".join(
        _tile_html(u, i + 1, r, _caption(r, scores), notes.get(r.id) if notes else None, off=selectable and r.id not in kept)
        for i, (u, r) in enumerate(zip(urls, records))
    )
    st.html(f'{TILE_CSS}<div class="cc-grid" style="--cols:{columns}" data-grid="{html.escape(key)}">{tiles}</div>')
    show_credits(ws, ids)
    if selectable:
        rank = {rec.id: i + 1 for i, rec in enumerate(records)}
        options = [rec.id for rec in records]
        widget = {"default": options} if _keep_key(key) not in st.session_state else {}
        picked = st.pills(
            "Selected tiles (click a number to deselect that tile, again to select it)",
            options,
            selection_mode="multi",
            format_func=lambda i: str(rank.get(i, i)),
            key=_keep_key(key),
            **widget,
        )
        result.selected = {int(i) for i in picked or []}
        return result
    by_rank = {i + 1: rec for i, rec in enumerate(records)}
    c1, c2, c3 = st.columns([6, 1, 1], vertical_alignment="bottom")
    shown_key = f"{key}-shown"
    if st.session_state.get(shown_key) != [r.id for r in records]:  # new results: no pick carries over
        st.session_state.pop(f"{key}-pick", None)
        st.session_state[shown_key] = [r.id for r in records]
    picked = c1.pills("Pick an image by its number", list(by_rank), key=f"{key}-pick", label_visibility="collapsed")
    rec = by_rank.get(picked) if picked is not None else None
    if c2.button("View", key=f"{key}-view", disabled=rec is None, width="stretch") and rec is not None:
        st.session_state[state.DETAIL_IMAGE] = rec.id
        image_details(ws, rec.id, scores.get(rec.id) if scores else None)
    if find_similar and c3.button("Similar", key=f"{key}-similar", disabled=rec is None, width="stretch"):
        result.similar_to = rec.id if rec is not None else None
    return result


@st.dialog("Image", width="large")
def image_details(ws: Workspace, image_id: int, score: float | None = None) -> None:
    """A larger view of one image with its path, size, score and labels."""
    from clipcore.catalog.images import ImageRejected, preview_jpeg
    from clipcore.errors import UnsafePathError

    from ui.text import md

    rec = ws.images([image_id])[0]
    try:
        # A bounded copy (<= 1024 px JPEG) made only after the real path passed the
        # source-root check; the original's bytes never reach the browser.
        st.image(preview_jpeg(rec.real_path()))
    except (UnsafePathError, ImageRejected, OSError) as exc:
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
    from ui.resources import books as cached_books

    found = cached_books(str(ws.root), books_version(ws))
    if not found:
        return None, None
    titles = {b["book"]: f"{b['book_label']} ({b['pages']} pages)" for b in found}
    c1, c2 = st.columns([3, 1])
    book = c1.selectbox("Book", [None, *titles], format_func=lambda b: "(any)" if b is None else titles[b], key="search_book")
    page = c2.number_input("Page", min_value=0, value=0, step=1, key="search_page_no", help="0 = any page")
    return book, int(page) or None
