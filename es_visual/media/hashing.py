"""Content hashes: the identity of an asset's bytes, for skip-unchanged and exact duplicates."""

from __future__ import annotations

import hashlib
from pathlib import Path


def content_hash(source: str | Path | bytes) -> str:
    """SHA-256 hex digest of a file (streamed) or of a buffer.

    A path that cannot be read raises ``OSError`` unchanged: the ingest runner
    reports it as a read failure, which it is, not as a bad image.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    with open(source, "rb") as fh:
        # file_digest streams through a reused buffer (readinto), never the whole file.
        return hashlib.file_digest(fh, "sha256").hexdigest()
