"""One index of the embedded store: a SQLite file, the source of truth.

Tables: ``docs`` (the JSON source without vectors; ``updates.py`` turns a
``DocUpdate`` into it), ``vectors`` (one float32 blob per scene vector or child
vector, with the child's index and time), ``doc_terms`` (``terms.py``),
``tombstones`` (vector rows removed, so an in-memory ANN cache can catch up
without reloading) and ``meta`` (spec, a write generation, a store uuid).

Crash safety: WAL journal with ``synchronous=NORMAL`` never corrupts the file on
a process crash (SIGKILL) and every batch is one ``BEGIN IMMEDIATE`` transaction,
so after a crash a batch is either wholly there or wholly absent. (NORMAL may
lose the last commits on a power cut, never consistency; ``FULL`` would cost an
fsync per batch.)

Threads: every thread gets its own connection (``threading.local``); SQLite's
own locking serializes writers across threads and processes (busy timeout 30s).
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from es_visual.backends.embedded.sql import register_functions
from es_visual.backends.embedded.terms import TERMS_SCHEMA, index_doc, unindex_docs
from es_visual.backends.embedded.updates import (
    ItemFailure,
    dumps_source,
    merged_source,
    prepare_update,
)
from es_visual.core.documents import BulkResult, DocUpdate, ItemError, VisualSpec
from es_visual.core.errors import BackendError
from es_visual.private import private_dir, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    vid INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_rid INTEGER NOT NULL,
    target TEXT NOT NULL,
    child INTEGER,
    t REAL,
    vec BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_by_doc ON vectors (doc_rid, target);
CREATE INDEX IF NOT EXISTS vectors_by_target ON vectors (target, vid);
CREATE TABLE IF NOT EXISTS tombstones (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    vid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_by_target ON tombstones (target, seq);
"""

# Tombstones older than this many are dropped; a cache that far behind reloads instead.
TOMBSTONE_KEEP = 500_000


class VectorRows:
    """Vector rows read back in ``vid`` order: contiguous arrays, no per-row objects."""

    __slots__ = ("child", "doc_rid", "matrix", "t", "vid")

    def __init__(self, vid, doc_rid, child, t, matrix) -> None:  # type: ignore[no-untyped-def]
        self.vid, self.doc_rid, self.child, self.t, self.matrix = vid, doc_rid, child, t, matrix

    def __len__(self) -> int:
        return len(self.vid)

    def subset(self, keep: np.ndarray) -> VectorRows:
        """The rows where the boolean ``keep`` is true."""
        return VectorRows(
            self.vid[keep], self.doc_rid[keep], self.child[keep], self.t[keep], self.matrix[keep]
        )


class IndexStore:
    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        if create:
            private_dir(path.parent)
            private_file(path)  # before SQLite makes it 0644; -wal and -shm take its mode
            with self.write() as conn:
                if conn.execute("SELECT 1 FROM meta WHERE key = 'uuid'").fetchone() is None:
                    conn.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("uuid", uuid.uuid4().hex), ("generation", "0"), ("tomb_floor", "0")],
                    )

    # --- connections -----------------------------------------------------------------------

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.executescript(SCHEMA + TERMS_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open embedded store {self.path}: {exc}") from exc
        register_functions(conn)
        with self._lock:
            self._conns.append(conn)
        return conn

    def write(self) -> _Transaction:
        """``with store.write() as conn:`` one IMMEDIATE transaction (rolled back on error)."""
        return _Transaction(self.conn())

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # --- meta ------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def generation(self) -> int:
        """Bumped by every write transaction: what caches of this index key on."""
        return int(self.meta("generation") or 0)

    def spec(self) -> VisualSpec | None:
        raw = self.meta("spec")
        return None if raw is None else VisualSpec(**json.loads(raw))

    def set_spec(self, spec: VisualSpec) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('spec', ?)",
                (json.dumps(spec.__dict__),),
            )
            _bump(conn)

    # --- writes ----------------------------------------------------------------------------

    def bulk_update(self, updates: Sequence[DocUpdate], spec: VisualSpec | None) -> BulkResult:
        result = BulkResult()
        with self.write() as conn:
            for update in updates:
                try:
                    prepared = prepare_update(update, spec)
                except ItemFailure as exc:
                    result.errors.append(ItemError(str(update.id), str(exc), status=exc.status))
                    continue
                doc, vectors = prepared
                row = conn.execute(
                    "SELECT rid, source FROM docs WHERE id = ?", (update.id,)
                ).fetchone()
                if row is None:
                    if not update.upsert:
                        result.errors.append(ItemError(update.id, "document missing", 404))
                        continue
                    rid = conn.execute(
                        "INSERT INTO docs (id, source) VALUES (?, ?)",
                        (update.id, dumps_source(doc)),
                    ).lastrowid
                    assert rid is not None  # an INSERT into a rowid table always sets it
                    index_doc(conn, rid, doc, replace=False)
                else:
                    rid, old = row
                    try:
                        merged = merged_source(json.loads(old), doc, update.unset)
                    except ItemFailure as exc:
                        result.errors.append(ItemError(update.id, str(exc), status=exc.status))
                        continue
                    conn.execute(
                        "UPDATE docs SET source = ? WHERE rid = ?", (dumps_source(merged), rid)
                    )
                    index_doc(conn, rid, merged, replace=True)
                for target, rows in vectors.items():
                    _drop_vectors(conn, rid, target)
                    conn.executemany(
                        "INSERT INTO vectors (doc_rid, target, child, t, vec) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(rid, target, child, t, blob) for child, t, blob in rows],
                    )
                result.written += 1
            _bump(conn)
        return result

    def delete(self, ids: Iterable[str]) -> int:
        ids = [str(i) for i in ids]
        if not ids:
            return 0
        with self.write() as conn:
            rids = [
                r[0]
                for r in conn.execute(
                    "SELECT rid FROM docs WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                )
            ]
            for rid in rids:
                _drop_vectors(conn, rid, None)
            unindex_docs(conn, rids)
            conn.execute(
                "DELETE FROM docs WHERE rid IN (SELECT value FROM json_each(?))",
                (json.dumps(rids),),
            )
            _bump(conn)
        return len(rids)

    # --- reads -----------------------------------------------------------------------------

    def sources(self, rids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """rid -> (id, source) for the given rows (those that still exist)."""
        rows = self.conn().execute(
            "SELECT rid, id, source FROM docs WHERE rid IN (SELECT value FROM json_each(?))",
            (json.dumps([int(r) for r in rids]),),
        )
        return {rid: (doc_id, json.loads(src)) for rid, doc_id, src in rows}

    def ids_of(self, rids: Sequence[int]) -> dict[int, str]:
        rows = self.conn().execute(
            "SELECT rid, id FROM docs WHERE rid IN (SELECT value FROM json_each(?))",
            (json.dumps([int(r) for r in rids]),),
        )
        return dict(rows.fetchall())

    def rids_of(self, ids: Sequence[str]) -> list[int]:
        rows = self.conn().execute(
            "SELECT rid FROM docs WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([str(i) for i in ids]),),
        )
        return [r[0] for r in rows]

    def doc_vectors(
        self, rid: int, target: str | None = None
    ) -> list[tuple[str, int | None, bytes]]:
        """(target, child, blob) of one document, in child order."""
        sql = "SELECT target, child, vec FROM vectors WHERE doc_rid = ?"
        args: tuple[Any, ...] = (rid,)
        if target is not None:
            sql += " AND target = ?"
            args = (rid, target)
        return self.conn().execute(sql + " ORDER BY target, child", args).fetchall()

    def child_rows(self, rids: Sequence[int], target: str) -> VectorRows:
        """Every vector of ``target`` for these documents (for per-child scores)."""
        rows = (
            self.conn()
            .execute(
                "SELECT vid, doc_rid, child, t, vec FROM vectors WHERE target = ? AND doc_rid IN "
                "(SELECT value FROM json_each(?)) ORDER BY doc_rid, child",
                (target, json.dumps([int(r) for r in rids])),
            )
            .fetchall()
        )
        return _to_rows(rows)

    def iter_vectors(
        self, target: str, after_vid: int, chunk: int = 50_000
    ) -> Iterator[VectorRows]:
        """Vectors of ``target`` with ``vid > after_vid``, in vid order, in chunks."""
        conn = self.conn()
        last = after_vid
        while True:
            rows = conn.execute(
                "SELECT vid, doc_rid, child, t, vec FROM vectors WHERE target = ? AND vid > ? "
                "ORDER BY vid LIMIT ?",
                (target, last, chunk),
            ).fetchall()
            if not rows:
                return
            block = _to_rows(rows)
            last = int(block.vid[-1])
            yield block

    def tombstones(self, target: str, after_seq: int) -> tuple[int, np.ndarray]:
        """(latest seq, vids removed after ``after_seq``)."""
        rows = (
            self.conn()
            .execute(
                "SELECT seq, vid FROM tombstones WHERE target = ? AND seq > ? ORDER BY seq",
                (target, after_seq),
            )
            .fetchall()
        )
        if not rows:
            return after_seq, np.empty(0, dtype=np.int64)
        arr = np.asarray(rows, dtype=np.int64)
        return int(arr[-1, 0]), arr[:, 1]


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise BackendError(f"embedded store busy or unwritable: {exc}") from exc
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self.conn.execute("ROLLBACK")
                raise BackendError(f"embedded store commit failed: {err}") from err
        else:
            self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise BackendError(f"embedded store write failed: {exc}") from exc


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def _drop_vectors(conn: sqlite3.Connection, rid: int, target: str | None) -> None:
    where, args = (
        ("doc_rid = ?", (rid,))
        if target is None
        else (
            "doc_rid = ? AND target = ?",
            (rid, target),
        )
    )
    conn.execute(
        f"INSERT INTO tombstones (target, vid) SELECT target, vid FROM vectors WHERE {where}", args
    )
    conn.execute(f"DELETE FROM vectors WHERE {where}", args)
    floor = int(conn.execute("SELECT value FROM meta WHERE key = 'tomb_floor'").fetchone()[0])
    top = conn.execute("SELECT max(seq) FROM tombstones").fetchone()[0] or 0
    if top - floor > TOMBSTONE_KEEP:
        # Caches behind ``top`` see seq < floor and reload from the vectors table.
        conn.execute("DELETE FROM tombstones WHERE seq <= ?", (top,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'tomb_floor'", (str(top),))


def _to_rows(rows: list[tuple[Any, ...]]) -> VectorRows:
    if not rows:
        return VectorRows(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32),
            np.empty(0, np.float32), np.empty((0, 0), np.float32),
        )  # fmt: skip
    vid, rid, child, t, blobs = zip(*rows, strict=True)
    dims = len(blobs[0]) // 4
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dims)
    return VectorRows(
        np.asarray(vid, np.int64),
        np.asarray(rid, np.int64),
        np.asarray([-1 if c is None else c for c in child], np.int32),
        np.asarray([math.nan if x is None else x for x in t], np.float32),
        matrix,
    )
