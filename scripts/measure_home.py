"""Measure the Home page at scale in a real browser, and the server's memory.

    python scripts/measure_home.py --workspace /work/scale/ws1m [--model ViT-B-32 --pretrained none]

Starts ``streamlit run app.py`` on an existing workspace (e.g. one made by
``scripts/make_scale_workspace.py``), opens Home in Debian's Chromium and times, from
navigation, until the page is drawn: the "Images" metric is shown and the script run has
ended. The first load is timed apart (cold caches), then ``--reloads`` reloads. Prints one
JSON object with the timings and the server's peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit, write_config  # noqa: E402
from tests.e2e.test_browser_walk import IDLE  # noqa: E402


def server_memory_mb(pid: int) -> dict:
    """Resident memory of the server process now and at its peak, MiB (Linux /proc).

    ``anon_mb`` is the process's own memory; ``file_mb`` is pages of memory-mapped files
    (the vectors) that it touched, shared with the page cache and dropped under pressure.
    """
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
            out[line.split(":")[0]] = round(int(line.split()[1]) / 1024)
    return {"rss_mb": out.get("VmRSS"), "peak_rss_mb": out.get("VmHWM"), "anon_mb": out.get("RssAnon"), "file_mb": out.get("RssFile")}


def time_home(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stMetric"]').filter(has_text="Images").first.wait_for(timeout=300_000)
    page.wait_for_function(IDLE, polling="raf", timeout=300_000)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--reloads", type=int, default=5)
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} is missing; install Debian's chromium", file=sys.stderr)
        return 2
    from clipcore.catalog.store import Workspace

    ws = Path(args.workspace).resolve()
    images = Workspace(ws, create=False).counts()["images"]
    tmp = Path(tempfile.mkdtemp(prefix="home-"))
    config = write_config(tmp, ws, args.model, args.pretrained)
    from playwright.sync_api import sync_playwright

    proc, url = start_streamlit(config, log=tmp / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            first = time_home(page, url)
            warm = [time_home(page, url) for _ in range(args.reloads)]
            browser.close()
        memory = server_memory_mb(proc.pid)
    finally:
        stop_streamlit(proc)
    print(json.dumps({
        "what": "Home: navigation -> 'Images' metric shown and the script run ended, Chromium headless",
        "images": images,
        "model": f"{args.model}/{args.pretrained}",
        "first_load_ms": round(first),
        "reload_ms": {"median": round(statistics.median(warm)), "max": round(max(warm)), "n": len(warm)},
        "server": memory,
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
