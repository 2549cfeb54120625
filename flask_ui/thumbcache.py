"""The thumbnail cache on disk, kept within a size and a file count: least recently
used files go first.

Every distinct ``?size=`` and video ``?t=`` makes a file, so without a bound a
crawler (or anyone paging through a video's times) fills the disk. The cache
keeps an LRU list of its files: a hit moves the file to the end (and touches its
mtime, so the order survives a restart, which rebuilds the list from mtimes); a
new file goes to the end and the oldest are removed until both limits hold.

Per process: another worker evicts by its own list, so N workers keep at most N
times the limits; a file one of them removed is re-rendered by the next request.
Files are 0600 and folders 0700 (es_visual.private).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from es_visual.private import private_dir, write_private


class ThumbCache:
    def __init__(self, root: Path, *, max_bytes: int, max_files: int) -> None:
        self.root = Path(root)
        self.max_bytes, self.max_files = max_bytes, max_files
        self._files: OrderedDict[Path, int] | None = None  # path -> size, oldest first
        self._bytes = 0
        self._lock = threading.Lock()

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.jpg"

    def _index(self) -> OrderedDict[Path, int]:
        """The files already there (oldest use first), read once."""
        if self._files is None:
            found: list[tuple[float, Path, int]] = []
            if self.root.is_dir():
                for path in self.root.glob("*/*.jpg"):
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    found.append((st.st_mtime, path, st.st_size))
            found.sort()
            self._files = OrderedDict((path, size) for _, path, size in found)
            self._bytes = sum(self._files.values())
            self._evict()
        return self._files

    def get(self, digest: str) -> Path | None:
        path = self.path_for(digest)
        with self._lock:
            files = self._index()
            if not path.is_file():
                if path in files:
                    self._bytes -= files.pop(path)
                return None
            if path not in files:  # another worker made it
                files[path] = path.stat().st_size
                self._bytes += files[path]
            files.move_to_end(path)
        with contextlib.suppress(OSError):  # the LRU order, for the next process to read
            os.utime(path)
        return path

    def put(self, digest: str, data: bytes) -> Path:
        path = self.path_for(digest)
        private_dir(path.parent)
        write_private(path, data)
        with self._lock:
            files = self._index()
            self._bytes -= files.pop(path, 0)
            files[path] = len(data)
            self._bytes += len(data)
            self._evict(keep=path)
        return path

    def _evict(self, keep: Path | None = None) -> None:
        files = self._files
        assert files is not None
        while files and (len(files) > self.max_files or self._bytes > self.max_bytes):
            oldest = next(iter(files))
            if oldest == keep:  # a single thumbnail over the byte limit is still served
                break
            self._bytes -= files.pop(oldest)
            with contextlib.suppress(FileNotFoundError):
                oldest.unlink()

    @property
    def usage(self) -> tuple[int, int]:
        """(files, bytes) this process counts."""
        with self._lock:
            files = self._index()
            return len(files), self._bytes
