"""Session cookies that can be revoked: at logout and when the password changes.

Flask's session is a signed cookie, so the server keeps nothing to forget. Each
session therefore carries a stamp: an HMAC (keyed by the app's secret) of the
user's name, their current *epoch* and their password hash. ``load_user``
recomputes it on every request; a cookie whose stamp no longer matches is
dropped. Logging out draws a new random epoch for the user, which ends every
session of theirs (a copied cookie included); changing the password (``es-visual
users add`` again) changes the hash, which does the same with no step to forget.

Epochs live in ``<data_dir>/ui-sessions.json`` (0600), re-read when it changes,
so every worker process and a restart agree. A user never logged out has none.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from es_visual.private import private_dir

SESSIONS_FILE = "ui-sessions.json"
log = logging.getLogger(__name__)


class SessionEpochs:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime: int | None = None
        self._epochs: dict[str, str] | None = {}

    def _read(self) -> dict[str, str] | None:
        """The epochs; None when the file cannot be read (then no session is valid)."""
        with self._lock:
            try:
                mtime: int | None = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if mtime != self._mtime:
                self._epochs = _load(self.path) if mtime is not None else {}
                self._mtime = mtime
            return self._epochs

    def stamp(self, secret: str, user: str, credential: str) -> str:
        """What a session of ``user`` must carry while their epoch and password hold."""
        epochs = self._read()
        epoch = "\x00unreadable" if epochs is None else epochs.get(user, "")
        message = "\0".join((user, epoch, credential)).encode("utf-8")
        return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]

    def valid(self, stamp: Any, secret: str, user: str, credential: str) -> bool:
        if self._read() is None:
            return False
        return isinstance(stamp, str) and hmac.compare_digest(
            stamp, self.stamp(secret, user, credential)
        )

    def revoke(self, user: str) -> None:
        """End every session of ``user`` (a new epoch, written atomically under a lock)."""
        private_dir(self.path.parent)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # other workers revoking at the same moment
            epochs = _load(self.path) or {}  # an unreadable file is replaced
            epochs[user] = secrets.token_hex(8)
            tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(out, "w", encoding="utf-8") as fh:
                json.dump(epochs, fh, sort_keys=True)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)  # closing releases the lock


def _load(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("cannot read %s: every session is refused until it can be", path)
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None
