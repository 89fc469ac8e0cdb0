"""Thumbnail grid and image detail dialog, shared by every page that shows images.

Thumbnails are the ~256 px JPEGs made at ingest, served by path, so a grid never
decodes an original. User strings (paths, labels) are shown as text, never as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import streamlit as st

from clipcore.store import ImageRecord, Workspace

from ui import state


@dataclass
class GridResult:
    """What the user did in a grid during this rerun."""

    selected: set[int] = field(default_factory=set)
    similar_to: int | None = None


def thumbnail_paths(ws: Workspace, records: Sequence[ImageRecord]) -> list[str]:
    """Thumbnail file of each record (the original if its thumbnail is missing)."""
    out = []
    for r in records:
        p = ws.thumbnail_path(r.content_hash)
        out.append(str(p if p.exists() else r.abs_path))
    return out


def selection_key(key: str, image_id: int) -> str:
    """Session-state key of one tile's "keep" checkbox in the grid ``key``."""
    return f"{key}-sel-{image_id}"


def set_selection(key: str, ids: Sequence[int], selected: bool) -> None:
    """Tick (or untick) every tile of the grid ``key``; call before the grid is drawn, e.g. in a callback."""
    for image_id in ids:
        st.session_state[selection_key(key, int(image_id))] = selected


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
    """Draw ids as a grid of thumbnails, best first.

    Args:
        key: unique widget-key prefix for this grid.
        scores: shown under each tile.
        notes: one more line per tile (e.g. a label or prediction), shown as text.
        selectable: every tile gets a checkbox, ticked by default; unticking deselects
            (a deselected tile shows a red "deselected" badge above its image).
        find_similar: a "similar" button per tile.
    """
    result = GridResult()
    if not ids:
        return result
    records = ws.images(ids)
    thumbs = thumbnail_paths(ws, records)
    for start in range(0, len(records), columns):
        cols = st.columns(columns)
        for col, rec, thumb in zip(cols, records[start : start + columns], thumbs[start : start + columns]):
            with col:
                sel_key = selection_key(key, rec.id)
                if selectable and not st.session_state.get(sel_key, True):
                    st.markdown(":red-badge[:material/block: deselected]")
                st.image(thumb, width="stretch")
                line = rec.path.rsplit("/", 1)[-1]
                if scores is not None and rec.id in scores:
                    line = f"{scores[rec.id]:.3f} · {line}"
                st.text(line)
                if notes and rec.id in notes:
                    st.text(notes[rec.id])
                # value only seeds a new checkbox; once set (by a click or set_selection) state wins.
                if selectable and st.checkbox("keep", value=sel_key not in st.session_state, key=sel_key):
                    result.selected.add(rec.id)
                b1, b2 = st.columns(2)
                if b1.button("view", key=f"{key}-view-{rec.id}", width="stretch"):
                    st.session_state[state.DETAIL_IMAGE] = rec.id
                    image_details(ws, rec.id, scores.get(rec.id) if scores else None)
                if find_similar and b2.button("similar", key=f"{key}-sim-{rec.id}", width="stretch"):
                    result.similar_to = rec.id
    return result


@st.dialog("Image", width="large")
def image_details(ws: Workspace, image_id: int, score: float | None = None) -> None:
    """A larger view of one image with its path, size, score and labels."""
    rec = ws.images([image_id])[0]
    st.image(str(rec.abs_path) if rec.abs_path.exists() else str(ws.thumbnail_path(rec.content_hash)))
    st.text(f"path: {rec.path}")
    st.text(f"size: {rec.width} x {rec.height} {rec.format}   id: {rec.id}")
    if score is not None:
        st.text(f"score: {score:.4f}")
    truth = ws.ground_truth().get(image_id)
    if truth is not None:
        st.text(f"ground truth: {truth}")
