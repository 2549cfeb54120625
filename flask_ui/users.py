"""Who may log in: users from ``Settings.users`` plus a users file in the data dir.

``Settings.users`` is ``{name: {"password_hash": <werkzeug hash>, "groups": [...],
"tokens": [<sha256 hex of an API token>, ...]}}``. ``es-visual users add`` writes
the same shape to ``<data_dir>/users.json``; configured users win over the file
on a name clash. The file is re-read when it changes, so adding a user does not
need a restart. API tokens are stored only as SHA-256 digests: a leaked file
does not leak working tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from es_visual.private import private_dir

USERS_FILE = "users.json"
TOKEN_PREFIX = "esv_"
# Checked against when the user does not exist, so a wrong name costs as long as
# a wrong password and the response time does not tell which names exist.
_DUMMY_HASH = generate_password_hash("not a password")


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups


def users_file(data_dir: Path) -> Path:
    return Path(data_dir) / USERS_FILE


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserStore:
    """Thread-safe view of configured users plus the users file."""

    def __init__(self, configured: dict[str, Any], path: Path | None) -> None:
        self._configured = dict(configured or {})
        self._path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._from_file: dict[str, Any] = {}

    def _all(self) -> dict[str, Any]:
        with self._lock:
            if self._path is not None:
                try:
                    mtime = self._path.stat().st_mtime
                except FileNotFoundError:
                    mtime = None
                if mtime != self._mtime:
                    self._from_file = read_users(self._path) if mtime is not None else {}
                    self._mtime = mtime
            return {**self._from_file, **self._configured}

    def names(self) -> list[str]:
        return sorted(self._all())

    def get(self, name: str) -> User | None:
        entry = self._all().get(name)
        if not isinstance(entry, dict):
            return None
        return User(name=name, groups=tuple(str(g) for g in entry.get("groups") or ()))

    def credential(self, name: str) -> str:
        """The user's stored password hash ("" if none): a session stamp includes it, so a
        new password ends the sessions opened with the old one (flask_ui/sessions.py)."""
        entry = self._all().get(name)
        value = entry.get("password_hash") if isinstance(entry, dict) else None
        return value if isinstance(value, str) else ""

    def authenticate(self, name: str, password: str) -> User | None:
        entry = self._all().get(name)
        stored = entry.get("password_hash") if isinstance(entry, dict) else None
        ok = check_password_hash(stored or _DUMMY_HASH, password)
        return self.get(name) if ok and stored else None

    def by_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(token)
        for name, entry in self._all().items():
            for stored in (entry or {}).get("tokens") or ():
                value = stored.get("sha256") if isinstance(stored, dict) else stored
                if isinstance(value, str) and hmac.compare_digest(value, digest):
                    return self.get(name)
        return None


# --- the users file (written by `es-visual users`) ---------------------------------


def read_users(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid users file: {exc}") from exc
    users = data.get("users", {}) if isinstance(data, dict) else {}
    return users if isinstance(users, dict) else {}


def _write_users(path: Path, users: dict[str, Any]) -> None:
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Owner-only: the file holds password hashes.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"users": users}, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def add_user(path: Path, name: str, password: str, groups: list[str]) -> None:
    """Create or replace a user (keeps their API tokens when replacing)."""
    if not name or any(c in name for c in " :/\\"):
        raise ValueError(f"invalid user name {name!r}: no spaces, ':', '/' or '\\'")
    users = read_users(path)
    tokens = (users.get(name) or {}).get("tokens", [])
    users[name] = {
        "password_hash": generate_password_hash(password),
        "groups": sorted({g.strip() for g in groups if g.strip()}),
        "tokens": tokens,
    }
    _write_users(path, users)


def remove_user(path: Path, name: str) -> bool:
    users = read_users(path)
    if name not in users:
        return False
    del users[name]
    _write_users(path, users)
    return True


def new_token(path: Path, name: str, label: str = "") -> str:
    """A fresh API token for ``name``; only its digest is stored, so show it once."""
    users = read_users(path)
    if name not in users:
        raise KeyError(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    users[name].setdefault("tokens", []).append({"sha256": token_digest(token), "label": label})
    _write_users(path, users)
    return token
