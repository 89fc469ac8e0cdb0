"""Try stored scores by hand on 100,000 images in Chromium (not a test; needs Chromium).

    python scripts/try_stored_scores_100k.py [FOLDER]

Makes a 100,000-image collection in FOLDER (synthetic vectors under the tiny model's key;
default /tmp/clipcore-100k), saves a prompt set and labels of two classes, starts the app at
the default in-page limit (50,000), and in Chromium presses "Compute zero-shot scores" on the
Zero-shot page, then opens the Label page's scores expander and presses "Compute few-shot
scores", printing how long each took until the page said the scores were stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipcore.catalog import labels as lbl  # noqa: E402
from clipcore.catalog.jobs import list_jobs  # noqa: E402
from clipcore.catalog.store import Workspace  # noqa: E402
from clipcore.classify.prompts import save_prompt_set  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit  # noqa: E402

base = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/clipcore-100k")
base.mkdir(parents=True, exist_ok=True)
ws_dir = base / "ws"
if not ws_dir.exists():
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "scripts/make_scale_workspace.py", "100000", "--workspace", str(ws_dir), "--model", "tiny"],
                         cwd=ROOT, capture_output=True, text=True)
    print("made", out.stdout.strip(), f"{time.perf_counter()-t:.1f}s", flush=True)
ws = Workspace(ws_dir)
save_prompt_set(ws, "classes", {f"class-{i}": [f"a picture of class {i}"] for i in range(10)}, [])
truth = ws.ground_truth()
for c in ("class-0", "class-1"):
    lbl.record_batch(ws, c, [i for i, t in truth.items() if t == c][:20], annotator="ada", source={})
cfg = base / "clipcore.toml"
cfg.write_text(f'[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n[workspaces.big]\npath = "{ws_dir}"\n')
proc, url = start_streamlit(cfg, log=base / "streamlit.log")
try:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        main = page.locator('[data-testid="stMain"]')
        t = time.perf_counter()
        page.goto(f"{url}/zero_shot")
        main.get_by_text("not stored for the latest prompt set yet", exact=False).first.wait_for(timeout=300_000)
        print(f"zero-shot page ready {time.perf_counter()-t:.1f}s", flush=True)
        t = time.perf_counter()
        main.get_by_role("button", name="Compute zero-shot scores").click()
        main.get_by_text("Zero-shot: stored for the latest prompt set.", exact=False).first.wait_for(timeout=600_000)
        print(f"zero-shot scores stored and shown {time.perf_counter()-t:.1f}s", flush=True)
        t = time.perf_counter()
        page.goto(f"{url}/label?annotator=ada")
        exp = main.get_by_text("Zero-shot and few-shot scores of every image").first
        exp.wait_for(timeout=300_000)
        print(f"label page ready {time.perf_counter()-t:.1f}s", flush=True)
        time.sleep(2)
        exp.click()
        btn = main.get_by_role("button", name="Compute few-shot scores")
        btn.wait_for(timeout=30_000)
        print("expander opened on click; button visible:", btn.is_visible(), flush=True)
        t = time.perf_counter()
        btn.click()
        main.get_by_text("Few-shot: stored (from the labels when it ran).", exact=False).first.wait_for(timeout=600_000)
        print(f"few-shot scores stored and shown {time.perf_counter()-t:.1f}s", flush=True)
        page.screenshot(path=str(base / "label-100k.png"), full_page=True)
        b.close()
    print(json.dumps([{k: j[k] for k in ("kind", "status", "done", "total", "message")} | {"args": j["args"][:1]} for j in list_jobs(ws)]))
finally:
    stop_streamlit(proc)
