"""The embedded store's folder: which files an index is, and the records beside them.

Layout of ``data_dir``: per index, ``<index>.sqlite`` (with SQLite's ``-wal`` and
``-shm``; the source of truth) and ``<index>.vectors/`` (the derived vector cache);
``aliases.json`` (alias -> index, replaced atomically by ``write_aliases``) and, per
index whose writes are refused, a ``<index>.write-blocked`` marker. Both records are
files so that every process sharing the folder (an ingest beside a serving UI) sees
them at once.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from es_visual.core.errors import BackendError, QueryError
from es_visual.private import write_private

_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,199}$")
# alias -> index, written atomically by ``write_aliases``.
ALIASES_FILE = "aliases.json"


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._alias_cache: tuple[tuple[int, int] | None, dict[str, str]] = (None, {})

    def paths(self, index: str) -> tuple[Path, Path]:
        """(SQLite file, vector cache folder) of the index named ``index`` (not resolved);
        ``QueryError`` for a name that could leave the folder or is not an index name."""
        if not isinstance(index, str) or not _INDEX_NAME.match(index) or ".." in index:
            raise QueryError(
                f"invalid index name {index!r}: lowercase letters, digits, _ - . (max 200)"
            )
        return self.root / f"{index}.sqlite", self.root / f"{index}.vectors"

    def sqlite_files(self, index: str) -> list[Path]:
        """The SQLite file of ``index`` and its ``-wal`` and ``-shm`` companions."""
        path = self.paths(index)[0]
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def exists(self, index: str) -> bool:
        """Whether ``index`` (an alias resolved) has a SQLite file."""
        return self.paths(self.resolve(index))[0].exists()

    def disk_bytes(self, index: str) -> tuple[int, int]:
        """(bytes of the SQLite files, bytes of the vector cache) of the concrete ``index``."""
        cache = self.paths(index)[1]
        disk = sum(f.stat().st_size for f in self.sqlite_files(index) if f.exists())
        disk_cache = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
        return disk, disk_cache

    def remove(self, index: str) -> None:
        """Delete the files of the concrete ``index`` (its handle closed by the caller)."""
        for f in self.sqlite_files(index):
            f.unlink(missing_ok=True)
        shutil.rmtree(self.paths(index)[1], ignore_errors=True)

    # --- aliases: a name that resolves to another index (what `reindex` swaps) ------------

    def resolve(self, index: str) -> str:
        """The index ``index`` names: the alias record's target, else itself."""
        return self.aliases().get(index, index)

    def aliases(self) -> dict[str, str]:
        """``aliases.json``, re-read only when it changed on disk, so an alias swapped by
        another process (a reindex beside a serving UI) is seen at once."""
        path = self.root / ALIASES_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        cached_key, aliases = self._alias_cache
        if cached_key != key:
            try:
                aliases = dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise BackendError(f"cannot read the alias record {path}: {exc}") from exc
            self._alias_cache = (key, aliases)
        return aliases

    def write_aliases(self, aliases: dict[str, str]) -> None:
        """Replace the alias record with one atomic rename: readers see the old record or
        the new one, never a part."""
        record = self.root / ALIASES_FILE
        write_private(record, json.dumps(aliases, indent=1, sort_keys=True).encode("utf-8"))

    # --- write blocks (``index.blocks.write`` on a cluster) ---------------------------------

    def _marker(self, index: str) -> Path:
        return self.paths(self.resolve(index))[0].with_suffix(".write-blocked")

    def block_writes(self, index: str, blocked: bool) -> None:
        marker = self._marker(index)
        if blocked:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

    def write_block(self, index: str) -> str | None:
        """Why writes to ``index`` are refused now, or None when they are not."""
        if self._marker(index).exists():
            return (
                f"index {index!r} is read-only while `es-visual reindex` finishes; "
                "run this again in a moment"
            )
        return None
