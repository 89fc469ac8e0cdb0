"""Reading ui.widgets.grid's thumbnail grids in AppTest: which images a grid shows, with their
captions and lightbox lines, and sending what the browser sends (more like this, a preview, Assign).

AppTest does not run the grid component's JavaScript: it keeps the component's arguments
(``json_args``), which name the tiles, and a value is put in session state, as
the browser would send it (see ``ui.widgets.grid.new_event``).
"""

from __future__ import annotations

import itertools
import json

from ui.widgets.grid import component_key

_NONCE = itertools.count(1)


def _components(node, out: list) -> list:
    for child in getattr(node, "children", {}).values():
        proto = getattr(child, "proto", None)
        if getattr(child, "type", None) == "component_instance" and proto is not None:
            out.append(json.loads(proto.json_args))
        _components(child, out)
    return out


def grids(at) -> list[dict]:
    """The arguments of every grid component on the page, in page order."""
    return [g for g in _components(at._tree, []) if "tiles" in g and "grid" in g]


def grid_tiles(at, key: str | None = None, *, with_notes: bool = False) -> list[tuple]:
    """(image id, caption line[, note]) of every tile, in grid order; only grid ``key`` if given."""
    tiles = [
        (t["id"], t["caption"], t["note"])
        for g in grids(at)
        if key is None or g["grid"] == key
        for t in g["tiles"]
    ]
    return [(i, line) for i, line, _ in tiles] if not with_notes else tiles


def grid_ids(at, key: str | None = None) -> list[int]:
    """Image ids shown by the grid(s), in order."""
    return [i for i, _ in grid_tiles(at, key)]


def _only(at, key: str | None) -> dict:
    found = [g for g in grids(at) if key is None or g["grid"] == key]
    assert len(found) == 1, [g["grid"] for g in found]
    return found[0]


def _send(at, grid: dict, value: dict):
    value.update(nonce=f"test-{next(_NONCE)}", sig=grid["sig"])
    at.session_state[component_key(grid["grid"])] = value
    return at.run()


def click_tile(at, rank: int, action: str = "similar", key: str | None = None):
    """Send the grid (the only one, or ``key``) what the browser sends for tile ``rank``
    (1-based in this grid): "similar" (its "more like this" button, on the tile or in the
    lightbox) or "preview" (the lightbox, open on that image, asks for its bounded preview)."""
    grid = _only(at, key)
    return _send(at, grid, {"action": action, "id": grid["tiles"][rank - 1]["id"]})


def pick_tile(at, rank: int, action: str):
    """Click tile number ``rank`` (1-based) in the only grid: "similar" or "preview"."""
    return click_tile(at, rank, action)


def tile_info(at, rank: int, key: str | None = None) -> list[str]:
    """The lines the lightbox shows for tile ``rank`` (path, class, label, book, size...)."""
    return list(_only(at, key)["tiles"][rank - 1]["info"])


def assign_tiles(at, exclude: tuple[int, ...] = (), key: str | None = None):
    """Press the selectable grid's Assign with every tile selected but the ranks in
    ``exclude`` (clicked off in the browser): the one value the browser sends."""
    grid = _only(at, key)
    assert grid["mode"] == "select" and grid["assign"], "no Assign in this grid"
    keep = [t["id"] for n, t in enumerate(grid["tiles"], 1) if n not in exclude]
    return _send(at, grid, {"action": "assign", "selected": keep})


def can_assign(at, key: str | None = None) -> bool:
    """Whether a selectable grid with an Assign button is on the page."""
    return any(g["mode"] == "select" and g["assign"] for g in grids(at) if key is None or g["grid"] == key)


# -- in Chromium ----------------------------------------------------------------------------
# The grid is an iframe (same origin, served by the Streamlit server) per grid; these read
# its document from the page. A JS expression: the tile <figure>s of every grid in the main
# area, in order, or null while the app reruns (stale elements) or a grid has not drawn yet.
GRID_FRAME = 'iframe[title*="clipcore_grid"]'
GRID_FIGURES_JS = """(() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return null;
  const out = [];
  for (const frame of main.querySelectorAll('iframe[title*="clipcore_grid"]')) {
    const doc = frame.contentDocument;
    const figs = doc ? [...doc.querySelectorAll('figure[data-image-id]')] : [];
    if (figs.length === 0) return null;
    out.push(...figs);
  }
  return out;
})()"""

# Ids of the tiles shown, comma-joined, once every thumbnail has loaded; else null.
TILE_IDS_JS = """() => {
  const figs = %s;
  if (!figs || figs.length === 0) return null;
  if (!figs.every(f => { const i = f.querySelector('img'); return i && i.complete && i.naturalWidth > 0; })) return null;
  return figs.map(f => f.getAttribute('data-image-id')).join(',');
}""" % GRID_FIGURES_JS

# How many tiles are drawn as excluded (deselected) now.  (The lightbox is drawn in the
# app's document: '[data-cc-lightbox]', with the image id shown as data-image-id.)
EXCLUDED_JS = """() => { const figs = %s; return figs ? figs.filter(f => f.classList.contains('cc-off')).length : -1; }""" % GRID_FIGURES_JS


def grid_frame(page, n: int = 0):
    """Playwright frame locator of the n-th grid on the page, to click its tiles."""
    return page.frame_locator(f'[data-testid="stMain"] {GRID_FRAME}').nth(n)


LIGHTBOX = "[data-cc-lightbox]"


def assign_button(page):
    """The Label page's Assign button: inside the grid's frame (it sends the selection)."""
    return grid_frame(page).get_by_role("button", name="Assign selected")


def tiles_now(page) -> list[int]:
    """Ids of the tiles the grids show now, in order, once their thumbnails have loaded; []
    while the page reruns or a grid draws. A grid that stays on the page keeps its frame
    and draws new arguments a moment after the script run ends (the page is no longer
    stale, the frame still shows the old tiles): poll this for the tiles a change should
    bring (``wait_until(lambda: tiles_now(page) == want, ...)``), never read it once."""
    ids = page.evaluate(f"({TILE_IDS_JS})()")
    return [int(i) for i in ids.split(",")] if ids else []
