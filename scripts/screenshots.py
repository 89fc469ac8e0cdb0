"""Screenshots of every page at 1440x900 into docs/screenshots/ (Chromium via Playwright).

    python scripts/screenshots.py [CLIPCORE_TOML] [OUT_DIR]

Starts ``streamlit run app.py`` with the given config, opens each page, waits for it to
settle, and saves <page>.png (and lightbox.png: the viewer open over the Label page). With
the ``tiny`` model the pages say "untrained".

Without a config (or with ``-``), it first builds a scratch collection in a temporary
folder, so that every page has something to show: the demo (200 images) ingested and
embedded with ``tiny``, a frozen hold-out split and a stored evaluation with every method
and a ``tiny`` baseline (the Evaluate page's learning curve), and two annotators' label
batches (the Label page's history).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit  # noqa: E402
from tests.e2e.test_browser_walk import IDLE  # noqa: E402

NO_SKELETON = "() => !document.querySelector('[data-testid=\"stSkeleton\"], [data-testid=\"stSpinner\"]')"
LIGHTBOX_READY = "() => { const i = document.querySelector('[data-cc-lightbox] img'); return !!i && i.dataset.preview === 'yes' && i.complete; }"
# (file name, URL path, the heading to scroll to the top, or None)
PAGES = [("home", "", None), ("search", "search", None), ("zero_shot", "zero_shot", None), ("few_shot", "few_shot", None),
         ("label", "label?annotator=Ada", None), ("evaluate", "evaluate", "Learning curve"), ("present", "present", None)]
MAX_BYTES = 200_000  # a larger PNG is saved with a 256-colour palette


def _save_small(path: Path) -> None:
    """Keep a screenshot under ``MAX_BYTES`` where a palette suffices (photos of tiles)."""
    from PIL import Image

    if path.stat().st_size <= MAX_BYTES:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def prepare(folder: Path) -> Path:
    """Build the scratch collection described above in ``folder``; return its config."""
    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.labels import record_batch
    from clipcore.catalog.store import Workspace
    from clipcore.classify.splits import freeze_split
    from clipcore.embedding.models import load_model
    from clipcore.embedding.pipeline import embed_workspace
    from clipcore.sources.demo import generate_demo

    source, root = folder / "demo", folder / "workspace"
    generate_demo(source, seed=0)
    ws = Workspace(root)
    ingest_folder(ws, source, labels_from_folders=True)
    embed_workspace(ws, load_model("tiny", precision="fp32", device="cpu"), batch_size=32)
    split = freeze_split(ws)
    train = [i for i in split.train_ids]
    by_class: dict[str, list[int]] = {}
    for i in train:
        by_class.setdefault(split.labels[i], []).append(int(i))
    for annotator, offset in (("Ada", 0), ("Grace", 6)):
        for label, ids in sorted(by_class.items())[:2]:
            record_batch(ws, label, ids[offset:offset + 6], annotator=annotator, source={"kind": "text"})
    ws.close()
    config = folder / "clipcore.toml"
    config.write_text(
        '[model]\nname = "tiny"\nprecision = "fp32"\ndevice = "cpu"\n\n'
        f'[workspaces.demo]\npath = "{root}"\nsource = "{source}"\nlabels_from_folders = true\n'
    )
    subprocess.run(
        [sys.executable, "-m", "clipcore", "evaluate", "--workspace", str(root), "--model", "tiny", "--precision", "fp32",
         "--device", "cpu", "--draws", "3", "--class-names", "--with-baseline", "--baseline-arch", "tiny", "--quiet"],
        cwd=ROOT, check=True, env={**os.environ, "CLIPCORE_CONFIG": str(config), "CLIPCORE_OFFLINE": "1"},
    )
    return config


def main() -> None:
    from playwright.sync_api import sync_playwright

    if len(sys.argv) < 2 or sys.argv[1] == "-":
        config = prepare(Path(tempfile.mkdtemp(prefix="clipcore-screenshots-")))
    else:
        config = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    proc, url = start_streamlit(config)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            for name, path, heading in PAGES:
                page.goto(f"{url}/{path}")
                page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=120_000)
                page.wait_for_timeout(1500)
                page.wait_for_function(IDLE, timeout=120_000)
                page.wait_for_function(NO_SKELETON, timeout=120_000)
                if heading:
                    page.get_by_role("heading", name=heading).first.evaluate("h => h.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(3000)  # images, charts and components finish drawing
                page.screenshot(path=str(out / f"{name}.png"))
                _save_small(out / f"{name}.png")
                print("saved", out / f"{name}.png")
                if name == "label":  # the lightbox over the Label page: its second tile, bounded preview loaded
                    page.frame_locator('iframe[title*="clipcore_grid"]').first.locator("figure[data-image-id] button.cc-view").nth(1).click()
                    page.wait_for_function(LIGHTBOX_READY, timeout=120_000)
                    page.screenshot(path=str(out / "lightbox.png"))
                    print("saved", out / "lightbox.png")
                    page.keyboard.press("Escape")
            browser.close()
    finally:
        stop_streamlit(proc)


if __name__ == "__main__":
    main()
