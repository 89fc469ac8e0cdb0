"""How far clipcore's model input is from open_clip's own eval transform, per config.

For every image of a folder (default: 16 generated demo pages) and each config, compares
``Preprocess.apply`` (draft off and on, decoded by ``open_rgb`` as the pipeline does) with
``open_clip.transform.image_transform_v2`` on ``PIL.Image.open``, in normalised units.
Also the version-1 transform (the hard-coded shortest-side bicubic crop, with draft) for
the default config: the basis for keeping sets made by it (docs/ARCHITECTURE.md).

    python scripts/measure_preprocess.py [--images DIR] [--sizes 64 224] [--timing]

``--timing`` instead times decode + resize + crop at 224 px in one thread, version 1
against ``Preprocess.apply`` (draft on), best of 5 interleaved rounds in CPU seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipcore.catalog.images import open_rgb  # noqa: E402
from clipcore.embedding.preprocess import Preprocess  # noqa: E402

CONFIGS = [("shortest", "bicubic"), ("squash", "bicubic"), ("shortest", "bilinear"), ("longest", "bilinear")]


def version1(img: Image.Image, size: int) -> np.ndarray:
    """The transform clipcore used before preprocess configs (PREPROCESS_VERSION 1)."""
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    resized = img.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


def timing(files: list[Path]) -> None:
    """Print images/s per core of version 1 and of Preprocess.apply, best of 5 rounds."""
    ours = Preprocess(224)
    fns = {
        "version 1": lambda f: version1(open_rgb(f, draft_to=224).image, 224),
        "Preprocess.apply": lambda f: ours.apply(open_rgb(f, draft_to=224).image),
    }
    best = {name: float("inf") for name in fns}
    for r in range(5):
        for name in list(fns) if r % 2 == 0 else list(fns)[::-1]:
            started = time.process_time()
            for f in files:
                fns[name](f)
            best[name] = min(best[name], time.process_time() - started)
    for name, seconds in best.items():
        print(f"{name}: {len(files) / seconds:.0f} images/s per core (best of 5)")


def main() -> None:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--timing", action="store_true")
    args = parser.parse_args()
    folder = args.images
    if folder is None:
        from clipcore.sources.demo import generate_demo

        folder = Path(tempfile.mkdtemp(prefix="pp-demo-"))
        generate_demo(folder, per_class=4, seed=1)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    print(f"{len(files)} images from {folder}")
    if args.timing:
        timing(files)
        return
    print("| size | resize mode | interpolation | draft off, max abs | draft on, max abs | draft on, mean abs per image (max / average) | version 1, mean abs per image (max) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for mode, interp in CONFIGS:
            cfg = {"size": size, "resize_mode": mode, "interpolation": interp}
            ours = Preprocess.from_open_clip(cfg)
            ref = image_transform_v2(PreprocessCfg(**cfg), is_train=False)
            exact, draft_max, draft_means, v1_means = 0.0, 0.0, [], []
            for f in files:
                want = ref(Image.open(f)).numpy()
                exact = max(exact, float(np.abs(ours.normalise(ours.apply(open_rgb(f).image, draft=False)) - want).max()))
                drafted = open_rgb(f, draft_to=size).image
                diff = np.abs(ours.normalise(ours.apply(drafted, draft=True)) - want)
                draft_max = max(draft_max, float(diff.max()))
                draft_means.append(float(diff.mean()))
                if (mode, interp) == ("shortest", "bicubic"):
                    v1_means.append(float(np.abs(ours.normalise(version1(drafted, size)) - want).mean()))
            v1 = f"{max(v1_means):.3f}" if v1_means else "-"
            print(f"| {size} | {mode} | {interp} | {exact:.2g} | {draft_max:.2f} | {max(draft_means):.3f} / {np.mean(draft_means):.3f} | {v1} |")


if __name__ == "__main__":
    main()
