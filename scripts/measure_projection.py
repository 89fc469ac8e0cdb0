"""Compare the embedding map's projections (PCA, t-SNE) on synthetic clustered vectors.

    python scripts/measure_projection.py [--classes 6] [--per-class 150] [--spread 1.0 1.5]

Prints kNN class agreement in 2-D, trustworthiness and seconds per method; the default of
``clipcore.classify.projection.DEFAULT_METHOD`` was chosen from this. UMAP is not compared:
umap-learn is not a dependency (numba compile time on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clipcore.classify.projection import clustered_vectors, measure_projections  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--per-class", type=int, default=150)
    p.add_argument("--spread", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    args = p.parse_args()
    print("spread  method  knn_class_agreement  trustworthiness  seconds")
    for spread in args.spread:
        x, y = clustered_vectors(args.classes, args.per_class, spread=spread)
        for method, m in measure_projections(x, y).items():
            print(f"{spread:<7} {method:<7} {m['knn_class_agreement']:<20.3f} {m['trustworthiness']:<16.3f} {m['seconds']:.2f}")


if __name__ == "__main__":
    main()
