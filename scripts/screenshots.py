"""Screenshots of every page at 1440x900 into docs/screenshots/ (Chromium via Playwright).

    python scripts/screenshots.py CLIPCORE_TOML [OUT_DIR]

Starts ``streamlit run app.py`` with the given config, opens each page, waits for it to
settle, and saves <page>.png (and lightbox.png: the viewer open over the Label page). With
the ``tiny`` model the pages say "untrained".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit  # noqa: E402
from tests.e2e.test_browser_walk import IDLE  # noqa: E402

NO_SKELETON = "() => !document.querySelector('[data-testid=\"stSkeleton\"], [data-testid=\"stSpinner\"]')"
LIGHTBOX_READY = "() => { const i = document.querySelector('[data-cc-lightbox] img'); return !!i && i.dataset.preview === 'yes' && i.complete; }"
PAGES = [("home", "", None), ("search", "search", None), ("zero_shot", "zero_shot", None), ("few_shot", "few_shot", None),
         ("label", "label?annotator=Ada", None), ("evaluate", "evaluate", None), ("present", "present", None)]


def main() -> None:
    from playwright.sync_api import sync_playwright

    config = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    proc, url = start_streamlit(config)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            for name, path, _ in PAGES:
                page.goto(f"{url}/{path}")
                page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=120_000)
                page.wait_for_timeout(1500)
                page.wait_for_function(IDLE, timeout=120_000)
                page.wait_for_function(NO_SKELETON, timeout=120_000)
                page.wait_for_timeout(3000)  # images, charts and components finish drawing
                page.screenshot(path=str(out / f"{name}.png"))
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
