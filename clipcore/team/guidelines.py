"""Short per-class labelling guidelines that a lead writes and the Label page shows, kept in
``<workspace>/guidelines.json`` ({class: text}; written atomically; this module owns it)."""

from __future__ import annotations

import json
import logging

from clipcore.catalog.labels import clean_label
from clipcore.catalog.store import Workspace, atomic_write_bytes
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

GUIDELINES_FILE = "guidelines.json"
MAX_GUIDELINE_CHARS = 2_000


def read_guidelines(ws: Workspace) -> dict[str, str]:
    """{class: guideline text}; {} when none is written (or the file is unreadable, logged)."""
    path = ws.root / GUIDELINES_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("guidelines unreadable (%s): %s", path, exc)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_guideline(ws: Workspace, label: str, text: str) -> None:
    """Set the guideline of class ``label`` (empty text removes it).

    Raises:
        InputError: a bad class name, or a text longer than ``MAX_GUIDELINE_CHARS``.
    """
    label = clean_label(label)
    text = (text or "").strip()
    if len(text) > MAX_GUIDELINE_CHARS:
        raise InputError(f"a guideline holds up to {MAX_GUIDELINE_CHARS:,} characters; this one has {len(text):,}. Shorten it.")
    data = read_guidelines(ws)
    if text:
        data[label] = text
    else:
        data.pop(label, None)
    atomic_write_bytes(ws.root / GUIDELINES_FILE, json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode())
