"""The opaque ``next_cursor`` string: the sort values of a page's last hit.

A cursor is URL-safe base64 of compact JSON, so it survives a query string and a
form field untouched. Backends encode ``Hit.sort`` of the last hit
(``encode_cursor``). What a user is handed is that cursor bound to its search
(``bind_cursor``): with a fingerprint of the index, filter, ACL, sort and vector
query, so that ``--after`` with another search's cursor (a different query, sort
or user) is refused with a message instead of silently paging through the wrong
results. The builder checks and opens it (``read_cursor``) into
``SearchRequest.after``. Nothing else should look inside.

The fingerprint leaves out what may change between pages of one search: the page
size, the source fields, aggregations, the kNN's k, and the bounds of a range (a
relative date, ``uploaded_at>7d``, is resolved anew on every page).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence

from es_visual.core.errors import CursorError
from es_visual.core.ir import Range, Scalar, SearchRequest


def encode_cursor(values: Sequence[Scalar | None]) -> str:
    """The cursor for the page after a hit whose sort values are ``values``."""
    raw = json.dumps(list(values), separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[Scalar | None, ...]:
    """The sort values inside ``cursor``; ``CursorError`` if ``encode_cursor`` did not make it."""
    values = _json(cursor)
    if not isinstance(values, list) or not all(_sort_value(v) for v in values):
        raise CursorError(f"malformed cursor {cursor[:40]!r}: not a list of sort values")
    return tuple(values)


def bind_cursor(cursor: str | None, request: SearchRequest) -> str | None:
    """A backend's ``cursor`` for the page after ``request``'s, bound to that search."""
    if cursor is None:
        return None
    bound = {"search": fingerprint(request), "after": list(decode_cursor(cursor))}
    raw = json.dumps(bound, separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def check_cursor(cursor: str) -> tuple[str, tuple[Scalar | None, ...]]:
    """(the search's fingerprint, the sort values) of a cursor ``bind_cursor`` made;
    ``CursorError`` for anything else."""
    bound = _json(cursor)
    if not (
        isinstance(bound, dict)
        and isinstance(bound.get("search"), str)
        and isinstance(bound.get("after"), list)
        and all(_sort_value(v) for v in bound["after"])
    ):
        raise CursorError(
            f"malformed cursor {cursor[:40]!r}: not the next_cursor of an es-visual search"
        )
    return bound["search"], tuple(bound["after"])


def read_cursor(cursor: str, request: SearchRequest) -> tuple[Scalar | None, ...]:
    """The sort values of ``cursor`` for ``request``; ``CursorError`` when the cursor
    came from another search."""
    search, values = check_cursor(cursor)
    if search != fingerprint(request):
        raise CursorError(
            "this cursor is the next page of another search (a different index, filter, "
            "sort, similarity query or user): give the same search its own next_cursor, "
            "or start again without one"
        )
    return values


def fingerprint(request: SearchRequest) -> str:
    """What a cursor is bound to (see the module's docstring)."""
    vector = request.vector
    if vector is not None:
        vector = dataclasses.replace(vector, k=0, num_candidates=0)
    shape = (request.index, request.filter, request.acl, request.sort, vector)
    return hashlib.sha256(repr(_shape(shape)).encode("utf-8")).hexdigest()[:20]


def _shape(value: object) -> object:
    """``value`` with every range's bounds left out (IR nodes are frozen dataclasses)."""
    if isinstance(value, Range):
        return ("Range", value.field)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple((f.name, _shape(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, tuple | list):
        return tuple(_shape(v) for v in value)
    return value


def _json(cursor: str) -> object:
    if not isinstance(cursor, str) or not cursor:
        raise CursorError("a cursor must be the non-empty next_cursor string of a previous result")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError(f"malformed cursor {cursor[:40]!r}: {exc}") from None


def _sort_value(value: object) -> bool:
    """A value a sort key can hold: no store compares a 70-bit integer or an infinity."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)
