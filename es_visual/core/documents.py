"""Plain records that cross the ingest/backend boundary.

They live below both layers so that ingest can hand updates to any store
without importing a backend, and every backend accepts the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VisualSpec:
    """What the ``visual`` mapping of an index is fixed to."""

    model: str  # "name@version" of the scene embedder
    dims: int
    face_model: str | None = None
    face_dims: int | None = None


@dataclass(frozen=True)
class DocUpdate:
    """A partial update: ``doc`` is merged into the stored document like
    Elasticsearch's ``_update`` with ``doc`` (objects merge key by key, lists and
    scalars are replaced). With ``upsert`` the document is created if missing.

    ``unset``: dotted fields removed from the stored document *before* ``doc`` is
    merged (a missing one is no error), so metadata a manifest no longer gives is
    removed, and an object it gives again replaces the old one instead of merging."""

    id: str
    doc: dict[str, Any]
    upsert: bool = True
    unset: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemError:
    id: str
    reason: str
    status: int | None = None  # HTTP status for cluster backends
    retryable: bool = False


@dataclass
class BulkResult:
    written: int = 0
    errors: list[ItemError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: a file name with undecodable bytes comes back
    from the OS as lone surrogates, which can be no document id on any backend."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def value_at(source: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``visual.media_type``) in a document, objects walked key
    by key, or None where the path stops. A key that is itself dotted, as a user's
    document may hold (``{"acl.read": [...]}``), is taken as it stands."""
    if isinstance(source, dict) and dotted in source:
        return source[dotted]
    value = source
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
