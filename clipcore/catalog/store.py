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
import fcntl
import functools
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from clipcore.errors import InputError, WorkspaceError

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
        # The vector index asks which rows were committed after its build (retrieval.index).
        "0016_embedding_rows_by_row",
        """
        CREATE INDEX embedding_rows_row ON embedding_rows(set_id, row);
        """,
    ),
]


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
        """Where the original file lives."""
        return Path(self.source_root) / self.path


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
        wanted = np.asarray(list(image_ids), dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        order, sorted_ids = self._id_index
        pos = np.clip(np.searchsorted(sorted_ids, wanted), 0, len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == wanted, order[pos], -1)


def _safe_dirname(key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:60]
    return f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


class Workspace:
    """Handle on a workspace directory; safe to share between threads (one connection each)."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.exists():
            if not create:
                raise WorkspaceError(
                    f"workspace {str(self.root)!r} does not exist; run `python -m clipcore ingest DIR --workspace {root}` first."
                )
            self.root.mkdir(parents=True)
        elif not self.root.is_dir():
            raise WorkspaceError(f"workspace path {str(self.root)!r} is a file, not a directory.")
        self.db_path = self.root / DB_NAME
        self.thumbs_dir = self.root / "thumbs"
        self.embeddings_dir = self.root / "embeddings"
        self._local = threading.local()
        self._migrate()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- connections ---------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (WAL, busy timeout, foreign keys)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise WorkspaceError(f"{str(self.db_path)!r} is not a readable catalog: {exc}") from exc
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all or nothing, serialised across processes."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
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

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            known = {name for name, _ in MIGRATIONS}
            unknown = applied - known
            if unknown:
                raise WorkspaceError(
                    f"workspace {str(self.root)!r} was written by a newer clipcore (migrations {sorted(unknown)}); upgrade clipcore."
                )
            for name, sql in MIGRATIONS:
                if name in applied:
                    continue
                logger.info("applying migration %s", name)
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, utc_now()))
            conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")

    @property
    def schema_version(self) -> int:
        """Number of migrations applied."""
        return int(self.connect().execute("PRAGMA user_version").fetchone()[0])

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

    def known_files(self, source_id: int) -> dict[str, tuple[int, int, int, str | None]]:
        """path -> (image id, size, mtime_ns, content hash) for every file seen in a source."""
        rows = self.connect().execute(
            "SELECT path, id, size_bytes, mtime_ns, content_hash FROM images WHERE source_id = ?", (source_id,)
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def images(self, ids: Iterable[int] | None = None) -> list[ImageRecord]:
        """Catalogued images (skipped files and duplicates excluded), by id or all in id order."""
        sql = (
            "SELECT i.id, i.path, s.root, i.content_hash, i.width, i.height, i.format FROM images i "
            "JOIN sources s ON s.id = i.source_id WHERE i.skip_reason IS NULL AND i.duplicate_of IS NULL"
        )
        conn = self.connect()
        if ids is None:
            rows = conn.execute(sql + " ORDER BY i.id").fetchall()
            return [ImageRecord(*r) for r in rows]
        wanted = [int(i) for i in ids]
        found: dict[int, ImageRecord] = {}
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(f"{sql} AND i.id IN ({marks})", chunk):
                found[r[0]] = ImageRecord(*r)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InputError(f"unknown image id(s) {missing[:10]}; ids come from search results or `info`.")
        return [found[i] for i in wanted]

    def image_ids(self) -> np.ndarray:
        """(n,) int64 ids of all catalogued images, ascending."""
        rows = self.connect().execute(
            "SELECT id FROM images WHERE skip_reason IS NULL AND duplicate_of IS NULL ORDER BY id"
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def paths(self, ids: Sequence[int]) -> dict[int, str]:
        """id -> path relative to its source root, for display."""
        return {r.id: r.path for r in self.images(ids)}

    def thumbnail_path(self, content_hash: str) -> Path:
        """Where the thumbnail of this content lives (it may not exist yet)."""
        return self.thumbs_dir / content_hash[:2] / f"{content_hash}.jpg"

    def write_thumbnail(self, content_hash: str, data: bytes) -> Path:
        """Store thumbnail bytes atomically (write then rename)."""
        target = self.thumbnail_path(content_hash)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        return target

    def skipped(self) -> list[dict]:
        """Files seen but not usable: [{path, reason}]."""
        rows = self.connect().execute(
            "SELECT i.path, i.skip_reason, s.root FROM images i JOIN sources s ON s.id = i.source_id "
            "WHERE i.skip_reason IS NOT NULL ORDER BY i.id"
        )
        return [{"path": r[0], "reason": r[1], "source": r[2]} for r in rows]

    def counts(self) -> dict[str, int]:
        """images, skipped, duplicates and ground-truth-labelled counts."""
        row = self.connect().execute(
            "SELECT SUM(skip_reason IS NULL AND duplicate_of IS NULL), SUM(skip_reason IS NOT NULL), "
            "SUM(duplicate_of IS NOT NULL) FROM images"
        ).fetchone()
        gt = self.connect().execute("SELECT COUNT(*) FROM ground_truth").fetchone()[0]
        return {"images": int(row[0] or 0), "skipped": int(row[1] or 0), "duplicates": int(row[2] or 0), "ground_truth": int(gt)}

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
        """image id -> ground-truth label, for catalogued images."""
        rows = self.connect().execute(
            "SELECT g.image_id, g.label FROM ground_truth g JOIN images i ON i.id = g.image_id "
            "WHERE i.skip_reason IS NULL AND i.duplicate_of IS NULL"
        )
        return {int(r[0]): r[1] for r in rows}

    def ground_truth_groups(self) -> dict[int, str]:
        """image id -> group name (e.g. the volume), where one was recorded."""
        rows = self.connect().execute("SELECT image_id, group_name FROM ground_truth WHERE group_name IS NOT NULL")
        return {int(r[0]): r[1] for r in rows}

    # -- embeddings ----------------------------------------------------------------------
    def embedding_keys(self) -> dict[str, int]:
        """key -> number of images with a current embedding."""
        rows = self.connect().execute(
            "SELECT s.key, COUNT(r.image_id) FROM embedding_sets s LEFT JOIN embedding_rows r ON r.set_id = s.id "
            "LEFT JOIN images i ON i.id = r.image_id AND i.skip_reason IS NULL AND i.duplicate_of IS NULL "
            "GROUP BY s.id ORDER BY s.id"
        )
        return {r[0]: int(r[1]) for r in rows}

    def embedding_version(self, key: str) -> int:
        """A number that changes whenever embeddings of ``key`` change (committed rows)."""
        row = self.connect().execute("SELECT rows FROM embedding_sets WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def missing_embeddings(self, key: str) -> list[int]:
        """Ids of catalogued images that have no embedding for ``key``, ascending."""
        rows = self.connect().execute(
            "SELECT i.id FROM images i WHERE i.skip_reason IS NULL AND i.duplicate_of IS NULL AND NOT EXISTS ("
            " SELECT 1 FROM embedding_rows r JOIN embedding_sets s ON s.id = r.set_id"
            " WHERE s.key = ? AND r.image_id = i.id) ORDER BY i.id",
            (key,),
        )
        return [int(r[0]) for r in rows]

    def forget_embeddings(self, image_ids: Sequence[int]) -> None:
        """Drop every model's embedding of these images (their content changed)."""
        with self.transaction() as conn:
            conn.executemany("DELETE FROM embedding_rows WHERE image_id = ?", [(int(i),) for i in image_ids])

    @contextlib.contextmanager
    def embedding_writer(self, key: str, dim: int) -> Iterator["EmbeddingWriter"]:
        """Exclusive appender for one embedding set (a second writer gets a WorkspaceError)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO embedding_sets (key, dim, rows, dirname, created_at) VALUES (?, ?, 0, ?, ?)",
                (key, dim, _safe_dirname(key), utc_now()),
            )
            set_id, stored_dim, dirname = conn.execute(
                "SELECT id, dim, dirname FROM embedding_sets WHERE key = ?", (key,)
            ).fetchone()
        if stored_dim != dim:
            raise WorkspaceError(f"embeddings for {key!r} have dim {stored_dim} in this workspace, but the model gives {dim}.")
        folder = self.embeddings_dir / dirname
        folder.mkdir(parents=True, exist_ok=True)
        lock_fh = open(folder / "write.lock", "w")
        try:
            try:
                fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkspaceError(
                    f"another process is embedding {key!r} into this workspace right now; wait for it to finish."
                ) from None
            writer = EmbeddingWriter(self, int(set_id), folder / "vectors.f32", dim)
            try:
                yield writer
            finally:
                writer.close()
        finally:
            lock_fh.close()

    def embedding_set(self, key: str) -> tuple[Path, int]:
        """(folder of embedding set ``key``, committed row count); for its vector index.

        Raises:
            WorkspaceError: nothing embedded with ``key``.
        """
        row = self.connect().execute("SELECT dirname, rows FROM embedding_sets WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no embeddings for model {key!r} in this workspace; run `python -m clipcore embed` first.")
        return self.embeddings_dir / row[0], int(row[1])

    def ids_embedded_since(self, key: str, row: int) -> np.ndarray:
        """(m,) int64 ids whose current ``key`` embedding sits at committed row >= ``row``
        (embedded or re-embedded after a vector index was built at that row count)."""
        rows = self.connect().execute(
            "SELECT r.image_id FROM embedding_rows r JOIN embedding_sets s ON s.id = r.set_id WHERE s.key = ? AND r.row >= ?",
            (key, int(row)),
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def load_embeddings(self, key: str) -> EmbeddingMatrix:
        """The current embeddings of ``key`` for catalogued images.

        Raises:
            WorkspaceError: nothing was embedded with this model yet.
        """
        row = self.connect().execute("SELECT id, dim, rows, dirname FROM embedding_sets WHERE key = ?", (key,)).fetchone()
        if row is None or row[2] == 0:
            raise WorkspaceError(
                f"no embeddings for model {key!r} in this workspace; run `python -m clipcore embed` with that model first."
            )
        set_id, dim, n_rows, dirname = row
        pairs = self.connect().execute(
            "SELECT r.image_id, r.row FROM embedding_rows r JOIN images i ON i.id = r.image_id "
            "WHERE r.set_id = ? AND i.skip_reason IS NULL AND i.duplicate_of IS NULL ORDER BY r.row",
            (set_id,),
        ).fetchall()
        ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        rows = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        path = self.embeddings_dir / dirname / "vectors.f32"
        mm = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, dim))
        if len(rows) == n_rows and (n_rows == 0 or rows[-1] == n_rows - 1):
            vectors = mm  # contiguous: every committed row is live, keep the zero-copy map
        else:
            vectors = np.ascontiguousarray(mm[rows])
        if len(ids) == 0:
            raise WorkspaceError(f"no embeddings for model {key!r} in this workspace; run `python -m clipcore embed`.")
        return EmbeddingMatrix(key=key, ids=ids, vectors=vectors)


class EmbeddingWriter:
    """Appends embedding batches crash-safely (see the module docstring)."""

    def __init__(self, ws: Workspace, set_id: int, path: Path, dim: int) -> None:
        self._ws = ws
        self._set_id = set_id
        self._dim = dim
        committed = int(ws.connect().execute("SELECT rows FROM embedding_sets WHERE id = ?", (set_id,)).fetchone()[0])
        self._fh = open(path, "a+b")
        # Drop any tail written by a run that died before committing it.
        self._fh.truncate(committed * dim * 4)
        self.rows = committed

    def append(self, image_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store one batch: vectors (n, dim) float32 for ``image_ids`` (n,)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(image_ids), self._dim):
            raise InputError(f"expected vectors of shape ({len(image_ids)}, {self._dim}); got {vectors.shape}.")
        self._fh.seek(self.rows * self._dim * 4)
        self._fh.write(vectors.tobytes())
        self._fh.flush()
        os.fsync(self._fh.fileno())
        start = self.rows
        with self._ws.transaction() as conn:
            conn.executemany(
                "INSERT INTO embedding_rows (set_id, image_id, row) VALUES (?, ?, ?) "
                "ON CONFLICT(set_id, image_id) DO UPDATE SET row = excluded.row",
                [(self._set_id, int(i), start + k) for k, i in enumerate(image_ids)],
            )
            conn.execute("UPDATE embedding_sets SET rows = ? WHERE id = ?", (start + len(image_ids), self._set_id))
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


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
