"""Reading ui.grid's thumbnail grids in AppTest: which images a grid shows, with their captions."""

from __future__ import annotations

import html
import re

_TILE = re.compile(
    r'data-image-id="(\d+)".*?<span class="cc-rank">\d+</span>(.*?)</figcaption>(?:<figcaption>(.*?)</figcaption>)?</figure>',
    re.S,
)


def grid_tiles(at, key: str | None = None, *, with_notes: bool = False) -> list[tuple]:
    """(image id, caption line[, note]) of every tile, in grid order; only grid ``key`` if
    given (selectable grids draw one HTML element per tile, without a grid key)."""
    tiles: list[tuple[int, str, str]] = []
    for element in at.get("html"):
        body = element.value
        if "cc-tile" not in body:
            continue
        if key is not None and f'data-grid="{key}"' not in body:
            continue
        tiles += [(int(i), html.unescape(line), html.unescape(note)) for i, line, note in _TILE.findall(body)]
    return [(i, line) for i, line, _ in tiles] if not with_notes else tiles


def grid_ids(at, key: str | None = None) -> list[int]:
    """Image ids shown by the grid(s), in order."""
    return [i for i, _ in grid_tiles(at, key)]


def pick_tile(at, rank: int, action: str):
    """Pick tile number ``rank`` (1-based) in the only grid on the page and press View or Similar."""
    pills = [p for p in at.pills if p.key and p.key.endswith("-pick")]
    assert len(pills) == 1, [p.key for p in pills]
    prefix = pills[0].key[: -len("-pick")]
    pills[0].set_value(rank).run()
    return at.button(key=f"{prefix}-{action}").click().run()
