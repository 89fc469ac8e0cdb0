"""Collections made in the app: a registry file in the app's data folder.

``clipcore.toml``'s ``[workspaces]`` stay hand-edited; collections that a user adds from
the app are recorded in ``<app data>/collections.json`` (written atomically, under a
file lock, so two sessions adding at once both land). :func:`merged_entries` lists both,
the config's first. A registry collection can be renamed or removed from the list; its
workspace files (catalogue, thumbnails, embeddings) stay on disk unless asked, and the
user's image folder is never touched.

A new collection's folder must lie under one of ``[app] allowed_roots`` after resolving
symlinks: the app must not become a way to read any folder on the server.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from clipcore.config import Settings, WorkspaceEntry
from clipcore.errors import InputError, WorkspaceError

logger = logging.getLogger(__name__)

REGISTRY_FILE = "collections.json"
COLLECTIONS_DIR = "collections"  # new collections' workspaces: <app data>/collections/<slug>
MAX_NAME = 60


@dataclass(frozen=True)
class Collection:
    """One registry record: a display name, its workspace folder and its image folder."""

    name: str
    path: str
    source: str
    labels_from_folders: bool = False
    created_at: str = ""
    embed_after_ingest: bool = True  # the app starts the first embed once the first ingest is done

    def entry(self) -> WorkspaceEntry:
        """As a workspace entry (the type the config's workspaces have)."""
        return WorkspaceEntry(self.name, Path(self.path), Path(self.source), self.labels_from_folders)


def registry_path(settings: Settings) -> Path:
    """Where the registry file lives: ``[app] data_dir`` / collections.json."""
    return Path(settings.app_data) / REGISTRY_FILE


def load_collections(settings: Settings) -> list[Collection]:
    """The registry's collections in creation order ([] when there is no registry yet).

    Raises:
        WorkspaceError: the file exists but cannot be read or parsed.
    """
    path = registry_path(settings)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"cannot read the collections registry {str(path)!r}: {exc}. Fix or remove the file.") from exc
    fields = set(Collection.__dataclass_fields__)
    try:
        return [Collection(**{k: v for k, v in item.items() if k in fields}) for item in raw.get("collections", [])]
    except (AttributeError, TypeError) as exc:
        raise WorkspaceError(f"the collections registry {str(path)!r} is malformed ({exc}). Fix or remove the file.") from exc


def merged_entries(settings: Settings) -> list[WorkspaceEntry]:
    """Workspaces from ``clipcore.toml`` first, then the registry's (a registry name that
    the config also uses is hidden, with a log warning: the hand-edited file wins)."""
    entries = list(settings.workspaces)
    names = {e.name for e in entries}
    for c in load_collections(settings):
        if c.name in names:
            logger.warning("collection %r is also a workspace in clipcore.toml; the config's wins", c.name)
            continue
        names.add(c.name)
        entries.append(c.entry())
    return entries


def check_name(name: str) -> str:
    """A collection name, stripped; 1 to 60 printable characters.

    Raises:
        InputError: empty, too long, or holding control characters.
    """
    name = unicodedata.normalize("NFC", str(name)).strip()
    if not name:
        raise InputError("a collection needs a name, e.g. 'Letters 1890-1910'.")
    if len(name) > MAX_NAME:
        raise InputError(f"a collection name has at most {MAX_NAME} characters; got {len(name)}.")
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise InputError("a collection name cannot hold control or invisible characters; type it as plain text.")
    return name


def allowed_folders_note(settings: Settings) -> str:
    """One sentence for the New collection form: which folders may be added, and where the
    list is changed (plain text; the caller escapes it for markdown)."""
    roots = ", ".join(str(r) for r in settings.allowed_roots)
    where = "the allowed_roots line of the [app] section in clipcore.toml"
    if not roots:
        return f"No folder may be added from the app yet: an admin lists the folders it may read in {where}."
    if settings.allowed_roots_default:
        return (f"The folder must lie under {roots} (your home folder, allowed while sign-in is off). "
                f"To allow other folders, list them in {where}.")
    return f"The folder must lie under one of these folders: {roots}. The list is {where}."


def check_folder(settings: Settings, folder: str | Path) -> Path:
    """``folder`` resolved (symlinks followed), if it is a directory under an allowed root.

    Raises:
        InputError: no allowed roots configured, a folder outside them, or not a directory.
    """
    roots = [Path(r).resolve() for r in settings.allowed_roots]
    listed = ", ".join(str(r) for r in roots)
    if not roots:
        raise InputError(
            "no folder may be added from the app yet: list the folders it may read in clipcore.toml, "
            'e.g. [app] allowed_roots = ["/srv/images"].'
        )
    text = str(folder).strip()
    if not text or "\x00" in text:
        raise InputError(f"give the folder's full path, under one of the allowed folders: {listed}.")
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot resolve the folder {text!r}: {exc}.") from exc
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise InputError(f"the folder {text!r} is not under an allowed folder; allowed: {listed}.")
    if not resolved.is_dir():
        raise InputError(f"the folder {text!r} does not exist or is not a folder.")
    return resolved


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-").lower()[:40] or "collection"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


@contextmanager
def _locked(settings: Settings) -> Iterator[list[Collection]]:
    """The registry under an exclusive lock; the list as left by the block is written atomically."""
    data = Path(settings.app_data)
    try:
        data.mkdir(parents=True, exist_ok=True)
        lock = open(data / (REGISTRY_FILE + ".lock"), "a")
    except OSError as exc:
        raise WorkspaceError(f"cannot write the app's data folder {str(data)!r}: {exc.strerror or exc}.") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        items = load_collections(settings)
        yield items
        _write(registry_path(settings), items)


def _write(path: Path, items: list[Collection]) -> None:
    body = json.dumps({"collections": [asdict(c) for c in items]}, ensure_ascii=False, indent=2)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".collections-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise WorkspaceError(f"cannot write the collections registry {str(path)!r}: {exc.strerror or exc}.") from exc


def _taken(settings: Settings, items: list[Collection], name: str) -> bool:
    return any(e.name.casefold() == name.casefold() for e in settings.workspaces) or any(
        c.name.casefold() == name.casefold() for c in items
    )


def create_collection(settings: Settings, name: str, folder: str | Path, *, labels_from_folders: bool = False) -> WorkspaceEntry:
    """Record a new collection of the images in ``folder``; its workspace goes to
    ``<app data>/collections/<slug>``. Ingest and embed are the caller's (background) jobs.

    Raises:
        InputError: a bad or taken name, or a folder outside the allowed roots.
        WorkspaceError: the registry cannot be written.
    """
    from clipcore.catalog.store import utc_now

    name = check_name(name)
    source = check_folder(settings, folder)
    with _locked(settings) as items:
        if _taken(settings, items, name):
            raise InputError(f"a collection called {name!r} exists already; choose another name.")
        ws_path = Path(settings.app_data) / COLLECTIONS_DIR / _slug(name)
        record = Collection(name, str(ws_path), str(source), bool(labels_from_folders), utc_now())
        items.append(record)
    logger.info("created collection %r: %s -> %s", name, source, ws_path)
    return record.entry()


def _find(items: list[Collection], name: str) -> int:
    for i, c in enumerate(items):
        if c.name == name:
            return i
    raise InputError(
        f"{name!r} is not a collection made in the app; workspaces listed in clipcore.toml are renamed or removed there."
    )


def rename_collection(settings: Settings, old: str, new: str) -> WorkspaceEntry:
    """Give a registry collection another name (its files stay where they are).

    Raises:
        InputError: not a registry collection, or a bad or taken new name.
    """
    new = check_name(new)
    with _locked(settings) as items:
        i = _find(items, old)
        if new != old and _taken(settings, [c for c in items if c.name != old], new):
            raise InputError(f"a collection called {new!r} exists already; choose another name.")
        items[i] = Collection(**{**asdict(items[i]), "name": new})
        return items[i].entry()


def remove_collection(settings: Settings, name: str, *, delete_files: bool = False) -> None:
    """Take a registry collection off the list. With ``delete_files``, also delete its
    workspace folder (catalogue, thumbnails, embeddings), only if it lies in the app's
    collections folder; the image folder is never touched.

    Raises:
        InputError: not a registry collection.
    """
    with _locked(settings) as items:
        record = items.pop(_find(items, name))
    if delete_files:
        ws_path = Path(record.path).resolve()
        own = (Path(settings.app_data) / COLLECTIONS_DIR).resolve()
        if ws_path.is_relative_to(own) and ws_path != own:
            shutil.rmtree(ws_path, ignore_errors=True)
        else:
            logger.warning("left %s on disk: it is not inside %s", ws_path, own)


def mark_embed_started(settings: Settings, name: str) -> None:
    """Clear a collection's first-embed flag (the app started that embed)."""
    with _locked(settings) as items:
        for i, c in enumerate(items):
            if c.name == name:
                items[i] = Collection(**{**asdict(c), "embed_after_ingest": False})


def pending_first_embed(settings: Settings, name: str) -> bool:
    """Whether the app still has to start this registry collection's first embed."""
    return any(c.name == name and c.embed_after_ingest for c in load_collections(settings))
