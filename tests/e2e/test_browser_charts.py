"""Charts are readable in Chromium, not only present in the spec: the Evaluate page's
learning curve keeps its plot height with every method and the baseline in its legend.

(Streamlit stretches a chart with Vega-Lite's ``fit`` autosize unless told otherwise,
which squeezed the plot, the axis titles and the legends into the chart's height
together: the plot was about 60 px tall, then a few pixels once a baseline joined.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import IDLE, ROOT, open_tab
from tests.helpers import app_workspace

PLOT_HEIGHT = 360  # what ui/evaluate_results.py asks for
CLASSES = 4  # the demo's
VIEWPORT = {"width": 1440, "height": 900}

# Per Vega chart in the section under the heading named ``arguments[0]`` (up to the next
# heading: the embedding map further down has no axes on purpose): the plot area's height
# (its background rectangle) and the axis labels drawn, in CSS pixels.
CHARTS_AFTER = """(heading) => {
  const heads = [...document.querySelectorAll('[data-testid="stMain"] h3')];
  const at = heads.findIndex(h => h.innerText.trim().startsWith(heading));
  if (at < 0) return [];
  const head = heads[at], next = heads[at + 1];
  return [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stVegaLiteChart"]')]
    .filter(c => (head.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING)
                 && !(next && (next.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING)))
    .map(c => {
      const plot = c.querySelector('svg path.background');
      const labels = [...c.querySelectorAll('svg .role-axis-label text')].filter(t => t.getAttribute('opacity') !== '0').map(t => t.textContent);
      return {plot: plot ? plot.getBoundingClientRect().height : 0, width: c.getBoundingClientRect().width, labels};
    });
}"""


@pytest.mark.e2e
def test_evaluate_charts_keep_their_plot_height_with_every_method_and_a_baseline(app_config, request, page):
    from tests.app.test_evaluate_page import _stored_baseline

    ws = app_workspace(app_config)
    subprocess.run(
        [sys.executable, "-m", "clipcore", "evaluate", "--workspace", str(ws.root), "--model", "tiny",
         "--precision", "fp32", "--device", "cpu", "--methods", "zero_shot,logreg,random_forest,knn,zero_shot_prior",
         "--k", "1,2,all", "--draws", "2", "--class-names", "--quiet"],
        cwd=ROOT, check=True, timeout=300, env={**os.environ, "CLIPCORE_CONFIG": str(app_config)},
    )
    _stored_baseline(ws)  # a sixth legend entry, as after a baseline job
    url = request.getfixturevalue("streamlit_server")  # started once the data is in place
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{url}/evaluate")
    page.get_by_role("heading", name="Confusion matrices").wait_for(timeout=90_000)
    page.wait_for_function(IDLE, timeout=90_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg path.background')].length >= 2",
        timeout=60_000,
    )
    try:  # Vega sizes the SVG and places the labels after its first render
        page.wait_for_function(
            f"() => {{ const m = ({CHARTS_AFTER})('Confusion matrices'); const c = ({CHARTS_AFTER})('Learning curve'); "
            f"return c.length > 0 && c[0].plot >= {PLOT_HEIGHT - 2} && m.length > 0 "
            f"&& m.every(x => x.labels.length >= {2 * CLASSES} && x.plot >= {CLASSES * 22}); }}", timeout=60_000,
        )
    except Exception:  # noqa: BLE001 - the asserts below say what is wrong
        pass
    curve = page.evaluate(CHARTS_AFTER, "Learning curve")[0]
    matrices = page.evaluate(CHARTS_AFTER, "Confusion matrices")
    assert curve["plot"] >= PLOT_HEIGHT - 2 and curve["width"] >= 600, curve
    assert any("hold-out" in t or t == "all" for t in curve["labels"]), curve["labels"]
    assert matrices, "no confusion matrix drawn"
    for m in matrices:
        assert m["plot"] >= CLASSES * 22, m  # a readable row per class
        # every class named on both axes (Vega hides labels that would overlap: opacity 0)
        assert len(m["labels"]) >= 2 * CLASSES, m["labels"]


# Per confusion matrix on the page: its title as drawn, and its plot area's size (CSS px).
MATRICES = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stVegaLiteChart"]')]
  .map(c => {
    const plot = c.querySelector('svg path.background');
    const title = c.querySelector('svg .role-title-text');
    const box = plot ? plot.getBoundingClientRect() : {width: 0, height: 0};
    return {title: title ? title.textContent : '', plot_w: box.width, plot_h: box.height, chart_w: c.getBoundingClientRect().width};
  })"""


@pytest.mark.e2e
def test_a_long_prompt_set_name_does_not_squeeze_its_confusion_matrix(app_config, request, page):
    """Zero-shot's Compare versions titles each matrix with the set's name: a 500-character
    name was given the chart's width and squeezed the cells to nothing. Names are capped at
    100 characters now; 100 wide letters are still far wider than the chart."""
    from clipcore.classify.prompts import save_prompt_set

    ws = app_workspace(app_config)
    classes = {"illustration": ["an illustration"], "text": ["printed text"], "blank page": ["an empty page"], "cover": ["a book cover"]}
    long_name = "W" * 100
    save_prompt_set(ws, long_name, classes)
    save_prompt_set(ws, "short", {**classes, "text": ["a page of text"]})  # newest: B; the long one is A
    ws.close()
    url = request.getfixturevalue("streamlit_server")
    page.set_viewport_size(VIEWPORT)
    page.goto(f"{url}/zero_shot")
    open_tab(page, "Compare versions")
    wanted = "() => { const m = (%s)(); return m.filter(x => /^(WWW|short)/.test(x.title) && x.plot_w > 100).length >= 2; }" % MATRICES
    try:  # Vega lays the charts out after its first render
        page.wait_for_function(wanted, timeout=60_000)
    except Exception:  # noqa: BLE001 - the asserts below say what is wrong
        pass
    matrices = page.evaluate(MATRICES)
    long_ = [m for m in matrices if m["title"].startswith("WWW")]
    short = [m for m in matrices if m["title"].startswith("short")]
    assert long_ and short, matrices
    # the long title is cut to the chart (an ellipsis), and its cells are as wide as B's
    assert len(long_[0]["title"]) < len(long_name) and long_[0]["title"].endswith("…"), long_[0]["title"][:60]
    assert long_[0]["plot_w"] >= 0.8 * short[0]["plot_w"] and long_[0]["plot_w"] > 150, (long_[0]["plot_w"], short[0]["plot_w"])
    assert long_[0]["plot_h"] >= CLASSES * 22, long_[0]
