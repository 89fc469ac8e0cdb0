"""The plan stage: which images one embedding run must encode.

A plan is a list of ``PlanItem`` (image id, where its bytes are, the content hash the
catalogue recorded). It is plain data, so the same plan can be split across threads,
processes or Ray workers; nothing downstream needs the workspace to decode or encode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from clipcore.catalog.store import Workspace


@dataclass(frozen=True)
class PlanItem:
    """One image to embed.

    ``location`` is an absolute path on this machine, or a path/URL that every worker can
    read (a shared filesystem); ``content_hash`` is the catalogue's hash of the file;
    ``rel_path`` is the path shown to users (relative to its source folder).
    """

    image_id: int
    location: str
    content_hash: str
    rel_path: str = ""

    def to_row(self) -> dict:
        """A plain dict (for Ray Data rows and JSON)."""
        return asdict(self)


def plan_embedding(ws: Workspace, key: str, *, limit: int | None = None) -> list[PlanItem]:
    """The images of ``ws`` lacking an embedding for model ``key``, ascending by id.

    Args:
        key: the model's embedding key (``ModelInfo.key``).
        limit: plan at most this many (for trials).
    Returns:
        list of PlanItem.
    """
    with ws.snapshot():  # ids and their paths from one state, even while an ingest runs
        todo = ws.missing_embeddings(key)
        if limit is not None:
            todo = todo[: max(0, limit)]
        records = ws.images(todo) if todo else []
    return [PlanItem(r.id, str(r.abs_path), r.content_hash, r.path) for r in records]
