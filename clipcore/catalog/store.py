"""The workspace: one directory holding everything known about a collection.

Layout::

    <workspace>/
      catalog.sqlite          images, sources, ground truth, labels, prompt sets, splits,
                              runs, jobs, embedding-row index (WAL mode, named migrations)
      thumbs/ab/<hash>.jpg    ~256 px JPEG per distinct content (content-addressed)
      embeddings/<key>/vectors.f32
                              raw (rows, dim) float32, appended batch by batch; only the
                              first ``embedding_sets.rows`` rows are committed

A batch of embeddings is written to the vectors file and fsync'ed first, then its
rows are committed in one SQLite transaction; a crash in between leaves a tail that
the next writer truncates. Readers memory-map the committed prefix, so a million
images cost one file map, not a million BLOB reads.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from clipcore.errors import InputError, UnsafePathError, WorkspaceError

logger = logging.getLogger(__name__)

DB_NAME = "catalog.sqlite"
BUSY_TIMEOUT_MS = 30_000

# Named migrations, applied in order once each and recorded in schema_migrations.
# Append new entries at the end; never edit one that has shipped.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            root TEXT NOT NULL UNIQUE,
            added_at TEXT NOT NULL
        );
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id),
            path TEXT NOT NULL,
            content_hash TEXT,
            size_bytes INTEGER,
            mtime_ns INTEGER,
            width INTEGER,
            height INTEGER,
            format TEXT,
            added_at TEXT NOT NULL,
            skip_reason TEXT,
            duplicate_of INTEGER REFERENCES images(id),
            UNIQUE (source_id, path)
        );
        CREATE INDEX images_hash ON images(content_hash);
        CREATE TABLE ground_truth (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            label TEXT NOT NULL,
            group_name TEXT,
            origin TEXT NOT NULL
        );
        CREATE TABLE embedding_sets (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            dim INTEGER NOT NULL,
            rows INTEGER NOT NULL DEFAULT 0,
            dirname TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE embedding_rows (
            set_id INTEGER NOT NULL REFERENCES embedding_sets(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            row INTEGER NOT NULL,
            PRIMARY KEY (set_id, image_id)
        ) WITHOUT ROWID;
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            args TEXT NOT NULL,
            status TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER,
            message TEXT,
            result TEXT,
            pid INTEGER,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0002_prompt_sets",
        """
        CREATE TABLE prompt_sets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            classes TEXT NOT NULL,
            templates TEXT NOT NULL,
            created_at TEXT NOT NULL,
            note TEXT,
            UNIQUE (name, version)
        );
        """,
    ),
    (
        # Labels are events; an image's current label is its latest event in a batch
        # that has not been reverted. kind 'reject' records a deselected tile (a negative).
        "0003_labels",
        """
        CREATE TABLE label_batches (
            id TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            annotator TEXT NOT NULL,
            created_at TEXT NOT NULL,
            source TEXT NOT NULL,
            size INTEGER NOT NULL,
            reverted_at TEXT,
            reverted_by TEXT
        );
        CREATE TABLE label_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            batch_id TEXT NOT NULL REFERENCES label_batches(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            label TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'assign',
            annotator TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX label_events_image ON label_events(image_id, id);
        CREATE INDEX label_events_batch ON label_events(batch_id);
        """,
    ),
    (
        "0004_evaluation",
        """
        CREATE TABLE splits (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            seed INTEGER NOT NULL,
            test_fraction REAL NOT NULL,
            group_by TEXT,
            settings TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE split_members (
            split_id INTEGER NOT NULL REFERENCES splits(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            part TEXT NOT NULL CHECK (part IN ('train', 'test')),
            label TEXT NOT NULL,
            PRIMARY KEY (split_id, image_id)
        ) WITHOUT ROWID;
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            settings TEXT NOT NULL,
            results TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        # Claim mode: an image handed to one annotator's page is held until it expires,
        # so two annotators never get the same page of a ranking.
        "0005_label_claims",
        """
        CREATE TABLE label_claims (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            annotator TEXT NOT NULL,
            claimed_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX label_claims_annotator ON label_claims(annotator);
        CREATE INDEX label_events_label ON label_events(kind, label);
        """,
    ),
    (
        # Mark-and-sweep: a file that vanished is marked missing (its row, labels and
        # vectors stay); ``live_images`` is the one definition of a usable image.
        "0006_image_lifecycle",
        """
        ALTER TABLE images ADD COLUMN missing_since TEXT;
        CREATE INDEX images_missing ON images(missing_since) WHERE missing_since IS NOT NULL;
        CREATE VIEW live_images AS
            SELECT * FROM images WHERE skip_reason IS NULL AND duplicate_of IS NULL AND missing_since IS NULL;
        """,
    ),
    (
        # One change counter, bumped by triggers on every change of images or embedding
        # rows, so a cache keyed on ``embedding_version`` can never be stale. ``generation``
        # names the vectors file (compact/rebuild switch files, never rewrite in place);
        # ``pending_rows`` is the batch being written, so a longer file is recognisable.
        "0007_store_version",
        """
        CREATE TABLE store_state (id INTEGER PRIMARY KEY CHECK (id = 1), changes INTEGER NOT NULL);
        INSERT INTO store_state (id, changes) VALUES (1, 0);
        ALTER TABLE embedding_sets ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE embedding_sets ADD COLUMN pending_rows INTEGER NOT NULL DEFAULT 0;
        CREATE TRIGGER images_insert_bumps AFTER INSERT ON images
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER images_update_bumps AFTER UPDATE ON images
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER images_delete_bumps AFTER DELETE ON images
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER embedding_rows_delete_bumps AFTER DELETE ON embedding_rows
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER embedding_sets_update_bumps AFTER UPDATE OF rows, generation, dim ON embedding_sets
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        """,
    ),
    (
        # Per-image metadata from where the image came from (an IIIF import): its book
        # (the group the grouped split keeps whole), page, and the remote strings to show
        # with it. Stored whether or not the image has a label. Owned by catalog.metadata.
        "0022_image_meta",
        """
        CREATE TABLE image_meta (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            group_name TEXT,
            book_label TEXT,
            page INTEGER,
            page_label TEXT,
            manifest TEXT,
            canvas TEXT,
            attribution TEXT,
            license TEXT
        );
        CREATE INDEX image_meta_group ON image_meta(group_name);
        """,
    ),
    (
        # Set keys now name the weights by content and the preprocessing version
        # (clipcore.embedding.models.embedding_set_key). Sets made before are listed here
        # with their old key until clipcore.embedding.models.rekey_legacy_sets renames them.
        "0010_embedding_set_legacy_keys",
        """
        CREATE TABLE embedding_set_legacy_keys (
            set_id INTEGER PRIMARY KEY REFERENCES embedding_sets(id),
            old_key TEXT NOT NULL
        );
        INSERT INTO embedding_set_legacy_keys (set_id, old_key) SELECT id, key FROM embedding_sets;
        """,
    ),
    (
        # The search filter "page N" without a book reads this index, not every page.
        "0023_image_meta_page",
        """
        CREATE INDEX image_meta_page ON image_meta(page);
        """,
    ),
    (
        # The vector index asks which rows were committed after its build (retrieval.index).
        "0016_embedding_rows_by_row",
        """
        CREATE INDEX embedding_rows_row ON embedding_rows(set_id, row);
        """,
    ),
    (
        # Ground truth changes bump the change counter too, so Home's summary (counts per
        # class, share labelled) can be cached on ``change_count`` at a million images.
        "0028_ground_truth_bumps",
        """
        CREATE TRIGGER ground_truth_insert_bumps AFTER INSERT ON ground_truth
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER ground_truth_update_bumps AFTER UPDATE ON ground_truth
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        CREATE TRIGGER ground_truth_delete_bumps AFTER DELETE ON ground_truth
            BEGIN UPDATE store_state SET changes = changes + 1 WHERE id = 1; END;
        """,
    ),
    (
        # How to load the model of each embedding set again (a checkpoint's key holds only
        # its hash), so Zero-shot and Evaluate can encode prompts with every set's own
        # model. Owned by embedding.models.
        "0024_embedding_models",
        """
        CREATE TABLE embedding_models (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            pretrained TEXT,
            checkpoint TEXT,
            untrained INTEGER NOT NULL,
            recorded_at TEXT NOT NULL
        );
        """,
    ),
    (
        # An imported page's place among the canvases, its book's metadata pairs (JSON, also
        # searched by the book filter) and the link back to the item in the library's viewer.
        # Filled from iiif-pages.csv by the next ingest. Owned by catalog.metadata.
        "0029_image_meta_item",
        """
        ALTER TABLE image_meta ADD COLUMN canvas_position INTEGER;
        ALTER TABLE image_meta ADD COLUMN metadata TEXT;
        ALTER TABLE image_meta ADD COLUMN homepage TEXT;
        """,
    ),
    (
        # A lead's review of a colleague's batch: accepted, or corrected by a new batch
        # (``correction_batch``). One review per batch. Owned by team.review.
        "0030_batch_reviews",
        """
        CREATE TABLE batch_reviews (
            batch_id TEXT PRIMARY KEY REFERENCES label_batches(id),
            reviewer TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'corrected')),
            correction_batch TEXT REFERENCES label_batches(id),
            reviewed_at TEXT NOT NULL
        );
        """,
    ),
]

# Table ownership (where each table's SQL lives): see docs/ARCHITECTURE.md, "Store layout".


def _statements(script: str) -> Iterator[str]:
    """Split a migration into complete statements (trigger bodies hold semicolons)."""
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                yield buf.strip()
            buf = ""
    if buf.strip(" \n;"):
        yield buf.strip()


def utc_now() -> str:
    """ISO-8601 UTC timestamp with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ImageRecord:
    """One catalogued image (not skipped, not a duplicate)."""

    id: int
    path: str
    source_root: str
    content_hash: str
    width: int
    height: int
    format: str

    @property
    def abs_path(self) -> Path:
        """Where the original file lives (as catalogued; use :meth:`real_path` to read it)."""
        return Path(self.source_root) / self.path

    def real_path(self) -> Path:
        """The original's real path, checked now (not only at ingest) to lie inside the
        real source root: call it right before reading the file (embed, export, view).

        Raises:
            UnsafePathError: the source folder no longer resolves to the path stored at
                ingest; the file, or a folder on its way, is now a link that leaves the
                source folder; or the path is not a regular file.
        """
        stored = Path(self.source_root)
        root = stored.resolve()
        if root != stored:
            # Stored resolved at ingest: the folder itself (or one above it) is now a link.
            raise UnsafePathError(
                f"the source folder {self.source_root!r} now leads to {str(root)!r} (a link?); its files are not read. "
                "Put the folder back, or ingest the new one."
            )
        real = (root / self.path).resolve()
        if not real.is_relative_to(root):
            raise UnsafePathError(f"{self.path!r} now leads outside its source folder (a link?); it is not read.")
        if not real.is_file():
            raise UnsafePathError(f"{self.path!r} is missing or is not a regular file.")
        return real


@dataclass(frozen=True)
class EmbeddingMatrix:
    """Embeddings of one model over the workspace.

    ``ids`` (n,) int64 image ids; ``vectors`` (n, dim) float32, rows unit-norm, row i
    belongs to ``ids[i]``. May be a read-only memory map.
    """

    key: str
    ids: np.ndarray
    vectors: np.ndarray

    @functools.cached_property
    def _id_index(self) -> tuple[np.ndarray, np.ndarray]:
        # Sorted once per matrix (cached matrices are shared), not on every lookup.
        order = np.argsort(self.ids, kind="stable")
        return order, self.ids[order]

    def rows_of(self, image_ids: Sequence[int]) -> np.ndarray:
        """Row indices of the given ids (-1 where an id has no embedding)."""
        wanted = (
            image_ids.astype(np.int64, copy=False) if isinstance(image_ids, np.ndarray) else np.asarray(list(image_ids), dtype=np.int64)
        )
        if len(self.ids) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        order, sorted_ids = self._id_index
        pos = np.clip(np.searchsorted(sorted_ids, wanted), 0, len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == wanted, order[pos], -1)


@dataclass(frozen=True)
class FileWrite:
    """One file as ingest found it, to be written to ``images`` (see ``Workspace.write_files``).

    ``image_id`` None inserts a new row, else updates that row (a changed, returning or
    moved file: its path is set to ``path``). ``duplicate_of_index`` points at an earlier
    entry of the same batch (a new row whose id is not known yet).
    """

    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    format: str | None
    skip_reason: str | None
    duplicate_of: int | None
    image_id: int | None = None
    content_changed: bool = False
    duplicate_of_index: int | None = None


def _safe_dirname(key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:60]
    return f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _busy_timeout_ms() -> int:
    from clipcore.config import busy_timeout_ms

    return busy_timeout_ms(BUSY_TIMEOUT_MS)


def _vectors_name(generation: int) -> str:
    return "vectors.f32" if generation == 0 else f"vectors.{generation}.f32"


REBUILD_APP_HINT = "An admin presses Rebuild embeddings on Home to recompute them."


def _needs_rebuild(message: str, key: str) -> "WorkspaceError":
    """A damaged embedding set: the command (and the set's key) for the CLI, the button for
    the app; the message itself speaks of "this model's embeddings", never the key."""
    return WorkspaceError(
        message, cli_hint=f"Run `python -m clipcore embed --rebuild` for {key!r} to recompute them.", app_hint=REBUILD_APP_HINT
    )


def _not_embedded(key: str, note: str = "") -> "WorkspaceError":
    """No embeddings of ``key``: the command for the CLI, the button for the app."""
    return WorkspaceError(
        f"no embeddings for model {key!r} in this workspace{note}.",
        cli_hint="Run `python -m clipcore embed` with that model first.",
        app_hint="Open Home and press Embed.",
    )


def describe_os_error(exc: BaseException) -> str:
    """A one-line reason for an OS or SQLite failure (full disk, lock, permissions)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full; free some space and run the command again"
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return "the workspace database is locked by another process; try again when it has finished"
        if "disk is full" in text or "database or disk is full" in text:
            return "the disk is full; free some space and run the command again"
        if "readonly" in text or "read-only" in text:
            return "the workspace is read-only; open it from an account that may write to it"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return text


class Workspace:
    """Handle on a workspace directory; safe to share between threads (one connection each).

    Opening never writes when the schema is current: readers take no write lock, and a
    workspace whose folder or catalog is not writable opens read-only (any write then
    raises ``WorkspaceError``). Migrations run only when needed, in a write transaction.
    """

    def __init__(self, root: str | Path, *, create: bool = True, read_only: bool | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        try:
            exists = self.root.exists()
            if exists and not self.root.is_dir():
                raise WorkspaceError(f"workspace path {str(self.root)!r} is a file, not a directory.")
            if not exists:
                if not create:
                    raise WorkspaceError(
                        f"workspace {str(self.root)!r} does not exist.",
                        cli_hint=f"Run `python -m clipcore ingest DIR --workspace {root}` first.",
                        app_hint="Open Home and press Ingest new files to catalogue its folder.",
                    )
                if read_only:
                    raise WorkspaceError(f"workspace {str(self.root)!r} does not exist, and a read-only open cannot create it.")
                # exist_ok: a second process creating the same workspace at this instant is fine.
                self.root.mkdir(parents=True, exist_ok=True)
                if not self.root.is_dir():
                    raise WorkspaceError(f"workspace path {str(self.root)!r} is a file, not a directory.")
        except OSError as exc:
            raise WorkspaceError(
                f"cannot use {str(self.root)!r} as a workspace: {describe_os_error(exc)} "
                "(is a parent of it a file, or not writable?)."
            ) from exc
        self.db_path = self.root / DB_NAME
        self.thumbs_dir = self.root / "thumbs"
        self.previews_dir = self.root / "previews"  # <= 1024 px JPEGs for the View dialog
        self.embeddings_dir = self.root / "embeddings"
        if read_only is None:
            writable = os.access(self.root, os.W_OK) and (not self.db_path.exists() or os.access(self.db_path, os.W_OK))
            read_only = not writable
        self.read_only = bool(read_only)
        if self.read_only and not self.db_path.exists():
            raise WorkspaceError(f"workspace {str(self.root)!r} is read-only and holds no catalog yet.")
        self._local = threading.local()
        self._migrate()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}{', read-only' if self.read_only else ''})"

    # -- connections ---------------------------------------------------------------------
    def _open(self, uri_mode: str | None) -> sqlite3.Connection:
        timeout_ms = _busy_timeout_ms()
        if uri_mode is None:
            conn = sqlite3.connect(self.db_path, timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=True)
        else:
            uri = f"file:{urllib.parse.quote(str(self.db_path))}?{uri_mode}"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={timeout_ms}")
        if uri_mode is None:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        conn.row_factory = sqlite3.Row
        return conn

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (busy timeout, foreign keys; read-only where the workspace is)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if not self.read_only:
                    conn = self._open(None)
                else:
                    # WAL needs a writable -shm: read-only mode works while the -shm/-wal files
                    # exist; without them the catalog was checkpointed, so an immutable open is exact.
                    try:
                        conn = self._open("mode=ro")
                        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                    except sqlite3.OperationalError:
                        conn = self._open("immutable=1")
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                raise WorkspaceError(f"{str(self.db_path)!r} is not a readable catalog: {describe_os_error(exc)}") from exc
            self._local.conn = conn
        return conn

    def _refuse_write(self) -> None:
        if self.read_only:
            raise WorkspaceError(
                f"workspace {str(self.root)!r} is read-only (its folder or catalog is not writable); "
                "this action needs write access: ask its owner, or copy the workspace to a folder you may write to."
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all or nothing, serialised across processes.

        Raises:
            WorkspaceError: the workspace is read-only, the database stayed locked past the
                busy timeout, or the disk is full.
        """
        self._refuse_write()
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(f"cannot write to workspace {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise WorkspaceError(f"cannot write to workspace {str(self.root)!r}: {describe_os_error(exc)}.") from exc

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same committed state (no lock taken)."""
        conn = self.connect()
        if conn.in_transaction:  # already inside a transaction of this thread: that is the snapshot
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence | dict = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        return self.connect().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _applied_migrations(self, conn: sqlite3.Connection) -> set[str]:
        try:
            return {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return set()
            raise WorkspaceError(f"cannot read the catalog of {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"{str(self.db_path)!r} is not a readable catalog: {exc}") from exc

    def _check_known(self, applied: set[str]) -> None:
        unknown = applied - {name for name, _ in MIGRATIONS}
        if unknown:
            raise WorkspaceError(
                f"workspace {str(self.root)!r} was written by a newer clipcore (migrations {sorted(unknown)}); upgrade clipcore."
            )

    def _migrate(self) -> None:
        conn = self.connect()
        applied = self._applied_migrations(conn)
        self._check_known(applied)
        pending = [name for name, _ in MIGRATIONS if name not in applied]
        if not pending:
            return  # current schema: opening wrote nothing and took no lock
        if self.read_only:
            raise WorkspaceError(
                f"workspace {str(self.root)!r} needs migrations {pending} but is read-only; "
                "open it once with write access (any clipcore command) to upgrade it."
            )
        # Switching to WAL needs the file to itself, and SQLite answers "locked" at once, without
        # its busy wait, while another process migrates a new catalog (two first ingests at
        # once): wait for it here, as long as any write waits.
        deadline = time.monotonic() + _busy_timeout_ms() / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise WorkspaceError(f"cannot write to workspace {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}  # another writer may have won
            self._check_known(applied)
            for name, sql in MIGRATIONS:
                if name in applied:
                    continue
                logger.info("applying migration %s", name)
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, utc_now()))
            conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    @property
    def schema_version(self) -> int:
        """Number of migrations applied."""
        return int(self.connect().execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def ingest_lock(self) -> Iterator[None]:
        """Held while one ingest writes this workspace; a second one gets a WorkspaceError at once."""
        self._refuse_write()
        try:
            lock_fh = open(self.root / "ingest.lock", "w")
        except OSError as exc:
            raise WorkspaceError(f"cannot write to workspace {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        try:
            try:
                fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceError(
                    "another ingest is running on this workspace; wait for it to finish, then run this one again."
                ) from None
            yield
        finally:
            lock_fh.close()

    # -- sources and images --------------------------------------------------------------
    def source_id(self, root: Path) -> int:
        """Id of a source folder, registering it on first use."""
        root_s = str(Path(root).resolve())
        row = self.connect().execute("SELECT id FROM sources WHERE root = ?", (root_s,)).fetchone()
        if row:
            return int(row[0])
        with self.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sources (root, added_at) VALUES (?, ?)", (root_s, utc_now()))
            return int(conn.execute("SELECT id FROM sources WHERE root = ?", (root_s,)).fetchone()[0])

    def known_files(self, source_id: int) -> dict[str, tuple[int, int, int, str | None, bool]]:
        """path -> (image id, size, mtime_ns, content hash, missing) for every file seen in a source."""
        rows = self.connect().execute(
            "SELECT path, id, size_bytes, mtime_ns, content_hash, missing_since IS NOT NULL FROM images WHERE source_id = ?",
            (source_id,),
        )
        return {r[0]: (r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    def insert_unread_images(self, source_id: int, rows: Sequence[tuple[int, str, str]], *, width: int = 64,
                             height: int = 64) -> None:
        """Catalogue rows for files that are never read: (id, path, content hash) each,
        0 bytes, JPEG of ``width`` x ``height``, in one transaction. For synthetic fixtures
        (``sources.scale``) whose thumbnails exist but whose files do not; ingest never calls it."""
        now = utc_now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO images (id, source_id, path, content_hash, size_bytes, mtime_ns, width, height, format, added_at) "
                "VALUES (?, ?, ?, ?, 0, 0, ?, ?, 'JPEG', ?)",
                [(int(i), source_id, path, digest, width, height, now) for i, path, digest in rows],
            )

    def write_files(self, source_id: int, files: Sequence[FileWrite]) -> list[int]:
        """Insert or update the rows of one batch of files in one transaction; returns their ids.

        A file whose content changed loses every model's embedding; a written row is live
        again (``missing_since`` cleared).
        """
        now = utc_now()
        ids: list[int] = []
        with self.transaction() as conn:
            for f in files:
                dup_of = ids[f.duplicate_of_index] if f.duplicate_of_index is not None else f.duplicate_of
                values = (f.size, f.mtime_ns, f.content_hash, f.width, f.height, f.format, f.skip_reason, dup_of)
                if f.image_id is None:
                    cur = conn.execute(
                        "INSERT INTO images (source_id, path, size_bytes, mtime_ns, content_hash, width, height, format,"
                        " skip_reason, duplicate_of, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (source_id, f.path, *values, now),
                    )
                    ids.append(int(cur.lastrowid))
                else:
                    conn.execute(
                        "UPDATE images SET source_id = ?, path = ?, size_bytes = ?, mtime_ns = ?, content_hash = ?,"
                        " width = ?, height = ?, format = ?, skip_reason = ?, duplicate_of = ?, missing_since = NULL"
                        " WHERE id = ?",
                        (source_id, f.path, *values, f.image_id),
                    )
                    ids.append(int(f.image_id))
                    if f.content_changed:
                        conn.execute("DELETE FROM embedding_rows WHERE image_id = ?", (f.image_id,))
        return ids

    def mark_missing(self, vanished: Sequence[int], returned: Sequence[int] = ()) -> None:
        """The sweep: ``vanished`` images become missing, ``returned`` ones live again (one transaction)."""
        if not vanished and not returned:
            return
        now = utc_now()
        with self.transaction() as conn:
            conn.executemany("UPDATE images SET missing_since = ? WHERE id = ?", [(now, int(i)) for i in vanished])
            conn.executemany("UPDATE images SET missing_since = NULL WHERE id = ?", [(int(i),) for i in returned])

    def canonical_by_content(self) -> dict[str, int]:
        """content hash -> the live image holding it (the lowest id)."""
        rows = self.connect().execute("SELECT content_hash, MIN(id) FROM live_images GROUP BY content_hash")
        return {r[0]: int(r[1]) for r in rows}

    def missing_by_content(self) -> dict[str, list[int]]:
        """content hash -> missing, readable images with that content; the one a moved file
        should take over first (a canonical image, then the lowest id) is at the end."""
        rows = self.connect().execute(
            "SELECT content_hash, id FROM images WHERE missing_since IS NOT NULL AND skip_reason IS NULL "
            "AND content_hash IS NOT NULL ORDER BY duplicate_of IS NOT NULL DESC, id DESC"
        )
        out: dict[str, list[int]] = {}
        for content_hash, image_id in rows:
            out.setdefault(content_hash, []).append(int(image_id))
        return out

    def repair_duplicates(self) -> int:
        """Re-point duplicates whose canonical image is missing, unreadable or changed content;
        promote one to canonical where no live copy of its content is left.

        Returns:
            How many duplicates became live images.
        """
        stale = self.connect().execute(
            "SELECT d.id, d.content_hash FROM images d LEFT JOIN images c ON c.id = d.duplicate_of "
            "WHERE d.duplicate_of IS NOT NULL AND d.missing_since IS NULL AND d.skip_reason IS NULL AND ("
            " c.id IS NULL OR c.missing_since IS NOT NULL OR c.skip_reason IS NOT NULL OR c.duplicate_of IS NOT NULL"
            " OR c.content_hash IS NOT d.content_hash) ORDER BY d.id"
        ).fetchall()
        if not stale:
            return 0
        promoted = 0
        with self.transaction() as conn:
            for image_id, content_hash in stale:
                row = conn.execute("SELECT MIN(id) FROM live_images WHERE content_hash = ?", (content_hash,)).fetchone()
                if row[0] is None:
                    conn.execute("UPDATE images SET duplicate_of = NULL WHERE id = ?", (image_id,))
                    promoted += 1
                elif int(row[0]) != image_id:
                    conn.execute("UPDATE images SET duplicate_of = ? WHERE id = ?", (int(row[0]), image_id))
        if promoted:
            logger.info("promoted %d duplicate(s) whose canonical copy vanished or changed", promoted)
        return promoted

    def images(self, ids: Iterable[int] | None = None, *, source_id: int | None = None) -> list[ImageRecord]:
        """Live images (not skipped, not a duplicate, not missing), by id or all in id order
        (optionally only those of one source).

        Raises:
            InputError: an id that is not a live image.
        """
        sql = (
            "SELECT i.id, i.path, s.root, i.content_hash, i.width, i.height, i.format FROM live_images i "
            "JOIN sources s ON s.id = i.source_id"
        )
        conn = self.connect()
        if ids is None:
            where = "" if source_id is None else " WHERE i.source_id = ?"
            rows = conn.execute(sql + where + " ORDER BY i.id", () if source_id is None else (int(source_id),)).fetchall()
            return [ImageRecord(*r) for r in rows]
        wanted = [int(i) for i in ids]
        found: dict[int, ImageRecord] = {}
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(f"{sql} WHERE i.id IN ({marks})", chunk):
                found[r[0]] = ImageRecord(*r)
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise InputError(
                f"unknown or missing image id(s) {unknown[:10]} (a file deleted from its folder is missing after "
                "the next ingest).",
                cli_hint="Ids come from search results or `info`.",
                app_hint="Reload the page to see the collection as it is now.",
            )
        return [found[i] for i in wanted]

    def image_ids(self) -> np.ndarray:
        """(n,) int64 ids of all live images, ascending."""
        rows = self.connect().execute("SELECT id FROM live_images ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def live_subset(self, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` that are live images (the rest are missing, skipped or duplicates)."""
        wanted = [int(i) for i in ids]
        out: set[int] = set()
        conn = self.connect()
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            out.update(int(r[0]) for r in conn.execute(f"SELECT id FROM live_images WHERE id IN ({marks})", chunk))
        return out

    def missing_images(self) -> list[dict]:
        """Files catalogued once but gone from their folder: [{id, path, source, missing_since}]."""
        rows = self.connect().execute(
            "SELECT i.id, i.path, s.root, i.missing_since FROM images i JOIN sources s ON s.id = i.source_id "
            "WHERE i.missing_since IS NOT NULL ORDER BY i.id"
        )
        return [{"id": int(r[0]), "path": r[1], "source": r[2], "missing_since": r[3]} for r in rows]

    def paths(self, ids: Sequence[int]) -> dict[int, str]:
        """id -> path relative to its source root, for display."""
        return {r.id: r.path for r in self.images(ids)}

    def thumbnail_path(self, content_hash: str) -> Path:
        """Where the thumbnail of this content lives (it may not exist yet)."""
        return self.thumbs_dir / content_hash[:2] / f"{content_hash}.jpg"

    def write_thumbnail(self, content_hash: str, data: bytes) -> Path:
        """Store thumbnail bytes atomically (write then rename)."""
        self._refuse_write()
        target = self.thumbnail_path(content_hash)
        if target.exists():
            return target
        return self._write_derived(target, data, "a thumbnail")

    def _write_derived(self, target: Path, data: bytes, what: str) -> Path:
        """Write a file derived from an image (thumbnail, preview) atomically under the
        workspace; an OS error is a ``WorkspaceError`` naming ``what``."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
        except OSError as exc:
            raise WorkspaceError(f"cannot write {what} into {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        return target

    def preview_path(self, content_hash: str) -> Path:
        """Where the View dialog's bounded copy of this content lives (it may not exist yet)."""
        return self.previews_dir / content_hash[:2] / f"{content_hash}.jpg"

    def write_preview(self, content_hash: str, data: bytes) -> Path:
        """Store preview bytes atomically (write then rename).

        Raises:
            WorkspaceError: the workspace is read-only or the file cannot be written.
        """
        self._refuse_write()
        target = self.preview_path(content_hash)
        return self._write_derived(target, data, "a preview")

    def skipped(self) -> list[dict]:
        """Files seen but not usable: [{path, reason}]."""
        rows = self.connect().execute(
            "SELECT i.path, i.skip_reason, s.root FROM images i JOIN sources s ON s.id = i.source_id "
            "WHERE i.skip_reason IS NOT NULL AND i.missing_since IS NULL ORDER BY i.id"
        )
        return [{"path": r[0], "reason": r[1], "source": r[2]} for r in rows]

    def counts(self) -> dict[str, int]:
        """images (live), missing, skipped, duplicates and ground-truth-labelled counts (one snapshot)."""
        with self.snapshot() as conn:
            live = conn.execute("SELECT COUNT(*) FROM live_images").fetchone()[0]
            row = conn.execute(
                "SELECT SUM(missing_since IS NOT NULL), SUM(missing_since IS NULL AND skip_reason IS NOT NULL), "
                "SUM(missing_since IS NULL AND duplicate_of IS NOT NULL) FROM images"
            ).fetchone()
            gt = conn.execute("SELECT COUNT(*) FROM ground_truth g JOIN live_images i ON i.id = g.image_id").fetchone()[0]
        return {
            "images": int(live),
            "missing": int(row[0] or 0),
            "skipped": int(row[1] or 0),
            "duplicates": int(row[2] or 0),
            "ground_truth": int(gt),
        }

    # -- ground truth --------------------------------------------------------------------
    def set_ground_truth(self, labels: dict[int, str], origin: str, groups: dict[int, str] | None = None) -> int:
        """Set (replace) ground-truth labels for images; returns how many were written."""
        groups = groups or {}
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO ground_truth (image_id, label, group_name, origin) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(image_id) DO UPDATE SET label = excluded.label, "
                "group_name = COALESCE(excluded.group_name, ground_truth.group_name), origin = excluded.origin",
                [(int(i), str(lbl), groups.get(i), origin) for i, lbl in labels.items()],
            )
        return len(labels)

    def ground_truth(self) -> dict[int, str]:
        """image id -> ground-truth label, for live images."""
        rows = self.connect().execute(
            "SELECT g.image_id, g.label FROM ground_truth g JOIN live_images i ON i.id = g.image_id"
        )
        return {int(r[0]): r[1] for r in rows}

    def has_images(self) -> bool:
        """Whether any live image is catalogued (one row read, where ``counts`` scans them all)."""
        return self.connect().execute("SELECT 1 FROM live_images LIMIT 1").fetchone() is not None

    def ground_truth_of(self, ids: Iterable[int]) -> dict[int, str]:
        """image id -> ground-truth label for those of ``ids`` that have one (live or not)."""
        wanted = [int(i) for i in ids]
        out: dict[int, str] = {}
        conn = self.connect()
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            out.update((int(r[0]), r[1]) for r in conn.execute(f"SELECT image_id, label FROM ground_truth WHERE image_id IN ({marks})", chunk))
        return out

    def ground_truth_counts(self) -> dict[str, int]:
        """label -> number of live images with that ground truth (one aggregate, no per-id rows)."""
        rows = self.connect().execute(
            "SELECT g.label, COUNT(*) FROM ground_truth g JOIN live_images i ON i.id = g.image_id GROUP BY g.label ORDER BY g.label"
        )
        return {r[0]: int(r[1]) for r in rows}

    def spread_images(self, n: int) -> list[tuple[int, str | None]]:
        """Up to about ``n`` live images spread evenly over the id range, ascending, each with
        its ground-truth label or None: a sample of the whole collection that reads ``n``
        rows by primary key, whatever the collection's size."""
        conn = self.connect()
        lo, hi = conn.execute("SELECT MIN(id), MAX(id) FROM live_images").fetchone()
        if lo is None or n < 1:
            return []
        step = max(1, (int(hi) - int(lo) + 1) // int(n))
        wanted = list(range(int(lo), int(hi) + 1, step))
        out: list[tuple[int, str | None]] = []
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            out.extend(
                (int(r[0]), r[1])
                for r in conn.execute(
                    f"SELECT i.id, g.label FROM live_images i LEFT JOIN ground_truth g ON g.image_id = i.id "
                    f"WHERE i.id IN ({marks}) ORDER BY i.id",
                    chunk,
                )
            )
        if len(out) < min(n, 4) and step > 1:  # ids mostly not live (e.g. many missing files)
            rows = conn.execute(
                "SELECT i.id, g.label FROM live_images i LEFT JOIN ground_truth g ON g.image_id = i.id ORDER BY i.id LIMIT ?",
                (int(n),),
            )
            out = [(int(r[0]), r[1]) for r in rows]
        return out

    def ground_truth_groups(self) -> dict[int, str]:
        """image id -> group name (e.g. the volume), where one was recorded."""
        rows = self.connect().execute("SELECT image_id, group_name FROM ground_truth WHERE group_name IS NOT NULL")
        return {int(r[0]): r[1] for r in rows}

    # -- embeddings ----------------------------------------------------------------------
    def embedding_keys(self) -> dict[str, int]:
        """key -> number of live images with a current embedding."""
        rows = self.connect().execute(
            "SELECT s.key, COUNT(i.id) FROM embedding_sets s LEFT JOIN embedding_rows r ON r.set_id = s.id "
            "LEFT JOIN live_images i ON i.id = r.image_id GROUP BY s.id ORDER BY s.id"
        )
        return {r[0]: int(r[1]) for r in rows}

    def damaged_embeddings(self) -> dict[str, str]:
        """key -> why its committed vectors cannot be read (a vectors file missing or shorter
        than its committed rows), for every set with rows; empty when all are readable.

        One ``stat`` per embedding set, so cheap at any collection size. A file longer than
        its committed rows is not listed here (a writer may be appending);
        :meth:`load_embeddings` decides that case.
        """
        damaged: dict[str, str] = {}
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT key, dim, rows, dirname, generation FROM embedding_sets WHERE rows > 0 ORDER BY id"
            ).fetchall()
        for key, dim, n_rows, dirname, generation in rows:
            path = self.embeddings_dir / dirname / _vectors_name(int(generation))
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                damaged[key] = "its vectors file is missing"
                continue
            held = size // (int(dim) * 4)
            if held < int(n_rows):
                damaged[key] = f"its vectors file holds {held} of {int(n_rows)} committed rows (truncated or replaced)"
        return damaged

    def embedded_count(self, key: str) -> int:
        """Live images with a committed embedding for ``key``."""
        return self.embedding_keys().get(key, 0)

    def change_count(self) -> int:
        """The store's change counter: bumped on every change of images, ground truth and
        embedding rows (not labels, prompts or runs). Key caches of catalogue summaries on it."""
        return int(self.connect().execute("SELECT changes FROM store_state WHERE id = 1").fetchone()[0])

    def embedding_version(self, key: str) -> int:
        """A number that changes on every change of ``key``'s live rows (0: nothing embedded).

        It is the store's change counter, bumped by triggers on every insert, update or
        delete of images and on every commit, drop, compaction or rebuild of embedding
        rows, so a cache keyed on it is never stale (it may change more often than needed).
        """
        with self.snapshot() as conn:
            row = conn.execute("SELECT rows FROM embedding_sets WHERE key = ?", (key,)).fetchone()
            if row is None or int(row[0]) == 0:
                return 0
            return int(conn.execute("SELECT changes FROM store_state WHERE id = 1").fetchone()[0]) + 1

    def missing_embeddings(self, key: str) -> list[int]:
        """Ids of live images that have no embedding for ``key``, ascending."""
        rows = self.connect().execute(
            "SELECT i.id FROM live_images i WHERE NOT EXISTS ("
            " SELECT 1 FROM embedding_rows r JOIN embedding_sets s ON s.id = r.set_id"
            " WHERE s.key = ? AND r.image_id = i.id) ORDER BY i.id",
            (key,),
        )
        return [int(r[0]) for r in rows]

    def forget_embeddings(self, image_ids: Sequence[int]) -> None:
        """Drop every model's embedding of these images (their content changed)."""
        with self.transaction() as conn:
            conn.executemany("DELETE FROM embedding_rows WHERE image_id = ?", [(int(i),) for i in image_ids])

    def legacy_embedding_sets(self) -> dict[int, str]:
        """set id -> old key, for sets stored before set keys carried weights and preprocessing."""
        rows = self.connect().execute("SELECT set_id, old_key FROM embedding_set_legacy_keys ORDER BY set_id")
        return {int(r[0]): r[1] for r in rows}

    def rekey_embedding_set(self, set_id: int, key: str, *, fallback: str) -> str:
        """Give a legacy set its new key (``fallback`` if ``key`` is taken); returns the key used.

        One transaction: the set keeps its rows and its folder (``dirname``), only the key
        changes, and it leaves the legacy list.

        Raises:
            WorkspaceError: the catalog cannot be written (read-only, locked).
        """
        try:
            with self.transaction() as conn:
                if conn.execute("SELECT 1 FROM embedding_set_legacy_keys WHERE set_id = ?", (set_id,)).fetchone() is None:
                    row = conn.execute("SELECT key FROM embedding_sets WHERE id = ?", (set_id,)).fetchone()
                    return str(row[0]) if row else key  # another process renamed it first
                for candidate in (key, fallback):
                    taken = conn.execute(
                        "SELECT 1 FROM embedding_sets WHERE key = ? AND id != ?", (candidate, set_id)
                    ).fetchone()
                    if taken is None:
                        break
                else:
                    candidate = f"{fallback}#{set_id}"
                conn.execute("UPDATE embedding_sets SET key = ? WHERE id = ?", (candidate, set_id))
                conn.execute("DELETE FROM embedding_set_legacy_keys WHERE set_id = ?", (set_id,))
                return candidate
        except sqlite3.OperationalError as exc:
            raise WorkspaceError(f"cannot rename embedding set {set_id} in {str(self.db_path)!r}: {exc}") from exc

    @contextlib.contextmanager
    def _set_lock(self, key: str, dim: int | None, what: str) -> Iterator[tuple[int, Path]]:
        """Register the set (when ``dim`` is given) and hold its write.lock: (set id, folder)."""
        self._refuse_write()
        if dim is not None:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO embedding_sets (key, dim, rows, dirname, created_at) VALUES (?, ?, 0, ?, ?)",
                    (key, dim, _safe_dirname(key), utc_now()),
                )
        row = self.connect().execute("SELECT id, dirname FROM embedding_sets WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise _not_embedded(key)
        folder = self.embeddings_dir / row[1]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock_fh = open(folder / "write.lock", "w")
        except OSError as exc:
            raise WorkspaceError(f"cannot write embeddings into {str(self.root)!r}: {describe_os_error(exc)}.") from exc
        try:
            try:
                fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceError(
                    f"another process is embedding {key!r} into this workspace right now; wait for it to finish{what}."
                ) from None
            yield int(row[0]), folder
        finally:
            lock_fh.close()

    @contextlib.contextmanager
    def embedding_writer(self, key: str, dim: int, *, rebuild: bool = False) -> Iterator["EmbeddingWriter"]:
        """Exclusive appender for one embedding set (a second writer gets a WorkspaceError).

        Args:
            rebuild: drop every stored vector of ``key`` first (a new, empty vectors file);
                also the way out of a dim mismatch or a damaged vectors file.
        Raises:
            WorkspaceError: another writer, a dim mismatch, or a vectors file that does not
                match the committed rows (the message names ``embed --rebuild``).
        """
        with self._set_lock(key, dim, "") as (set_id, folder):
            if rebuild:
                old = self.connect().execute("SELECT generation FROM embedding_sets WHERE id = ?", (set_id,)).fetchone()[0]
                with self.transaction() as conn:
                    conn.execute("DELETE FROM embedding_rows WHERE set_id = ?", (set_id,))
                    conn.execute(
                        "UPDATE embedding_sets SET rows = 0, pending_rows = 0, dim = ?, generation = generation + 1 WHERE id = ?",
                        (dim, set_id),
                    )
                with contextlib.suppress(FileNotFoundError):
                    (folder / _vectors_name(int(old))).unlink()
            stored_dim, generation = self.connect().execute(
                "SELECT dim, generation FROM embedding_sets WHERE id = ?", (set_id,)
            ).fetchone()
            if stored_dim != dim:
                raise _needs_rebuild(
                    f"this model's embeddings have dim {stored_dim} in this workspace, but the model gives {dim}.", key
                )
            writer = EmbeddingWriter(self, set_id, folder / _vectors_name(int(generation)), dim, key)
            try:
                yield writer
            finally:
                writer.close()

    def embedding_set(self, key: str) -> tuple[Path, int, int]:
        """(folder of embedding set ``key``, committed row count, file generation); for its
        vector index, which is stale once the generation changes (compaction, rebuild).

        Raises:
            WorkspaceError: nothing embedded with ``key``.
        """
        row = self.connect().execute(
            "SELECT dirname, rows, generation FROM embedding_sets WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            raise _not_embedded(key)
        return self.embeddings_dir / row[0], int(row[1]), int(row[2])

    def ids_embedded_since(self, key: str, row: int) -> np.ndarray:
        """(m,) int64 ids whose current ``key`` embedding sits at committed row >= ``row``
        (embedded or re-embedded after a vector index was built at that row count)."""
        rows = self.connect().execute(
            "SELECT r.image_id FROM embedding_rows r JOIN embedding_sets s ON s.id = r.set_id WHERE s.key = ? AND r.row >= ?",
            (key, int(row)),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def load_embeddings(self, key: str) -> EmbeddingMatrix:
        """The current embeddings of ``key`` for live images, read from one consistent snapshot.

        Raises:
            WorkspaceError: nothing was embedded with this model yet; the vectors file is
                missing, shorter or longer than the catalog says (run ``embed --rebuild``);
                the catalog cannot be read.
        """
        for attempt in range(3):
            try:
                return self._load_embeddings(key)
            except FileNotFoundError:
                # A compaction or rebuild switched files between our snapshot and the open; read again.
                if attempt == 2:
                    raise _needs_rebuild(
                        f"the vectors file of this model's embeddings is missing from {str(self.embeddings_dir)!r}.", key
                    ) from None
            except sqlite3.Error as exc:
                raise WorkspaceError(f"cannot read the embeddings of {key!r}: {describe_os_error(exc)}.") from exc
            except (OSError, ValueError) as exc:
                raise _needs_rebuild(f"cannot read the vectors file of this model's embeddings: {exc}.", key) from exc
        raise AssertionError("unreachable")

    def _load_embeddings(self, key: str) -> EmbeddingMatrix:
        with self.snapshot() as conn:
            row = conn.execute(
                "SELECT id, dim, rows, dirname, generation, pending_rows FROM embedding_sets WHERE key = ?", (key,)
            ).fetchone()
            if row is None or row[2] == 0:
                raise _not_embedded(key)
            set_id, dim, n_rows, dirname, generation, pending = (int(v) if i != 3 else v for i, v in enumerate(row))
            pairs = conn.execute(
                "SELECT r.image_id, r.row FROM embedding_rows r JOIN live_images i ON i.id = r.image_id "
                "WHERE r.set_id = ? ORDER BY r.row",
                (set_id,),
            ).fetchall()
        ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        rows = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        if len(ids) == 0:
            raise _not_embedded(key)
        path = self.embeddings_dir / dirname / _vectors_name(generation)
        fh = open(path, "rb")  # FileNotFoundError: switched by compaction, or deleted (see load_embeddings)
        with fh:
            size = os.fstat(fh.fileno()).st_size
            row_bytes = dim * 4
            if size < n_rows * row_bytes:
                raise _needs_rebuild(
                    f"the vectors file of this model's embeddings holds {size // row_bytes} rows but {n_rows} are committed "
                    "(it was truncated or replaced).", key
                )
            if size > (n_rows + pending) * row_bytes and self._longer_than_committed(set_id, path):
                raise _needs_rebuild(
                    f"the vectors file of this model's embeddings holds {size / row_bytes:.0f} rows but only {n_rows} are committed "
                    f"and {pending} being written (it was replaced or appended to by something else).", key
                )
            if rows[-1] >= n_rows:
                raise _needs_rebuild("the catalog points past the committed vectors of this model's embeddings.", key)
            mm = np.memmap(fh, dtype=np.float32, mode="r", shape=(n_rows, dim))
        if len(rows) == n_rows and rows[-1] == n_rows - 1:
            vectors = mm  # contiguous: every committed row is live, keep the zero-copy map
        else:
            vectors = np.ascontiguousarray(mm[rows])
        return EmbeddingMatrix(key=key, ids=ids, vectors=vectors)

    def _longer_than_committed(self, set_id: int, path: Path) -> bool:
        """Whether the vectors file holds more than the committed and announced rows, with no
        writer running (a writer may have committed more since our snapshot: check again)."""
        lock_path = path.parent / "write.lock"
        try:
            lock_fh = open(lock_path, "rb")
        except FileNotFoundError:
            lock_fh = None
        try:
            if lock_fh is not None:
                try:
                    fcntl.flock(lock_fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # a writer is appending: the tail is its batch
            row = self.connect().execute(
                "SELECT dim, rows, pending_rows, generation FROM embedding_sets WHERE id = ?", (set_id,)
            ).fetchone()
            if row is None or path.name != _vectors_name(int(row[3])):
                return False  # switched meanwhile; the caller's next read sees the new file
            try:
                return path.stat().st_size > (int(row[1]) + int(row[2])) * int(row[0]) * 4
            except FileNotFoundError:
                return False
        finally:
            if lock_fh is not None:
                lock_fh.close()

    def compact_embeddings(self, key: str | None = None) -> dict[str, dict[str, int]]:
        """Rewrite embedding sets to hold live rows only (all sets, or ``key``'s).

        Under the set's write lock and one write transaction: the live rows are copied to a
        new vectors file (write, fsync, rename), the row index is rewritten and the set
        switches to the new file in one commit; the old file is deleted afterwards. A crash
        at any point leaves the old set intact. The embedding version changes.

        Returns:
            {key: {"before": committed rows, "after": rows kept}}.
        Raises:
            WorkspaceError: an embed of that set is running, unknown key, read-only workspace.
        """
        keys = [key] if key is not None else list(self.embedding_keys())
        out: dict[str, dict[str, int]] = {}
        for k in keys:
            with self._set_lock(k, None, " before compacting"):
                out[k] = self._compact_one(k)
        return out

    def _compact_one(self, key: str) -> dict[str, int]:
        with self.transaction() as conn:
            set_id, dim, n_rows, dirname, generation = conn.execute(
                "SELECT id, dim, rows, dirname, generation FROM embedding_sets WHERE key = ?", (key,)
            ).fetchone()
            pairs = conn.execute(
                "SELECT r.image_id, r.row FROM embedding_rows r JOIN live_images i ON i.id = r.image_id "
                "WHERE r.set_id = ? AND r.row < ? ORDER BY r.row",
                (set_id, n_rows),
            ).fetchall()
            folder = self.embeddings_dir / dirname
            old_path = folder / _vectors_name(generation)
            new_path = folder / _vectors_name(generation + 1)
            rows = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
            try:
                if n_rows:
                    size = old_path.stat().st_size
                    if size < n_rows * dim * 4:
                        raise _needs_rebuild(
                            "the vectors file of this model's embeddings is shorter than its committed rows.", key
                        )
                    old = np.memmap(old_path, dtype=np.float32, mode="r", shape=(n_rows, dim))
                    data = np.ascontiguousarray(old[rows]).tobytes()
                    del old
                else:
                    data = b""
                atomic_write_bytes(new_path, data)
            except FileNotFoundError:
                raise _needs_rebuild("the vectors file of this model's embeddings is missing.", key) from None
            except OSError as exc:
                raise WorkspaceError(f"cannot compact {key!r}: {describe_os_error(exc)}.") from exc
            conn.execute("DELETE FROM embedding_rows WHERE set_id = ?", (set_id,))
            conn.executemany(
                "INSERT INTO embedding_rows (set_id, image_id, row) VALUES (?, ?, ?)",
                [(set_id, int(p[0]), k) for k, p in enumerate(pairs)],
            )
            conn.execute(
                "UPDATE embedding_sets SET rows = ?, pending_rows = 0, generation = ? WHERE id = ?",
                (len(pairs), generation + 1, set_id),
            )
        with contextlib.suppress(FileNotFoundError):
            old_path.unlink()  # readers that mapped it keep their mapping
        logger.info("compacted %s: %d -> %d rows", key, n_rows, len(pairs))
        return {"before": int(n_rows), "after": len(pairs)}


class EmbeddingWriter:
    """Appends embedding batches crash-safely (see the module docstring)."""

    def __init__(self, ws: Workspace, set_id: int, path: Path, dim: int, key: str = "") -> None:
        self._ws = ws
        self._set_id = set_id
        self._dim = dim
        committed = int(ws.connect().execute("SELECT rows FROM embedding_sets WHERE id = ?", (set_id,)).fetchone()[0])
        want = committed * dim * 4
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = None
        if committed and (size is None or size < want):
            have = "is missing" if size is None else f"holds {size // (dim * 4)} rows"
            raise _needs_rebuild(
                f"the vectors file of this model's embeddings {have} but {committed} rows are committed; it is never zero-extended.", key
            )
        try:
            self._fh = open(path, "r+b" if size is not None else "w+b")
            # Drop any tail written by a run that died before committing it.
            self._fh.truncate(want)
        except OSError as exc:
            raise WorkspaceError(f"cannot write the vectors of {key!r}: {describe_os_error(exc)}.") from exc
        self.rows = committed

    def append(self, image_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store one batch: vectors (n, dim) float32 for ``image_ids`` (n,)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(image_ids), self._dim):
            raise InputError(f"expected vectors of shape ({len(image_ids)}, {self._dim}); got {vectors.shape}.")
        with self._ws.transaction() as conn:
            conn.execute("UPDATE embedding_sets SET pending_rows = ? WHERE id = ?", (len(image_ids), self._set_id))
        try:
            self._fh.seek(self.rows * self._dim * 4)
            self._fh.write(vectors.tobytes())
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise WorkspaceError(f"cannot write embeddings: {describe_os_error(exc)}.") from exc
        start = self.rows
        with self._ws.transaction() as conn:
            conn.executemany(
                "INSERT INTO embedding_rows (set_id, image_id, row) VALUES (?, ?, ?) "
                "ON CONFLICT(set_id, image_id) DO UPDATE SET row = excluded.row",
                [(self._set_id, int(i), start + k) for k, i in enumerate(image_ids)],
            )
            conn.execute(
                "UPDATE embedding_sets SET rows = ?, pending_rows = 0 WHERE id = ?", (start + len(image_ids), self._set_id)
            )
        self.rows = start + len(image_ids)

    def close(self) -> None:
        """Close the vectors file."""
        self._fh.close()


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new one, never half."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.{time.monotonic_ns()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def read_json_object(path: Path, what: str) -> dict:
    """The JSON object in ``path`` (a small side file of a workspace: guidelines, saved
    views), or {} when it is missing, unreadable or not an object (logged, naming ``what``)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("%s unreadable (%s): %s", what, path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
