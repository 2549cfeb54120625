"""Folders and files only their owner may open: the data dir holds every document,
vector, thumbnail, password hash and the UI's secret key.

Folders are created 0700 and files 0600 whatever the umask. A folder that
already exists keeps its mode (the user may have chosen it); docs/security.md
says how to tighten one made by an older version.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder; created 0700 (missing parents too) when it is not there."""
    path = Path(path)
    if path.is_dir():
        return path
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for created in missing:  # mkdir's mode passes through the umask, and parents skip it
        with contextlib.suppress(OSError):
            os.chmod(created, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if it is not there (for files another library then
    opens, such as SQLite's, which give new files 0644)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    return Path(path)


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a random temp name, then a rename), 0600:
    a reader never sees half a file, and nobody else ever can read it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def make_private(*paths: Path) -> None:
    """chmod files another library wrote (NumPy, faiss) to 0600."""
    for path in paths:
        os.chmod(path, FILE_MODE)
