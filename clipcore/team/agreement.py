"""Team figures (Label Studio): per-class progress against totals, and how often annotators
agree on the images more than one of them labelled (Cohen's kappa where it applies).

Each annotator's label of an image is their latest ``assign`` in a batch that is not
reverted; a review correction counts as the reviewer's label.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

from clipcore.catalog.store import Workspace


def class_progress(ws: Workspace) -> list[dict[str, Any]]:
    """Per class: current labels and the ground-truth total (None where the class has no
    ground truth), as [{"class", "labelled", "total"}], by class name."""
    labelled = {r[0]: int(r[1]) for r in ws.query(
        "SELECT label, COUNT(*) FROM (SELECT e.image_id, e.label, MAX(e.id) FROM label_events e "
        "JOIN label_batches b ON b.id = e.batch_id WHERE e.kind = 'assign' AND b.reverted_at IS NULL "
        "AND e.image_id IN (SELECT id FROM live_images) GROUP BY e.image_id) GROUP BY label")}
    totals = {r[0]: int(r[1]) for r in ws.query(
        "SELECT label, COUNT(*) FROM ground_truth WHERE image_id IN (SELECT id FROM live_images) GROUP BY label")}
    return [{"class": c, "labelled": labelled.get(c, 0), "total": totals.get(c)} for c in sorted(set(labelled) | set(totals))]


def annotator_agreement(ws: Workspace) -> list[dict[str, Any]]:
    """Every pair of annotators who labelled some of the same images: [{"a", "b", "images"
    (shared), "agree", "percent", "kappa"}]; ``kappa`` is Cohen's kappa
    (``sklearn.metrics.cohen_kappa_score``) when at least two images and two classes are
    involved, else None. Pairs by most shared images."""
    from sklearn.metrics import cohen_kappa_score

    rows = ws.query(
        "SELECT e.image_id, e.annotator, e.label, MAX(e.id) FROM label_events e JOIN label_batches b ON b.id = e.batch_id "
        "WHERE e.kind = 'assign' AND b.reverted_at IS NULL AND e.image_id IN (SELECT id FROM live_images) "
        "GROUP BY e.image_id, e.annotator"
    )
    by_person: dict[str, dict[int, str]] = defaultdict(dict)
    for r in rows:
        by_person[r[1]][int(r[0])] = r[2]
    out = []
    for a, b in combinations(sorted(by_person), 2):
        shared = sorted(set(by_person[a]) & set(by_person[b]))
        if not shared:
            continue
        la = [by_person[a][i] for i in shared]
        lb = [by_person[b][i] for i in shared]
        agree = sum(x == y for x, y in zip(la, lb))
        kappa = None
        if len(shared) >= 2 and len(set(la) | set(lb)) >= 2:
            kappa = float(cohen_kappa_score(la, lb))
        out.append({"a": a, "b": b, "images": len(shared), "agree": agree, "percent": agree / len(shared), "kappa": kappa})
    return sorted(out, key=lambda p: (-p["images"], p["a"], p["b"]))
