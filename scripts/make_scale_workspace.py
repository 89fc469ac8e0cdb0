"""Make a scale fixture: N catalogue rows plus clustered synthetic vectors (no image decoding).

    python scripts/make_scale_workspace.py 1000000 --workspace data/scale-1m
    python scripts/make_scale_workspace.py 100000 --workspace data/scale-100k --model tiny

Rows share a few real thumbnails (so grids draw), each row's ground-truth class is its
cluster's class, and the vectors are stored as the embedding set of ``--model``'s key
(dimension from the model config; the model itself is not run). The vectors are synthetic:
anything measured on them is about speed and memory, never about accuracy. Then build the
vector index with ``python -m clipcore index --workspace W --model ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipcore.embedding.models import TINY_CONFIG, embedding_set_key  # noqa: E402
from clipcore.sources.scale import make_scale_workspace  # noqa: E402


def _embed_dim(model: str) -> int:
    if model == "tiny":
        return int(TINY_CONFIG["embed_dim"])
    import open_clip

    cfg = open_clip.get_model_config(model)
    if cfg is None:
        raise SystemExit(f"error: unknown open_clip model {model!r}; pass --dim.")
    return int(cfg["embed_dim"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="number of synthetic images to add")
    parser.add_argument("--workspace", required=True, help="workspace folder (created; appended to if it exists)")
    parser.add_argument("--model", default="tiny", help="model whose embedding key and dimension to use (default tiny)")
    parser.add_argument("--pretrained", help="pretrained tag of --model (part of the embedding key)")
    parser.add_argument("--dim", type=int, help="vector dimension (default: the model's)")
    parser.add_argument("--clusters", type=int, help="vector clusters (default n // 1000, at least 10)")
    parser.add_argument("--classes", type=int, default=10, help="ground-truth classes (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pretrained = None if args.pretrained in (None, "", "none", "None") else args.pretrained
    key = embedding_set_key(args.model, pretrained)
    dim = args.dim or _embed_dim(args.model)
    started = time.perf_counter()
    ws = make_scale_workspace(
        args.workspace, args.n, key=key, dim=dim, clusters=args.clusters or max(10, args.n // 1000),
        classes=args.classes, seed=args.seed,
        progress=lambda done, total: print(f"\r{done:,}/{total:,}", end="", file=sys.stderr),
    )
    print(file=sys.stderr)
    print(json.dumps({"workspace": str(ws.root), "key": key, "dim": dim, "added": args.n,
                      "images": ws.counts()["images"], "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
