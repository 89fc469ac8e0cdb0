"""Time a Browse-view Label action server side: the app driven in-process with AppTest (no
browser), so the figure is the batch write plus the run that draws the next page and the new
counts, without the browser's drawing and the websocket.

    python scripts/measure_browse_server.py --workspace W [--actions 8] [--profile]

Opens the Label page's Browse view from its link (ground truth = class-0 and Unlabelled, as
``scripts/measure_label_latency.py --browse`` does), chooses a class, then per action
excludes two tiles and presses the grid's Assign. ``--profile`` prints the run's cProfile
(the script thread) by cumulative time. It writes real label batches: use a scratch copy.
Prints JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import write_config  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--pretrained", default="none")
    ap.add_argument("--actions", type=int, default=8)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    cfg = write_config(Path(tempfile.mkdtemp(prefix="browse-server-")), Path(args.workspace), args.model, args.pretrained)
    os.environ["CLIPCORE_CONFIG"] = str(cfg)
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    from tests.gridview import assign_tiles

    profiler, profiling = cProfile.Profile(), [False]
    run_script = script_runner.ScriptRunner._run_script

    def profiled(self, *a, **k):  # the script runs in its own thread: profile it there
        if not profiling[0]:
            return run_script(self, *a, **k)
        profiler.enable()
        try:
            return run_script(self, *a, **k)
        finally:
            profiler.disable()

    script_runner.ScriptRunner._run_script = profiled
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.query_params.update({"annotator": "bench", "view": "Browse", "f_ground_truth": "class-0", "f_unlabelled": "1"})
    at.switch_page("app_pages/label.py")
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="browse_class").set_value("bench-class").run()
    assign_tiles(at, exclude=(1, 2))  # the first action warms what the page caches
    profiling[0] = args.profile
    times = []
    for _ in range(args.actions):
        t = time.perf_counter()
        assign_tiles(at, exclude=(1, 2))
        times.append((time.perf_counter() - t) * 1000)
    assert not at.exception, at.exception
    print(json.dumps({"action_ms": {"median": round(statistics.median(times)), "min": round(min(times)),
                                    "max": round(max(times)), "n": len(times)},
                      "load_average": [round(x, 2) for x in os.getloadavg()], "date": time.strftime("%Y-%m-%d")}))
    if args.profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
