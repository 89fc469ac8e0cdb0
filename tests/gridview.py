"""Reading ui.widgets.grid's thumbnail grids in AppTest: which images a grid shows, with their
captions, and "clicking" a tile.

AppTest does not run the grid component's JavaScript: it keeps the component's arguments
(``json_args``), which name the tiles, and a click is its value put in session state, as
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


def click_tile(at, rank: int, action: str = "view", key: str | None = None):
    """Send the grid (the only one, or ``key``) what a click on tile ``rank`` (1-based) sends:
    "view" (a tile click), "similar" (its button), or "select" (a toggle on a selectable grid)."""
    found = [g for g in grids(at) if key is None or g["grid"] == key]
    assert len(found) == 1, [g["grid"] for g in found]
    grid = found[0]
    ids = [t["id"] for t in grid["tiles"]]
    image_id = ids[rank - 1]
    value: dict = {"action": action, "id": image_id, "nonce": f"test-{next(_NONCE)}", "sig": grid["sig"]}
    if action == "select":
        kept = set(grid["selected"]) ^ {image_id}
        value["selected"] = [i for i in ids if i in kept]
    at.session_state[component_key(grid["grid"])] = value
    return at.run()


def pick_tile(at, rank: int, action: str):
    """Click tile number ``rank`` (1-based) in the only grid: "view" or "similar"."""
    return click_tile(at, rank, action)


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

# How many tiles are drawn as excluded (deselected) now.
EXCLUDED_JS = """() => { const figs = %s; return figs ? figs.filter(f => f.classList.contains('cc-off')).length : -1; }""" % GRID_FIGURES_JS


def grid_frame(page, n: int = 0):
    """Playwright frame locator of the n-th grid on the page, to click its tiles."""
    return page.frame_locator(f'[data-testid="stMain"] {GRID_FRAME}').nth(n)
