"""Frozen hold-out splits: every method is scored on the same images, nothing trains on them.

A split is drawn once (stratified per class, seeded; optionally by group so that the
pages of one volume stay on one side) and stored in the workspace with the label each
member had at freeze time. Asking again for a split of the same name returns the stored
one, so two evaluations of one workspace always report the same ``test_ids``.

Training sets for learning curves are drawn from the split's train side only:
``k`` examples per class, ``draws`` times, from a seed, so every method (and the
EfficientNet baseline) trains on exactly the same images.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from clipcore.errors import InputError
from clipcore.catalog.labels import current_labels
from clipcore.catalog.metadata import image_groups
from clipcore.catalog.labels import label_events_version
from clipcore.catalog.store import EmbeddingMatrix, Workspace, utc_now

logger = logging.getLogger(__name__)

LABEL_SOURCES = ("ground_truth", "labels", "both")
GROUP_BY = (None, "folder", "group", "auto")
DEFAULT_TEST_FRACTION = 0.18


@dataclass(frozen=True)
class Split:
    """A stored train / hold-out split.

    ``train_ids`` and ``test_ids`` are disjoint, ascending image ids; ``labels`` maps every
    member to its label at freeze time.
    """

    name: str
    seed: int
    test_fraction: float
    group_by: str | None
    train_ids: list[int]
    test_ids: list[int]
    labels: dict[int, str]
    source: str = "ground_truth"
    created_at: str = ""
    groups: dict[int, str] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """Sorted class names of the members."""
        return sorted(set(self.labels.values()))

    def train_counts(self) -> dict[str, int]:
        """Training images per class."""
        return dict(sorted(Counter(self.labels[i] for i in self.train_ids).items()))

    def test_counts(self) -> dict[str, int]:
        """Hold-out images per class."""
        return dict(sorted(Counter(self.labels[i] for i in self.test_ids).items()))

    def to_dict(self) -> dict:
        """JSON shape (labels omitted; they are in the workspace)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "test_fraction": self.test_fraction,
            "group_by": self.group_by,
            "source": self.source,
            "created_at": self.created_at,
            "train_ids": list(self.train_ids),
            "test_ids": list(self.test_ids),
            "train_counts": self.train_counts(),
            "test_counts": self.test_counts(),
        }


def labelled_images(ws: Workspace, source: str = "ground_truth") -> dict[int, str]:
    """image id -> label from ``source``.

    Args:
        source: "ground_truth" (ingest), "labels" (the Label page's current labels) or
            "both" (labels override ground truth).
    Raises:
        InputError: an unknown source.
    """
    if source not in LABEL_SOURCES:
        raise InputError(f"label source must be one of {list(LABEL_SOURCES)}; got {source!r}.")
    if source == "ground_truth":
        return ws.ground_truth()
    if source == "labels":
        return current_labels(ws)
    merged = ws.ground_truth()
    merged.update(current_labels(ws))
    return merged


def training_data_version(ws: Workspace) -> str:
    """A token that changes whenever ground truth, labels or splits change: a cache key of
    whatever trains or scores on them (label events alone: ``catalog.labels.label_events_version``)."""
    truth, last_split, n_splits = ws.query(
        "SELECT (SELECT COUNT(*) FROM ground_truth), (SELECT COALESCE(MAX(id), 0) FROM splits), (SELECT COUNT(*) FROM splits)"
    )[0]
    return "-".join(str(v) for v in (truth, *label_events_version(ws), last_split, n_splits))


def stratified_folds(y: Sequence[str], n_folds: int, seed: int = 0) -> np.ndarray:
    """(n,) int fold of each example from scikit-learn's ``StratifiedKFold`` (shuffled with
    ``seed``): every class spread over the folds in proportion. Classes smaller than
    ``n_folds`` are expected here (a few labels per class), so sklearn's warning about them is
    not raised; when every class is smaller, the folds are as many as the largest class has
    examples (at least 2, at most ``n_folds``). Fewer than 2 examples: one fold.
    """
    import warnings

    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray([str(v) for v in y], dtype=object)
    fold = np.zeros(len(labels), dtype=np.int64)
    if len(labels) < 2:
        return fold
    largest = max(Counter(labels.tolist()).values())
    splits = max(2, min(int(n_folds), largest, len(labels)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, test) in enumerate(StratifiedKFold(splits, shuffle=True, random_state=seed).split(labels, labels)):
            fold[test] = k
    return fold


def _groups_of(ws: Workspace, ids: Sequence[int], group_by: str) -> dict[int, str]:
    """Group of each image: the labels CSV's group, else its book (``image_meta``, set per
    image at ingest whether or not it is labelled); then for "folder" the image's folder."""
    recorded = {**image_groups(ws), **ws.ground_truth_groups()}
    if group_by == "group":
        return {i: recorded.get(i, f"image {i}") for i in ids}
    paths = ws.paths(list(ids))
    out = {}
    for i in ids:
        if i in recorded:
            out[i] = recorded[i]
        else:
            folder = paths[i].rsplit("/", 1)[0] if "/" in paths[i] else ""
            out[i] = folder
    return out


def _check_labels(labels: dict[int, str], source: str) -> None:
    if not labels:
        raise InputError(
            f"no labelled images in source {source!r};",
            cli_hint="ingest with --labels-from-folders or a labels CSV, or label images on the Label page first.",
            app_hint="label images on the Label page first (or add the folder again on Home with "
            "\"Sub-folder names are class labels\" ticked).",
        )
    counts = Counter(labels.values())
    if len(counts) < 2:
        raise InputError(
            f"a split needs at least 2 classes; source {source!r} has only {sorted(counts)}. Label images of another class."
        )
    single = sorted(c for c, n in counts.items() if n < 2)
    if single:
        raise InputError(
            f"class(es) {single} have only one labelled image; a hold-out split needs at least 2 per class "
            "(one to train, one to test). Label more images of these classes or leave them out."
        )


def _stratified(labels: dict[int, str], test_fraction: float, seed: int) -> set[int]:
    """Per class: round(fraction * n) images to the hold-out, at least 1 and at most n - 1."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i in sorted(labels):
        by_class[labels[i]].append(i)
    test: set[int] = set()
    for cls in sorted(by_class):
        members = by_class[cls]
        n_test = min(max(1, int(round(test_fraction * len(members)))), len(members) - 1)
        test.update(int(x) for x in rng.choice(members, size=n_test, replace=False))
    return test


def _grouped(labels: dict[int, str], groups: dict[int, str], test_fraction: float, seed: int) -> set[int]:
    """Whole groups to the hold-out, filling each class's quota; every class keeps images on both sides."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for i in sorted(labels):
        members[groups[i]].append(i)
    class_total = Counter(labels.values())
    quota = {c: test_fraction * n for c, n in class_total.items()}
    order = sorted(members)
    rng.shuffle(order)
    test: set[int] = set()
    in_test: Counter = Counter()
    for g in order:
        counts = Counter(labels[i] for i in members[g])
        # Take the group if it brings a class closer to its quota and leaves every class some training images.
        if any(in_test[c] + n >= class_total[c] for c, n in counts.items()):
            continue
        gain = sum(min(n, max(0.0, quota[c] - in_test[c])) for c, n in counts.items())
        overshoot = sum(max(0.0, in_test[c] + n - quota[c]) for c, n in counts.items())
        if gain > 0 and overshoot <= gain:
            test.update(members[g])
            in_test.update(counts)
    missing = sorted(c for c in class_total if in_test[c] == 0)
    if missing:
        raise InputError(
            f"a grouped split cannot put class(es) {missing} on both sides: their images come from too few groups "
            f"({len(members)} groups in all). Split without grouping, or record finer groups (a labels CSV 'group' column)."
        )
    return test


def _from_db(ws: Workspace, row) -> Split:
    members = ws.query("SELECT image_id, part, label FROM split_members WHERE split_id = ? ORDER BY image_id", (row["id"],))
    settings = json.loads(row["settings"])
    return Split(
        name=row["name"],
        seed=int(row["seed"]),
        test_fraction=float(row["test_fraction"]),
        group_by=row["group_by"],
        train_ids=[int(m[0]) for m in members if m[1] == "train"],
        test_ids=[int(m[0]) for m in members if m[1] == "test"],
        labels={int(m[0]): m[2] for m in members},
        source=settings.get("source", "ground_truth"),
        created_at=row["created_at"],
        groups={int(k): v for k, v in settings.get("groups", {}).items()},
    )


def get_split(ws: Workspace, name: str = "default") -> Split | None:
    """The stored split called ``name``, or None."""
    rows = ws.query("SELECT * FROM splits WHERE name = ?", (name,))
    return _from_db(ws, rows[0]) if rows else None


def list_splits(ws: Workspace) -> list[dict]:
    """Every stored split: [{name, seed, test_fraction, group_by, created_at, n_train, n_test}], newest first."""
    rows = ws.query(
        "SELECT s.name, s.seed, s.test_fraction, s.group_by, s.created_at, "
        "SUM(m.part = 'train'), SUM(m.part = 'test') FROM splits s LEFT JOIN split_members m ON m.split_id = s.id "
        "GROUP BY s.id ORDER BY s.id DESC"
    )
    return [
        {"name": r[0], "seed": r[1], "test_fraction": r[2], "group_by": r[3], "created_at": r[4], "n_train": r[5] or 0, "n_test": r[6] or 0}
        for r in rows
    ]


def freeze_split(
    ws: Workspace,
    *,
    name: str = "default",
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = 0,
    group_by: str | None = "auto",
    source: str = "ground_truth",
) -> Split:
    """Draw and store a hold-out split of the labelled images, or return the stored one.

    The only function that writes a split: reads (pages, few-shot predictions) never
    call it implicitly; the Evaluate page's button and ``python -m clipcore split freeze`` do.
    Idempotent: if a split called ``name`` exists it is returned unchanged (its settings
    win over the arguments). Stratified by class; with ``group_by`` whole groups go to
    one side ("folder": the recorded group, else the image's folder; "group": the
    recorded group column, else the image's imported book). "auto" (the default) is
    "group" when labelled images belong to imported books (pages of one book look alike,
    so splitting a book flatters every method), else no grouping; if books are too few
    for a grouped split it falls back to no grouping, with a logged warning.

    Raises:
        InputError: bad settings, no labelled images, one class, or a class with one image.
    """
    existing = get_split(ws, name)
    if existing is not None:
        return existing
    name = name.strip()
    if not name:
        raise InputError("a split needs a name, e.g. 'default'.")
    if not (0.0 < test_fraction < 1.0):
        raise InputError(f"test_fraction must be between 0 and 1 (e.g. 0.18); got {test_fraction}.")
    if group_by == "none":
        group_by = None
    if group_by not in GROUP_BY:
        raise InputError(f"group_by must be one of none, folder, group; got {group_by!r}.")
    labels = labelled_images(ws, source)
    _check_labels(labels, source)
    groups: dict[int, str] = {}
    if group_by == "auto":
        group_by = "group" if set(image_groups(ws)) & set(labels) else None
        if group_by is not None:
            try:
                _grouped(labels, _groups_of(ws, list(labels), group_by), test_fraction, seed)
            except InputError as exc:
                logger.warning("split %r not grouped by book: %s", name, exc)
                group_by = None
    if group_by is None:
        test = _stratified(labels, test_fraction, seed)
    else:
        groups = _groups_of(ws, list(labels), group_by)
        test = _grouped(labels, groups, test_fraction, seed)
    settings = {"source": source, "n_labelled": len(labels), "classes": sorted(set(labels.values()))}
    if groups:
        settings["groups"] = {str(i): g for i, g in groups.items()}
    now = utc_now()
    with ws.transaction() as conn:
        # Another process may have frozen the same name meanwhile: the first one wins.
        if conn.execute("SELECT 1 FROM splits WHERE name = ?", (name,)).fetchone() is None:
            cur = conn.execute(
                "INSERT INTO splits (name, seed, test_fraction, group_by, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, int(seed), float(test_fraction), group_by, json.dumps(settings, ensure_ascii=False), now),
            )
            conn.executemany(
                "INSERT INTO split_members (split_id, image_id, part, label) VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, i, "test" if i in test else "train", labels[i]) for i in sorted(labels)],
            )
    split = get_split(ws, name)
    logger.info("froze split %r: %d train, %d test", name, len(split.train_ids), len(split.test_ids))
    return split


def missing_members(ws: Workspace, split: Split) -> list[int]:
    """Members of ``split`` that are no longer live images (their file vanished, or it became
    a duplicate or unreadable). The split keeps them on record; scoring leaves them out."""
    members = split.train_ids + split.test_ids
    live = ws.live_subset(members)
    return sorted(i for i in members if i not in live)


def split_drift(ws: Workspace, split: Split) -> list[str]:
    """Warnings about labels that changed since ``split`` was frozen (it is never changed)."""
    now = labelled_images(ws, split.source)
    added = [i for i in now if i not in split.labels]
    changed = [i for i, lbl in split.labels.items() if i in now and now[i] != lbl]
    out = []
    if added:
        out.append(
            f"{len(added)} image(s) were labelled after split {split.name!r} was frozen ({split.created_at}); "
            "they are not used. Freeze a split under a new name to include them."
        )
    if changed:
        out.append(
            f"{len(changed)} image(s) of split {split.name!r} changed label since it was frozen; "
            "scores use the labels at freeze time."
        )
    return out


def near_duplicates(
    matrix: EmbeddingMatrix, train_ids: Sequence[int], test_ids: Sequence[int], threshold: float = 0.97
) -> list[tuple[int, int, float]]:
    """Train / hold-out pairs whose embeddings have cosine similarity >= ``threshold``.

    Returns:
        [(train id, test id, cosine)], most similar first. Ids without an embedding are ignored.
    """
    if not -1.0 <= threshold <= 1.0:
        raise InputError(f"a cosine threshold lies in [-1, 1]; got {threshold}.")
    tr = np.asarray(list(train_ids), dtype=np.int64)
    te = np.asarray(list(test_ids), dtype=np.int64)
    tr_rows, te_rows = matrix.rows_of(tr), matrix.rows_of(te)
    tr, tr_rows = tr[tr_rows >= 0], tr_rows[tr_rows >= 0]
    te, te_rows = te[te_rows >= 0], te_rows[te_rows >= 0]
    if len(tr) == 0 or len(te) == 0:
        return []
    train_vecs = np.asarray(matrix.vectors[tr_rows], dtype=np.float32)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(te), 1024):
        sims = np.asarray(matrix.vectors[te_rows[start : start + 1024]], dtype=np.float32) @ train_vecs.T
        ti, ri = np.nonzero(sims >= threshold)
        pairs.extend((int(tr[r]), int(te[start + t]), float(sims[t, r])) for t, r in zip(ti, ri))
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return pairs


def max_k(split: Split) -> int:
    """The largest k usable for learning curves: the smallest class's training count."""
    counts = split.train_counts()
    return min(counts.values()) if counts else 0


def draw_training_sets(split: Split, k: int | str, draws: int, seed: int) -> list[list[int]]:
    """``draws`` training sets of ``k`` images per class from the split's train side.

    ``k="all"`` gives one set: every training image. Draws are a pure function of
    (split, k, draws, seed), so every method trains on the same images.

    Raises:
        InputError: k below 1, k above the smallest class's training count, or draws below 1.
    """
    if k == "all":
        return [sorted(split.train_ids)]
    if isinstance(k, str) or isinstance(k, bool) or int(k) != k or int(k) < 1:
        raise InputError(f"k must be a positive whole number or 'all'; got {k!r}.")
    k = int(k)
    if draws < 1:
        raise InputError(f"draws must be at least 1; got {draws}.")
    limit = max_k(split)
    if k > limit:
        raise InputError(f"k={k} is above the smallest class's training count ({limit}); drop it or label more images.")
    by_class: dict[str, list[int]] = defaultdict(list)
    for i in sorted(split.train_ids):
        by_class[split.labels[i]].append(i)
    rng = np.random.default_rng([int(seed), k])
    out = []
    for _ in range(draws):
        chosen: list[int] = []
        for cls in sorted(by_class):
            chosen.extend(int(x) for x in rng.choice(by_class[cls], size=k, replace=False))
        out.append(sorted(chosen))
    return out


def usable_ks(split: Split, ks: Sequence[int | str]) -> tuple[list[int | str], list[int]]:
    """(ks kept, ks dropped because they exceed the smallest class's training count)."""
    limit = max_k(split)
    kept, dropped = [], []
    for k in ks:
        if k == "all":
            kept.append(k)
        elif int(k) <= limit:
            kept.append(int(k))
        else:
            dropped.append(int(k))
    return kept, dropped

