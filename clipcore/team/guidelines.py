"""Short per-class labelling guidelines that a lead writes and the Label page shows: the text in
``<workspace>/guidelines.json`` ({class: text}) and a few example images per class in
``<workspace>/guideline_examples.json`` ({class: [image id, ...]}); both written atomically;
this module owns them. Examples are read back as live images only, so an image deleted from
its folder (or skipped, or found a duplicate) drops out of the examples by itself."""

from __future__ import annotations

import json
import logging
from typing import Iterable

from clipcore.catalog.labels import clean_label, current_label_arrays, ground_truth_arrays
from clipcore.catalog.store import Workspace, atomic_write_bytes, read_json_object
from clipcore.errors import InputError

logger = logging.getLogger(__name__)

GUIDELINES_FILE = "guidelines.json"
EXAMPLES_FILE = "guideline_examples.json"
MAX_GUIDELINE_CHARS = 2_000
MAX_GUIDELINE_EXAMPLES = 6  # small thumbnails beside the text, on one row


def read_guidelines(ws: Workspace) -> dict[str, str]:
    """{class: guideline text}; {} when none is written (or the file is unreadable, logged)."""
    data = read_json_object(ws.root / GUIDELINES_FILE, "guidelines")
    return {str(k): str(v) for k, v in data.items()}


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


def _read_examples_file(ws: Workspace) -> dict[str, list[int]]:
    data = read_json_object(ws.root / EXAMPLES_FILE, "guideline examples")
    return {str(k): [int(i) for i in v if isinstance(i, int)] for k, v in data.items() if isinstance(v, list)}


def read_guideline_examples(ws: Workspace) -> dict[str, list[int]]:
    """{class: example image ids, in the lead's order}, live images only (an image deleted,
    skipped or found a duplicate since is left out; a class left without any is absent)."""
    stored = _read_examples_file(ws)
    live = ws.live_subset({i for ids in stored.values() for i in ids})
    out = {label: [i for i in ids if i in live] for label, ids in stored.items()}
    return {label: ids for label, ids in out.items() if ids}


def save_guideline_examples(ws: Workspace, label: str, ids: Iterable[int]) -> None:
    """Set the example images of class ``label`` (none removes them); order is kept, repeats dropped.

    Raises:
        InputError: a bad class name, more than ``MAX_GUIDELINE_EXAMPLES`` images, or an id
            that is not a live image.
    """
    label = clean_label(label)
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if len(wanted) > MAX_GUIDELINE_EXAMPLES:
        raise InputError(
            f"a guideline shows up to {MAX_GUIDELINE_EXAMPLES} example images; {len(wanted)} were chosen. Keep the clearest ones."
        )
    ws.images(wanted)  # raises InputError naming an id that is not a live image
    data = _read_examples_file(ws)
    if wanted:
        data[label] = wanted
    else:
        data.pop(label, None)
    atomic_write_bytes(ws.root / EXAMPLES_FILE, json.dumps(data, indent=1, sort_keys=True).encode())


def example_candidates(ws: Workspace, label: str, limit: int = 200) -> list[int]:
    """Images a lead may pick as examples of ``label``: those currently labelled with it,
    then those whose ground truth is it, at most ``limit`` (ascending ids within each)."""
    out: dict[int, None] = {}
    for arrays in (current_label_arrays(ws), ground_truth_arrays(ws)):
        if label in arrays.classes:
            code = arrays.classes.index(label)
            out.update((int(i), None) for i in arrays.ids[arrays.codes == code][:limit])
        if len(out) >= limit:
            break
    return list(out)[:limit]
