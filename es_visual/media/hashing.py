"""Content hashes: the identity of an asset's bytes, for skip-unchanged and exact duplicates."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path


def content_hash(source: str | Path | bytes) -> str:
    """SHA-256 hex digest of a file (streamed) or of a buffer.

    A path that cannot be read raises ``OSError`` unchanged: the ingest runner
    reports it as a read failure, which it is, not as a bad image.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer.
    with open(source, "rb", opener=_open_nonblocking) as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(
                errno.EINVAL, "not a regular file (a FIFO, socket or device)", str(source)
            )
        # file_digest streams through a reused buffer (readinto), never the whole file.
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
