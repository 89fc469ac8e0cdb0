"""Prompt sets: classes described by prompts, stored in the workspace with versions.

Every save makes a new version of a named set; older versions are kept, so two
versions can be compared on the same images.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from clipcore.errors import InputError
from clipcore.embedding.models import MAX_PROMPT_CHARS
from clipcore.catalog.labels import MAX_LABEL_CHARS
from clipcore.catalog.store import Workspace, utc_now

# The reference study's hand-written prompts (national library, Japanese prints).
REFERENCE_PROMPT_SET_NAME = "reference study"
REFERENCE_PROMPTS: dict[str, list[str]] = {
    "illustration": ["traditional Japanese illustration"],
    "text": ["cursive Japanese ideograms", "cursive Chinese ideograms", "printed text"],
    "blank page": ["light yellow empty page, old book, old paper"],
    "cover": ["book cover", "book binding"],
}
DEFAULT_TEMPLATES: list[str] = ["a scan of {}", "a page showing {}", "a photo of {}", "an old book page with {}"]
MAX_SET_NAME_CHARS = 100  # a name is shown in menus, chart titles and file names


def clean_set_name(name: Any, *, empty: str = "a prompt set needs a name; type one.") -> str:
    """A prompt set's name: stripped, non-empty, one line of printable text, at most
    ``MAX_SET_NAME_CHARS`` characters. Sets stored before the cap keep their names.

    Raises:
        InputError: empty (the message ``empty``), holding a line break or control
            character, or too long.
    """
    text = str(name if name is not None else "").strip()
    if not text:
        raise InputError(empty)
    if any(unicodedata.category(ch)[0] == "C" for ch in text):  # line breaks, tabs, NUL, invisible marks
        raise InputError("a prompt set's name must be one line of plain text.")
    if len(text) > MAX_SET_NAME_CHARS:
        raise InputError(f"a prompt set's name has {len(text)} characters; at most {MAX_SET_NAME_CHARS}.")
    return text

@dataclass(frozen=True)
class PromptSet:
    """Classes and their prompts; ``templates`` (optional) wrap each prompt, e.g. "a scan of {}"."""

    name: str
    classes: dict[str, list[str]]
    templates: list[str] = field(default_factory=list)
    version: int = 0
    created_at: str = ""
    created: bool = field(default=True, compare=False)  # False: a save that found nothing new to store

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "name": self.name,
            "version": self.version,
            "classes": self.classes,
            "templates": self.templates,
            "created_at": self.created_at,
        }


def validate_classes(classes: Mapping[str, Any], *, min_classes: int = 2) -> dict[str, list[str]]:
    """Clean and check a {class: [prompts]} mapping.

    Strips whitespace, drops empty prompts, accepts a single string as one prompt.
    Raises:
        InputError: fewer than ``min_classes`` classes, an empty, multi-line or over-long
            class name (a class becomes a label: labels' rules), a class with no prompt, or a
            prompt over 2,000 characters.
    """
    if not isinstance(classes, Mapping):
        raise InputError(f"prompts must be a mapping of class name to a list of prompts; got {type(classes).__name__}.")
    clean: dict[str, list[str]] = {}
    for name, prompts in classes.items():
        label = str(name).strip()
        if not label:
            raise InputError("a class has an empty name; give every class a name.")
        if any(ch in label for ch in "\r\n\x00"):
            raise InputError(f"class name {label[:40]!r} spans several lines; use one line.")
        if len(label) > MAX_LABEL_CHARS:
            raise InputError(f"a class name has {len(label)} characters; at most {MAX_LABEL_CHARS}.")
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)):
            raise InputError(f"class {label!r}: expected a list of prompts; got {type(prompts).__name__}.")
        kept = [str(p).strip() for p in prompts if str(p).strip()]
        if not kept:
            raise InputError(f"class {label!r} has no prompt; write at least one.")
        for p in kept:
            if len(p) > MAX_PROMPT_CHARS:
                raise InputError(f"a prompt of class {label!r} has {len(p)} characters; at most {MAX_PROMPT_CHARS}.")
        if label in clean:
            raise InputError(f"class {label!r} appears twice.")
        clean[label] = kept
    if len(clean) < min_classes:
        raise InputError(f"a classifier needs at least {min_classes} classes; got {len(clean)}.")
    return clean


def validate_templates(templates: list[str]) -> list[str]:
    """Templates must contain ``{}`` exactly once.

    Raises:
        InputError: a template without ``{}`` or with more than one.
    """
    out = []
    for t in templates:
        t = t.strip()
        if not t:
            continue
        if t.count("{}") != 1:
            raise InputError(f"template {t!r} must contain {{}} exactly once, where the prompt goes.")
        out.append(t)
    return out


def expand_prompts(prompt_set: PromptSet) -> dict[str, list[str]]:
    """Each class's prompts, wrapped in every template (the prompts alone when there are none)."""
    if not prompt_set.templates:
        return {c: list(p) for c, p in prompt_set.classes.items()}
    return {c: [t.format(p) for p in prompts for t in prompt_set.templates] for c, prompts in prompt_set.classes.items()}


def read_prompt_file(path: str | Path) -> dict[str, list[str]]:
    """Read ``{class: [prompts]}`` from a YAML or JSON file.

    Raises:
        InputError: missing file, unparsable content, or invalid classes.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"prompt file {str(p)!r} does not exist.")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml and json raise different types; both mean "unparsable"
        raise InputError(f"prompt file {str(p)!r} is not valid {p.suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    return validate_classes(data or {})


def save_prompt_set(
    ws: Workspace, name: str, classes: Mapping[str, Any], templates: list[str] | None = None, note: str | None = None
) -> PromptSet:
    """Store a new version of the named set (version 1 if new) and return it.

    An unchanged save (same classes, prompts and templates as the newest version) stores
    nothing and returns that newest version: ``created`` tells the two apart.
    """
    name = clean_set_name(name)
    clean = validate_classes(classes)
    temps = validate_templates(templates or [])
    now = utc_now()
    with ws.transaction() as conn:
        last = conn.execute(
            "SELECT version, classes, templates, created_at FROM prompt_sets WHERE name = ? ORDER BY version DESC LIMIT 1",
            (name,),
        ).fetchone()
        if last is not None and json.loads(last[1]) == clean and json.loads(last[2]) == temps:
            return PromptSet(name, clean, temps, int(last[0]), str(last[3]), created=False)
        version = int(last[0]) + 1 if last is not None else 1
        conn.execute(
            "INSERT INTO prompt_sets (name, version, classes, templates, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, json.dumps(clean, ensure_ascii=False), json.dumps(temps, ensure_ascii=False), now, note),
        )
    return PromptSet(name, clean, temps, version, now)


def newest_versions(ws: Workspace, n: int = 2) -> list[tuple[str, int]]:
    """(name, version) of the ``n`` most recently saved prompt-set versions, newest first
    (across sets): what "Compare" starts with."""
    rows = ws.query("SELECT name, version FROM prompt_sets ORDER BY created_at DESC, id DESC LIMIT ?", (int(n),))
    return [(str(r[0]), int(r[1])) for r in rows]


def _from_row(row: Any) -> PromptSet:
    return PromptSet(row["name"], json.loads(row["classes"]), json.loads(row["templates"]), row["version"], row["created_at"])


def load_prompt_set(ws: Workspace, name: str, version: int | None = None) -> PromptSet:
    """A stored set, latest version unless ``version`` is given.

    Raises:
        InputError: no such set or version.
    """
    if version is None:
        rows = ws.query("SELECT * FROM prompt_sets WHERE name = ? ORDER BY version DESC LIMIT 1", (name,))
    else:
        rows = ws.query("SELECT * FROM prompt_sets WHERE name = ? AND version = ?", (name, int(version)))
    if not rows:
        known = [r[0] for r in ws.query("SELECT DISTINCT name FROM prompt_sets ORDER BY name")]
        raise InputError(f"no prompt set {name!r}" + (f" version {version}" if version else "") + f"; known sets: {known}.")
    return _from_row(rows[0])


def list_prompt_sets(ws: Workspace) -> list[PromptSet]:
    """The latest version of every set, most recently saved first."""
    rows = ws.query(
        "SELECT p.* FROM prompt_sets p JOIN (SELECT name, MAX(version) v FROM prompt_sets GROUP BY name) m "
        "ON p.name = m.name AND p.version = m.v ORDER BY p.created_at DESC, p.id DESC"
    )
    return [_from_row(r) for r in rows]


def prompt_set_versions(ws: Workspace, name: str) -> list[PromptSet]:
    """Every stored version of one set, newest first."""
    return [_from_row(r) for r in ws.query("SELECT * FROM prompt_sets WHERE name = ? ORDER BY version DESC", (name,))]


def latest_prompt_set(ws: Workspace) -> PromptSet | None:
    """The most recently saved prompt set of the workspace (the "active" one), or None."""
    sets = list_prompt_sets(ws)
    return sets[0] if sets else None


def class_name_prompts(classes: Sequence[str]) -> PromptSet:
    """A prompt set that is just the class names in the default templates (when none is saved)."""
    return PromptSet("class names", {c: [c] for c in classes}, list(DEFAULT_TEMPLATES))


def resolve_prompt_set(
    ws: Workspace,
    name: str | None = None,
    version: int | None = None,
    *,
    classes: Iterable[str] | Callable[[], Iterable[str]] | None = None,
) -> PromptSet | None:
    """The prompt set a zero-shot step uses: the set ``name`` (``version``, else its latest),
    else the most recently saved set, else the class names in the default templates (only
    when ``classes`` is given and holds 2 or more; a callable is called only then, so the
    caller can defer reading the labels), else None. The CLI's ``evaluate`` and ``predict``,
    the pages' few-shot classifiers and the evaluation all resolve their set here.

    Raises:
        InputError: ``name`` (or that version) is not saved.
    """
    if name:
        return load_prompt_set(ws, name, version)
    latest = latest_prompt_set(ws)
    if latest is not None or classes is None:
        return latest
    names = sorted(set(classes() if callable(classes) else classes))
    return class_name_prompts(names) if len(names) >= 2 else None


def starting_prompt_set(ws: Workspace, classes: Iterable[str] | None = None) -> tuple[PromptSet | None, bool]:
    """What a prompt editor opens with, without writing anything.

    The newest saved set; else the reference study's prompts when the ground truth has
    exactly its four classes; else the ground truth's class names (2 or more); else None.
    ``classes``: the ground truth's classes where the caller has them (finding them reads
    every ground-truth row).

    Returns:
        (set or None, saved): ``saved`` is False for a draft that is not in the store.
    """
    latest = latest_prompt_set(ws)
    if latest is not None:
        return latest, True
    names = sorted(set(ws.ground_truth_counts() if classes is None else classes))
    if set(names) == set(REFERENCE_PROMPTS):
        return PromptSet(REFERENCE_PROMPT_SET_NAME, {c: list(p) for c, p in REFERENCE_PROMPTS.items()}), False
    return (class_name_prompts(names) if len(names) >= 2 else None), False


def ensure_reference_prompt_set(ws: Workspace, classes: Iterable[str] | None = None) -> PromptSet | None:
    """Pre-load the reference study's set when the ground truth has exactly its four classes.

    ``classes``: the ground truth's classes where the caller has them (finding them reads
    every ground-truth row)."""
    if list_prompt_sets(ws):
        return None
    if set(ws.ground_truth_counts() if classes is None else classes) != set(REFERENCE_PROMPTS):
        return None
    return save_prompt_set(ws, REFERENCE_PROMPT_SET_NAME, REFERENCE_PROMPTS, note="hand-written prompts of the reference study")


def rename_prompt_set(ws: Workspace, name: str, new_name: str) -> int:
    """Give every version of a set a new name (versions and history are kept).

    Returns:
        How many versions were renamed.
    Raises:
        InputError: no such set, an empty new name, or a set with the new name exists.
    """
    new_name = clean_set_name(new_name, empty="the new name of the prompt set is empty; type a name.")
    with ws.transaction() as conn:
        if conn.execute("SELECT 1 FROM prompt_sets WHERE name = ? LIMIT 1", (name,)).fetchone() is None:
            raise InputError(f"no prompt set {name!r} to rename.")
        if new_name != name and conn.execute("SELECT 1 FROM prompt_sets WHERE name = ? LIMIT 1", (new_name,)).fetchone():
            raise InputError(f"a prompt set named {new_name!r} already exists; choose another name.")
        cur = conn.execute("UPDATE prompt_sets SET name = ? WHERE name = ?", (new_name, name))
        return int(cur.rowcount)


def duplicate_prompt_set(ws: Workspace, name: str, new_name: str, version: int | None = None) -> PromptSet:
    """Copy one version of a set (the latest by default) as version 1 of a new set.

    Raises:
        InputError: no such set/version, an empty new name, or the new name is taken.
    """
    source = load_prompt_set(ws, name, version)
    new_name = clean_set_name(new_name)
    if ws.query("SELECT 1 FROM prompt_sets WHERE name = ? LIMIT 1", (new_name,)):
        raise InputError(f"a prompt set named {new_name!r} already exists; choose another name.")
    return save_prompt_set(
        ws, new_name, source.classes, source.templates, note=f"copy of {source.name!r} version {source.version}"
    )


def classes_from_rows(rows: Any) -> dict[str, list[str]]:
    """Group (class, prompt) pairs, e.g. the rows of a table editor, into ``{class: [prompts]}``.

    Rows whose class and prompt are both blank are ignored; order is kept. The result is
    not validated: pass it to ``validate_classes`` or ``save_prompt_set``.
    """
    out: dict[str, list[str]] = {}
    for cls, prompt in rows:
        cls = "" if cls is None or cls != cls else str(cls).strip()  # cls != cls: NaN from an empty cell
        prompt = "" if prompt is None or prompt != prompt else str(prompt)
        if not cls and not prompt.strip():
            continue
        out.setdefault(cls, []).append(prompt)
    return out


def rows_from_classes(classes: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """``{class: [prompts]}`` as one (class, prompt) row per prompt."""
    return [(c, p) for c, prompts in classes.items() for p in prompts]
