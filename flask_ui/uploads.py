"""Uploaded query pictures: each user's own, for a while, embedded once.

A picture is kept in memory (never on disk, never under a name the user chose)
under its content hash, per user: uploading the same file again gives the same
token, and one user's uploads never push out another's (each user has their own
item and byte budget; past the server-wide byte budget, the user holding the
most bytes loses their least recently used first). An entry lives ``ttl_s``
after its last use.

What is worked out from a picture (its query vector for the index's model, the
faces found in it) is kept with it (``Upload.derive``), so reloading a results
page, paging, or opening a video's timeline for the same picture never runs the
model again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
TOKEN_CHARS = 32  # hex characters of the sha256: 128 bits, no collision in practice


def upload_token(data: bytes) -> str:
    """The token of a picture: its content hash (the same bytes, the same token)."""
    return hashlib.sha256(data).hexdigest()[:TOKEN_CHARS]


@dataclass
class Upload:
    token: str
    data: bytes
    last_used: float
    derived: dict[Hashable, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derive(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s value for ``key``, computed once per upload (a failure is not
        kept: the next request tries again and gets the same clear error)."""
        with self.lock:  # two tabs asking at once: one computes, the other waits for it
            if key not in self.derived:
                self.derived[key] = compute()
            return self.derived[key]  # type: ignore[no-any-return]


class UploadCache:
    def __init__(
        self,
        *,
        ttl_s: float = 3600.0,
        per_user_items: int = 12,
        per_user_bytes: int = 96 * 1024 * 1024,
        total_bytes: int = 512 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.per_user_items, self.per_user_bytes = per_user_items, per_user_bytes
        self.total_bytes = total_bytes
        self._clock = clock
        self._users: dict[str, OrderedDict[str, Upload]] = {}  # oldest use first
        self._lock = threading.Lock()

    def put(self, user: str, data: bytes) -> str:
        """Keep ``data`` for ``user``; its token (the same for the same bytes)."""
        token = upload_token(data)
        now = self._clock()
        with self._lock:
            self._expire(now)
            mine = self._users.setdefault(user, OrderedDict())
            found = mine.get(token)
            if found is not None:  # the same picture again: keep what was worked out
                found.last_used = now
                mine.move_to_end(token)
                return token
            mine[token] = Upload(token, bytes(data), now)
            while len(mine) > self.per_user_items or (
                len(mine) > 1 and _size(mine) > self.per_user_bytes
            ):
                mine.popitem(last=False)
            self._fit_total(keep=(user, token))
        return token

    def entry(self, user: str, token: str) -> Upload | None:
        """``user``'s upload ``token`` if it is still kept (its use refreshes it)."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            self._expire(now)
            mine = self._users.get(user)
            found = mine.get(token) if mine else None
            if found is None or mine is None:
                return None
            found.last_used = now
            mine.move_to_end(token)
            return found

    def get(self, user: str, token: str) -> bytes | None:
        found = self.entry(user, token)
        return found.data if found is not None else None

    def usage(self) -> dict[str, tuple[int, int]]:
        """user -> (items, bytes) now kept (for tests and the index page)."""
        with self._lock:
            self._expire(self._clock())
            return {u: (len(m), _size(m)) for u, m in self._users.items()}

    def _expire(self, now: float) -> None:
        for user in list(self._users):
            mine = self._users[user]
            while mine and now - next(iter(mine.values())).last_used > self.ttl_s:
                mine.popitem(last=False)
            if not mine:
                del self._users[user]

    def _fit_total(self, keep: tuple[str, str]) -> None:
        """Past the server-wide budget, the user holding the most bytes gives up their
        least recently used upload, until it fits (the one just put is kept)."""
        while sum(_size(m) for m in self._users.values()) > self.total_bytes:
            user = max(self._users, key=lambda u: _size(self._users[u]))
            mine = self._users[user]
            oldest = next(iter(mine))
            if (user, oldest) == keep:
                break
            mine.popitem(last=False)
            if not mine:
                del self._users[user]


def _size(uploads: OrderedDict[str, Upload]) -> int:
    return sum(len(u.data) for u in uploads.values())
