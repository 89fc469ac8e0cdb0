"""Measure the Label page's labelling action in a real browser: a tile click -> its new
state painted (click feedback), and "Assign selected" clicked -> the next page of 48 tiles
drawn (no stale element, every thumbnail loaded, new ids).

Click feedback is timed inside the grid's frame: from the click event's timestamp to the
first animation frame after the tile's class changed (the selection is kept in the
browser, so no rerun is involved); Playwright's own dispatch is not counted.

With ``--browse`` the same action is timed in the Browse view with filters on (from the
URL: ``--filters ground_truth=class-0,unlabelled`` by default): "Assign selected" clicked ->
the next page of matching tiles drawn (new ids, thumbnails loaded) *and* the sidebar's
updated count drawn ("Unlabelled (N)" lowered by the images just labelled), i.e. the
filters' recount, the mask and the grid of the next rerun, in the browser.

Uses an existing workspace (see scripts/make_scale_workspace.py to build a large one),
starts ``streamlit run app.py`` on it with the given model, drives Debian's Chromium with
Playwright, excludes two tiles (clicking them in the grid) before each assignment, and prints one JSON object. It
writes real label batches into the workspace: use a scratch copy.

    python scripts/measure_label_latency.py --workspace /tmp/ws10kr --model ViT-B-32 --pretrained none
    python scripts/measure_label_latency.py --workspace /tmp/ws10kr --model ViT-B-32 --pretrained none --browse
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit, write_config  # noqa: E402

from tests.gridview import EXCLUDED_JS, TILE_IDS_JS, assign_button, grid_frame  # noqa: E402

TILE_IDS = TILE_IDS_JS  # the grid component's tiles, once every thumbnail has loaded


def wait_for_new_page(page, previous: str, n: int, timeout_s: float = 120.0) -> str:
    """Poll (every animation frame) until a grid of n tiles, different from ``previous``, is drawn."""
    handle = page.wait_for_function(
        f"""(prev) => {{ const ids = ({TILE_IDS})(); if (!ids) return null;
            const k = ids.split(',').length; return (k === {n} && ids !== prev) ? ids : null; }}""",
        arg=previous,
        polling="raf",
        timeout=timeout_s * 1000,
    )
    return handle.json_value()


# Installed in the grid's frame: each tile click's event time, and the time of the first
# animation frame after a tile's class attribute changed (its selection painted).
FEEDBACK_PROBE = """() => {
  if (window.__ccProbe) { window.__ccProbe.times = []; return; }
  const probe = window.__ccProbe = {t0: null, times: []};
  document.addEventListener('click', (e) => { probe.t0 = e.timeStamp; }, true);
  new MutationObserver(() => {
    if (probe.t0 === null) return;
    const t0 = probe.t0; probe.t0 = null;
    requestAnimationFrame(() => probe.times.push(performance.now() - t0));
  }).observe(document.getElementById('root'), {attributes: true, subtree: true, attributeFilter: ['class']});
}"""


def grid_dom_frame(page):
    """The grid component's frame (a Playwright Frame, to evaluate scripts in it)."""
    for frame in page.frames:
        if "clipcore_grid" in frame.url:
            return frame
    raise RuntimeError("no grid frame on the page")


def _stats(values: list[float], digits: int = 0) -> dict:
    ordered = sorted(values)
    return {"median": round(statistics.median(values), digits), "p90": round(ordered[int(0.9 * (len(values) - 1))], digits),
            "max": round(max(values), digits), "first": round(values[0], digits), "n": len(values)}


def browse_url(base: str, filters: str) -> str:
    """The Browse view's link with ``filters`` ("ground_truth=class-0,unlabelled") set."""
    query: list[tuple[str, str]] = [("annotator", "bench"), ("view", "Browse")]
    for part in filters.split(","):
        name, _, value = part.strip().partition("=")
        query.append((f"f_{name}", value) if value else (f"f_{name}", "1"))
    return f"{base}/label?{urlencode(query)}"


UNLABELLED_JS = """() => {
  const box = [...document.querySelectorAll('[data-testid="stSidebar"] [data-testid="stCheckbox"]')]
    .find(b => b.innerText.startsWith('Unlabelled ('));
  const m = box && box.innerText.match(/Unlabelled \\(([\\d,]+)\\)/);
  return m ? parseInt(m[1].replace(/,/g, ''), 10) : null;
}"""


def seed_labels(workspace: str, n: int) -> int:
    """Label ``n`` images spread over the collection (every k-th id), in batches of 1,000 by
    two annotators in four classes, as scripts/measure_facets.py does, so that the filters'
    label part has a team's history to re-read. Returns the labels now held."""
    from clipcore.catalog import labels as lbl
    from clipcore.catalog.store import Workspace

    ws = Workspace(workspace)
    ids = ws.image_ids()
    pool = [int(i) for i in ids[:: max(1, len(ids) // max(1, n))][:n]]
    for k in range(0, len(pool), 1000):
        lbl.record_batch(ws, ["cover", "text", "map", "plate"][(k // 1000) % 4], pool[k : k + 1000],
                         annotator=["alice", "bob"][(k // 1000) % 2], source={"kind": "bench"})
    return len(lbl.current_labels(ws))


def measure_browse(page, url: str, filters: str, label: str, actions: int) -> dict:
    """Browse view with filters on: choose the class, then per action exclude two tiles and
    Assign; time click -> next page drawn and click -> the lowered Unlabelled count drawn."""
    page.goto(browse_url(url, filters))
    ids = wait_for_new_page(page, "", 48, timeout_s=600)  # the first visit builds the catalogue part
    chooser = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Class to assign", exact=True))
    chooser.click()
    page.keyboard.type(label)
    page.keyboard.press("Enter")
    assign_button(page).wait_for(timeout=120_000)
    grid_times, count_times, totals = [], [], []
    for _ in range(actions):
        before = page.evaluate(UNLABELLED_JS)
        tiles = grid_frame(page).locator("figure[data-image-id]")
        for k in (1, 2):  # exclude two tiles, as an annotator would
            tiles.nth(k - 1).click()
            page.wait_for_function(f"() => ({EXCLUDED_JS})() >= {k}", polling="raf", timeout=60_000)
        started = time.perf_counter()
        assign_button(page).click()
        ids = wait_for_new_page(page, ids, 48)
        grid_times.append((time.perf_counter() - started) * 1000)
        page.wait_for_function(f"() => ({UNLABELLED_JS})() === {before - 46}", polling="raf", timeout=120_000)
        count_times.append((time.perf_counter() - started) * 1000)
        totals.append(max(grid_times[-1], count_times[-1]))
    return {"next_page_ms": _stats(grid_times), "count_ms": _stats(count_times), "action_ms": _stats(totals),
            "unlabelled_after": page.evaluate(UNLABELLED_JS)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--actions", type=int, default=12)
    ap.add_argument("--browse", action="store_true", help="time the Browse view's Assign with filters on")
    ap.add_argument("--filters", default="ground_truth=class-0,unlabelled", help="Browse filters, as in its link")
    ap.add_argument("--label", default="bench-class", help="the class the Browse view assigns")
    ap.add_argument("--seed-labels", type=int, default=0, help="first label this many images (spread out), as a team would have")
    args = ap.parse_args()
    held = seed_labels(args.workspace, args.seed_labels) if args.seed_labels else None

    tmp = Path(tempfile.mkdtemp(prefix="label-latency-"))
    cfg = write_config(tmp, Path(args.workspace), args.model, args.pretrained)
    proc, url = start_streamlit(cfg, log=tmp / "streamlit.log")
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            if args.browse:
                result = measure_browse(page, url, args.filters, args.label, args.actions)
                browser.close()
                print(json.dumps({
                    "what": "Label page, Browse view with filters on, Chromium headless: two tiles excluded, 'Assign selected' "
                            "clicked -> next 48 matching tiles drawn, thumbnails loaded (next_page_ms); -> the sidebar's "
                            "'Unlabelled (N)' lowered by 46 drawn (count_ms); action_ms = the later of the two",
                    "filters": args.filters, "workspace": str(Path(args.workspace).resolve()),
                    "model": f"{args.model}/{args.pretrained}", "labels_before": held, **result,
                    "load_average": os.getloadavg(),
                    "machine": f"{platform.machine()} python {platform.python_version()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d"),
                }, indent=2))
                return
            page.goto(f"{url}/label?annotator=bench")
            ids = wait_for_new_page(page, "", 48)
            times, feedback = [], []
            for _ in range(args.actions):
                frame = grid_dom_frame(page)
                frame.evaluate(FEEDBACK_PROBE)
                tiles = grid_frame(page).locator("figure[data-image-id]")
                for k in (1, 2):  # exclude two tiles by clicking them, as an annotator would
                    tiles.nth(k - 1).click()
                    page.wait_for_function(f"() => ({EXCLUDED_JS})() >= {k}", polling="raf", timeout=60_000)
                frame.wait_for_function("() => window.__ccProbe.times.length >= 2", timeout=60_000)
                feedback.extend(frame.evaluate("() => window.__ccProbe.times"))
                started = time.perf_counter()
                assign_button(page).click()
                ids = wait_for_new_page(page, ids, 48)
                times.append((time.perf_counter() - started) * 1000)
            browser.close()
    finally:
        stop_streamlit(proc)
    print(json.dumps({
        "what": "Label page, Chromium headless: tile click -> its state painted (feedback_ms, in the frame); "
                "'Assign selected' clicked -> next 48-tile page drawn, thumbnails loaded (assign_ms)",
        "workspace": str(Path(args.workspace).resolve()),
        "model": f"{args.model}/{args.pretrained}",
        "assign_ms": {"median": round(statistics.median(times)), "p90": round(sorted(times)[int(0.9 * (len(times) - 1))]),
                      "first": round(times[0]), "n": len(times)},
        "feedback_ms": {"median": round(statistics.median(feedback), 1), "p90": round(sorted(feedback)[int(0.9 * (len(feedback) - 1))], 1),
                        "max": round(max(feedback), 1), "n": len(feedback)},
        "machine": f"{platform.machine()} python {platform.python_version()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))


if __name__ == "__main__":
    main()
