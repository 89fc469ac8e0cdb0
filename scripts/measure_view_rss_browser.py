"""The app server's peak RSS while someone opens the View dialog of a 169 MP PNG N times,
in Chromium, through the real ``streamlit run app.py``.

    python scripts/measure_view_rss_browser.py [--repo PATH] [--views 5] [--side 13000] [--drop-previews]

``--repo`` is the checkout whose code runs (ingest, embed, app): this one by default; a
``git archive`` copy of another branch measures that branch the same way. A temporary
folder holds 6 demo images and one 13000 x 13000 PNG (169 MP); it is ingested and embedded
with the ``tiny`` model through that checkout's CLI, the app starts on it, Chromium opens
Home and clicks the PNG's tile in the sample grid N times (the dialog shows, then Escape).
The server's ``VmHWM`` (peak resident set) and CPU seconds are read from /proc before the
first click and after the last (3 s of quiet after each view). "seconds_to_dialog" can
undercount: the dialog may show before its image is replaced. Prints one JSON line. Linux only; needs Debian's Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def _hwm_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=HERE)
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--side", type=int, default=13000)
    ap.add_argument("--drop-previews", action="store_true", help="delete previews/ after ingest (a workspace ingested earlier)")
    args = ap.parse_args()
    repo = args.repo.resolve()
    sys.path.insert(0, str(HERE))
    import numpy as np
    from PIL import Image

    from clipcore.sources.demo import generate_demo
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, free_port
    from tests.gridview import grid_frame

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        generate_demo(tmp / "demo", per_class=2, seed=0)
        src.mkdir()
        for i, f in enumerate(sorted(p for p in (tmp / "demo").rglob("*") if p.is_file())[:6]):
            (src / f"small-{i}{f.suffix}").write_bytes(f.read_bytes())
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 255, (args.side // 10 + 1, args.side // 10 + 1, 3), dtype=np.uint8)
        Image.fromarray(np.tile(tile, (10, 10, 1))[: args.side, : args.side]).save(src / "huge.png", compress_level=1)
        ws = tmp / "ws"
        cfg = tmp / "clipcore.toml"
        cfg.write_text(f'[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n[workspaces.big]\npath = "{ws}"\nsource = "{src}"\n')
        env = dict(os.environ, CLIPCORE_CONFIG=str(cfg), PYTHONPATH=str(repo), PYTHONUNBUFFERED="1")
        for cmd in (["ingest", str(src)], ["embed"]):
            subprocess.run([sys.executable, "-m", "clipcore", *cmd, "--workspace", str(ws), "--quiet"], cwd=repo, env=env, check=True)
        if args.drop_previews:
            import shutil

            shutil.rmtree(ws / "previews", ignore_errors=True)
        port = free_port()
        log = open(tmp / "streamlit.log", "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            from playwright.sync_api import sync_playwright

            import sqlite3

            # read-only: the measured checkout's own code owns (and migrates) the catalogue
            with sqlite3.connect(f"file:{ws / 'catalog.sqlite'}?mode=ro", uri=True) as db:
                huge_id = db.execute("SELECT id FROM images WHERE path = 'huge.png'").fetchone()[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for _ in range(120):
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except Exception:
                        time.sleep(0.5)
                tile = grid_frame(page).locator(f'figure[data-image-id="{huge_id}"]')
                tile.wait_for(timeout=120_000)
                page.wait_for_timeout(2000)
                before, cpu0 = _hwm_mb(server.pid), _cpu_s(server.pid)
                seconds = []
                for _ in range(args.views):
                    t0 = time.perf_counter()
                    tile.click()
                    dialog = page.locator('[role="dialog"]')
                    dialog.get_by_text("path: huge.png").wait_for(timeout=120_000)
                    dialog.locator("img").first.wait_for(timeout=120_000)
                    seconds.append(round(time.perf_counter() - t0, 2))
                    page.keyboard.press("Escape")
                    dialog.wait_for(state="detached", timeout=60_000)
                    page.wait_for_timeout(3000)  # let the server finish the rerun before the next click
                after, cpu = _hwm_mb(server.pid), _cpu_s(server.pid) - cpu0
                browser.close()
            print(json.dumps({"repo": str(repo), "views": args.views, "server_peak_rss_mb_before_views": before,
                              "server_peak_rss_mb_after_views": after, "seconds_to_dialog": seconds, "server_cpu_s_during_views": round(cpu, 1),
                              "previews_kept": len(list((ws / "previews").rglob("*.jpg"))) if (ws / "previews").exists() else 0}))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
