"""Peak RSS of a process that serves the View dialog of one 169 MP PNG N times.

    python scripts/measure_preview_rss.py [--views 5] [--side 13000]

Makes a 13000 x 13000 PNG (169 MP, under the 180 MP limit) in a temporary folder, ingests
it, then, each in a fresh process (VmHWM, the peak resident set, is per process): "before" decodes the
original on every view (``preview_jpeg(real_path)``, the old View dialog); "after" calls
``previews.view_preview`` (the copy kept at ingest); "first-view" the same without the
kept copy (a workspace ingested earlier): one decode, then the copy. One JSON line per mode.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _child(mode: str, ws_path: str, views: int) -> None:
    from clipcore.catalog.images import preview_jpeg
    from clipcore.catalog.previews import view_preview
    from clipcore.catalog.store import Workspace

    ws = Workspace(Path(ws_path))
    record = ws.images()[0]
    if mode == "first-view":  # a workspace ingested before previews were kept
        ws.preview_path(record.content_hash).unlink()
    base = _peak_rss_kb()
    times = []
    for _ in range(views):
        t0 = time.perf_counter()
        data = preview_jpeg(record.real_path()) if mode == "before" else view_preview(ws, record)
        times.append(time.perf_counter() - t0)
        assert data
    peak = _peak_rss_kb()
    print(json.dumps({"mode": mode, "views": views, "peak_rss_before_views_mb": round(base / 1024), "peak_rss_mb": round(peak / 1024),
                      "seconds_per_view": [round(t, 3) for t in times]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--side", type=int, default=13000)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "WS"))
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.views)
        return
    import numpy as np
    from PIL import Image

    from clipcore.catalog.ingest import ingest_folder
    from clipcore.catalog.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        rng = np.random.default_rng(0)
        tile = rng.integers(0, 255, (args.side // 10 + 1, args.side // 10 + 1, 3), dtype=np.uint8)
        Image.fromarray(np.tile(tile, (10, 10, 1))[: args.side, : args.side]).save(src / "huge.png", compress_level=1)
        t0 = time.perf_counter()
        ws = Workspace(Path(tmp) / "ws")
        report = ingest_folder(ws, src, workers=1)
        kept = ws.preview_path(ws.images()[0].content_hash).is_file()
        ws.close()
        print(json.dumps({"ingest_s": round(time.perf_counter() - t0, 1), "pixels": args.side * args.side,
                          "ingested": report.added, "preview_kept_at_ingest": kept}))
        for mode in ("before", "after", "first-view"):
            subprocess.run([sys.executable, __file__, "--child", mode, str(Path(tmp) / "ws"), "--views", str(args.views)],
                           check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
