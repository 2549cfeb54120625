"""Names and merges of persons: a small SQLite file beside the store's other state.

Which faces belong to a person lives on the documents themselves
(``visual.faces[i].person`` and ``visual.persons``), so every backend filters,
counts and secures persons the way it does any keyword, inside the ACL. What
documents cannot hold cheaply lives here, per index:

* a person's **name** (renaming touches no document);
* **merges**: a merged person's id points at the one it joined, so an old link,
  an ingest that read the old id a moment before the merge, or a saved search
  still lands on the right person.

The file is ``<data_dir>/people.sqlite``, like the UI's users (the data dir is local
even when the documents live on a cluster). Safe for several threads and
processes: one short transaction per call, SQLite's own locking.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from es_visual.core.errors import QueryError

FILE_NAME = "people.sqlite"
# Lowercase letters and digits only: one token under any analyzer, so a person id matches
# exactly even on a cluster index whose visual.persons was mapped as text.
_ID = re.compile(r"^p[0-9a-f]{10}$")
MAX_NAME = 200
_MERGE_DEPTH = 32  # a chain of merges longer than this is a corrupt file, not real use

_SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    idx TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,
    merged_into TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (idx, id)
);
CREATE INDEX IF NOT EXISTS persons_name ON persons (idx, name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS persons_merged ON persons (idx, merged_into);
"""


@dataclass(frozen=True)
class PersonRecord:
    id: str
    name: str | None
    merged_into: str | None


def new_person_id() -> str:
    return "p" + secrets.token_hex(5)


def is_person_id(value: str) -> bool:
    return bool(_ID.match(value))


class PeopleRegistry:
    """Person names and merges of every index in one data dir."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> PeopleRegistry:
        return cls(Path(data_dir).expanduser() / FILE_NAME)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            from es_visual.private import private_dir, private_file

            # Owner-only, like every file of the data dir (SQLite's WAL files follow).
            private_file(private_dir(self.path.parent) / self.path.name)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            self._local.conn = conn
        return conn

    # --- reading --------------------------------------------------------------------------

    def get(self, index: str, person: str) -> PersonRecord | None:
        row = (
            self._conn()
            .execute(
                "SELECT id, name, merged_into FROM persons WHERE idx = ? AND id = ?",
                (index, person),
            )
            .fetchone()
        )
        return PersonRecord(*row) if row else None

    def canonical(self, index: str, person: str) -> str:
        """The person ``person`` ended up as after any merges (itself if never merged)."""
        current = person
        for _ in range(_MERGE_DEPTH):
            record = self.get(index, current)
            if record is None or record.merged_into is None:
                return current
            current = record.merged_into
        return current

    def names(self, index: str, ids: list[str]) -> dict[str, str]:
        """id -> name for those of ``ids`` that have one."""
        out: dict[str, str] = {}
        conn = self._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT id, name FROM persons WHERE idx = ? AND id IN ({marks}) "
                "AND name IS NOT NULL",
                (index, *chunk),
            ).fetchall()
            out.update(dict(rows))
        return out

    def aliases(self, index: str, person: str) -> list[str]:
        """``person`` and every id that was merged into it, directly or not."""
        found, todo = [person], [person]
        conn = self._conn()
        while todo and len(found) < 10_000:
            current = todo.pop()
            rows = conn.execute(
                "SELECT id FROM persons WHERE idx = ? AND merged_into = ?", (index, current)
            ).fetchall()
            for (other,) in rows:
                if other not in found:
                    found.append(other)
                    todo.append(other)
        return found

    def resolve(self, index: str, value: str) -> list[str]:
        """The person ids a name or an id stands for, merged ids included (they may
        still be on documents an ongoing merge has not rewritten yet). Names match
        whole and case-insensitively; an unknown value stands for nobody."""
        value = value.strip()
        if is_person_id(value):
            return self.aliases(index, self.canonical(index, value))
        rows = (
            self._conn()
            .execute(
                "SELECT id FROM persons WHERE idx = ? AND name = ? COLLATE NOCASE "
                "AND merged_into IS NULL",
                (index, value),
            )
            .fetchall()
        )
        return [alias for (pid,) in rows for alias in self.aliases(index, pid)]

    def resolver(self, index: str):  # type: ignore[no-untyped-def]
        """``Search.with_people``'s resolver for one index."""
        return lambda value: self.resolve(index, value)

    def find_named(self, index: str, name: str) -> str | None:
        ids = [i for i in self.resolve(index, name) if self.canonical(index, i) == i]
        return ids[0] if ids else None

    # --- writing --------------------------------------------------------------------------

    def set_name(self, index: str, person: str, name: str | None) -> None:
        """Name a person (None or "" clears it). A name belongs to one person: naming a
        second one the same is refused (merge them instead)."""
        if not is_person_id(person):
            raise QueryError(f"{person!r} is not a person id (like p3f9a1c02be)")
        clean = (name or "").strip() or None
        if clean is not None:
            if len(clean) > MAX_NAME or any(ord(c) < 32 for c in clean):
                raise QueryError(f"a name is 1-{MAX_NAME} printable characters")
            if is_person_id(clean):
                raise QueryError(f"{clean!r} looks like a person id; choose another name")
            holder = self.find_named(index, clean)
            if holder is not None and holder != person:
                raise QueryError(
                    f"{clean!r} is already the name of person {holder}: merge the two "
                    f"(`es-visual people merge {holder} {person}`) instead"
                )
        self._upsert(index, person, name=clean, set_name=True)

    def mark_merged(self, index: str, source: str, target: str) -> None:
        if self.canonical(index, target) == source:
            raise QueryError(f"cannot merge {source} into {target}: {target} was merged into it")
        self._upsert(index, source, merged_into=target, set_merge=True)
        self._upsert(index, target)

    def _upsert(
        self,
        index: str,
        person: str,
        *,
        name: str | None = None,
        merged_into: str | None = None,
        set_name: bool = False,
        set_merge: bool = False,
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO persons (idx, id, updated_at) VALUES (?, ?, ?)",
                (index, person, now),
            )
            if set_name:
                conn.execute(
                    "UPDATE persons SET name = ?, updated_at = ? WHERE idx = ? AND id = ?",
                    (name, now, index, person),
                )
            if set_merge:
                conn.execute(
                    "UPDATE persons SET merged_into = ?, name = NULL, updated_at = ? "
                    "WHERE idx = ? AND id = ?",
                    (merged_into, now, index, person),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
