#!/usr/bin/env bash
# One GPU benchmark run, for a session that has an H100/H200 (see docs/PERFORMANCE.md).
#
#   scripts/gpu_bench.sh [N]      N 800x600 JPEGs (default 10000)
#
# Builds a JPEG set, then runs `python -m clipcore bench` (which ingests the set into a
# scratch workspace and embeds it end to end) with the GPU decoder and with Pillow, and
# writes versions, the card's name and every JSON result under $OUT (default
# ./gpu-bench-out). Uses the machine's own Python and torch; installs nothing.
# Weights are random (timing does not depend on them): the figures are throughput only.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000}"
OUT="${OUT:-gpu-bench-out}"
PY="${PYTHON:-python3}"
BATCH="${BATCH:-512}"
MODEL="${MODEL:-ViT-B-32}"
DEVICE="${DEVICE:-cuda}"  # DEVICE=cpu MODEL=tiny for a dry run of the script itself
mkdir -p "$OUT"
export CLIPCORE_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
  "$PY" - <<'PY'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "torchvision", "open_clip", "PIL", "numpy", "nvidia.nvimgcodec"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"))
    except ImportError as exc:
        print(name, "MISSING", exc)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
} | tee "$OUT/versions.txt"

JPEGS="${JPEGS:-$OUT/jpegs}"
"$PY" - "$JPEGS" "$N" <<'PY'
"""N distinct 800x600 JPEGs (smooth gradients plus blocky noise, quality 90), in parallel."""
import os, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import numpy as np
from PIL import Image

out, n = Path(sys.argv[1]), int(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)

def make(k: int) -> None:
    target = out / f"{k:07d}.jpg"
    if target.exists():
        return
    rng = np.random.default_rng(k)
    y, x = np.mgrid[0:600, 0:800].astype(np.float32)
    a, b, c = rng.uniform(0.2, 1.0, 3)
    base = np.stack([x * a * 255 / 800, y * b * 255 / 600, (x + y) * c * 127 / 1400], -1)
    noise = rng.normal(0, 20, (75, 100, 3)).repeat(8, 0).repeat(8, 1)
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(target, "JPEG", quality=90)

with ProcessPoolExecutor(os.cpu_count()) as pool:
    list(pool.map(make, range(n), chunksize=64))
print(f"{n} JPEGs in {out}")
PY

run() {  # name, then bench arguments
  local name="$1"; shift
  echo "== $name: bench $*" | tee -a "$OUT/log.txt"
  "$PY" -m clipcore bench --images "$JPEGS" --model "$MODEL" --device "$DEVICE" --json "$@" \
    > "$OUT/$name.json" 2>> "$OUT/log.txt" || echo "FAILED: $name (see $OUT/log.txt)" | tee -a "$OUT/log.txt"
  cat "$OUT/$name.json"; echo
}
run gpu-fp16 --limit "$N" --batch-size "$BATCH" --precision fp16 --decoder gpu
run gpu-bf16 --limit "$N" --batch-size "$BATCH" --precision bf16 --decoder gpu
run pillow-fp16 --limit "$(( N < 3000 ? N : 3000 ))" --batch-size "$BATCH" --precision fp16 --decoder pillow
echo "results in $OUT; record them in docs/PERFORMANCE.md with the card's name and the versions above"
