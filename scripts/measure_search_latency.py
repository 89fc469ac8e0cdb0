"""Measure Search-page latency in a real browser: query submitted -> result grid drawn.

Builds (or reuses) a large demo workspace embedded with ViT-B-32 (random init unless
weights are cached: ``--pretrained none`` is the default so it works offline), starts
``streamlit run app.py`` on it, and drives Debian's Chromium with Playwright. For each
query it times, from pressing Enter, until the grid of the new results is drawn (no
stale elements, every thumbnail loaded with naturalWidth > 0). Prints one JSON object.

    python scripts/measure_search_latency.py --workspace /tmp/ws10k --demo /tmp/demo10k --per-class 2500
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit, write_config  # noqa: E402

from tests.gridview import TILE_IDS_JS  # noqa: E402

QUERIES = [
    "woodblock landscape", "printed text", "a blank page", "book cover", "mountains and a river",
    "cursive Japanese ideograms", "old paper", "a bridge over water", "a red stamp", "a house with trees",
    "vertical columns of text", "an empty yellow page", "silk binding", "a boat on the sea", "people walking",
    "a framed title label", "ink stains", "a sunrise", "pine trees", "a dark blue cover",
]
WARMUP = ["warm up the model", "another warm-up query"]

# The grid is a component (an iframe per grid): ready when every tile's thumbnail is loaded.
GRID_READY = """([query, n]) => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-stale="true"]')) return false;
  const texts = [...main.querySelectorAll('[data-testid="stText"]')].map(e => e.innerText);
  if (!texts.some(t => t.includes(query))) return false;
  const ids = (%s)();
  return ids !== null && ids.split(',').length === n;
}""" % TILE_IDS_JS


def clipcore(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "clipcore", *args], cwd=ROOT, check=True)


def build_workspace(ws: Path, demo: Path, per_class: int, model: str, pretrained: str, fill_random: bool) -> dict:
    """Generate, ingest and embed unless already done; returns what the workspace holds.

    With ``fill_random``, images still missing an embedding get random unit vectors under
    the model's key instead (the search cost depends on the matrix size, not its values;
    an untrained model's vectors are no more meaningful). The result says how many.
    """
    from clipcore.embedding.models import embedding_set_key
    from clipcore.catalog.store import Workspace

    if not (demo.exists() and any(demo.iterdir())):
        clipcore("demo", "--out", str(demo), "--per-class", str(per_class), "--quiet")
    store = Workspace(ws)
    if store.counts()["images"] == 0:
        clipcore("ingest", str(demo), "--labels-from-folders", "--workspace", str(ws), "--quiet")
    key = embedding_set_key(model, None if pretrained == "none" else pretrained)
    filled = 0
    if fill_random:
        import numpy as np

        missing = store.missing_embeddings(key)
        dim = 512 if store.embedding_version(key) == 0 else store.load_embeddings(key).vectors.shape[1]
        rng = np.random.default_rng(0)
        with store.embedding_writer(key, dim) as writer:
            for start in range(0, len(missing), 1024):
                ids = missing[start : start + 1024]
                v = rng.standard_normal((len(ids), dim)).astype(np.float32)
                writer.append(ids, v / np.linalg.norm(v, axis=1, keepdims=True))
        filled = len(missing)
    else:
        clipcore("embed", "--model", model, "--pretrained", pretrained, "--workspace", str(ws), "--quiet")
    return {"images": store.counts()["images"], "embedded": store.embedding_keys(), "random_filled": filled}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def time_query(page, query: str, n: int) -> float:
    box = page.locator('input[aria-label="Describe what you are looking for"]')
    box.fill(query)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(GRID_READY, arg=[query, n], polling="raf", timeout=120_000)
    return (time.perf_counter() - started) * 1000


def time_paging(page, query: str, page_no: int, n: int) -> float:
    started = time.perf_counter()
    page.get_by_role("button", name="more results").click()
    page.get_by_text(f"Results {page_no * n + 1}–").wait_for(timeout=120_000)
    page.wait_for_function(GRID_READY, arg=[query, n], polling="raf", timeout=120_000)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default="/tmp/ws10k")
    ap.add_argument("--demo", default="/tmp/demo10k")
    ap.add_argument("--per-class", type=int, default=2500)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--per-page", type=int, default=24)
    ap.add_argument("--fill-random", action="store_true", help="random unit vectors for images not yet embedded (say so when reporting)")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} is missing; install Debian's chromium", file=sys.stderr)
        return 2
    ws = Path(args.workspace).resolve()
    held = build_workspace(ws, Path(args.demo).resolve(), args.per_class, args.model, args.pretrained, args.fill_random)
    tmp = Path(tempfile.mkdtemp(prefix="latency-"))
    config = write_config(tmp, ws, args.model, args.pretrained)
    from playwright.sync_api import sync_playwright

    proc, url = start_streamlit(config, log=tmp / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{url}/search")
            page.locator('input[aria-label="Describe what you are looking for"]').wait_for(timeout=300_000)
            for q in WARMUP:  # model load, first text encoding, first grid
                time_query(page, q, args.per_page)
            new = [time_query(page, q, args.per_page) for q in QUERIES]
            repeated = [time_query(page, q, args.per_page) for q in QUERIES]
            paging = [time_paging(page, QUERIES[-1], k, args.per_page) for k in range(1, 6)]
            browser.close()
    finally:
        stop_streamlit(proc)
    result = {
        "what": "Search page: Enter pressed -> result grid drawn (all thumbnails loaded), Chromium headless",
        "images": held["images"],
        "embedded": held["embedded"],
        "random_filled": held["random_filled"],
        "model": f"{args.model}/{args.pretrained}",
        "per_page": args.per_page,
        "new_query_ms": {"median": round(statistics.median(new)), "p90": round(percentile(new, 0.9)), "n": len(new)},
        "repeated_query_ms": {"median": round(statistics.median(repeated)), "p90": round(percentile(repeated, 0.9)), "n": len(repeated)},
        "more_results_ms": {"median": round(statistics.median(paging)), "p90": round(percentile(paging, 0.9)), "n": len(paging)},
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
