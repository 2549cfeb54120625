"""The opaque ``next_cursor`` string: the sort values of a page's last hit.

A cursor is URL-safe base64 of compact JSON, so it survives a query string and a
form field untouched. Backends encode ``Hit.sort`` of the last hit; the builder
decodes it back into ``SearchRequest.after``. Nothing else should look inside.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence

from es_visual.core.errors import CursorError
from es_visual.core.ir import Scalar


def encode_cursor(values: Sequence[Scalar | None]) -> str:
    """The cursor for the page after a hit whose sort values are ``values``."""
    raw = json.dumps(list(values), separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[Scalar | None, ...]:
    """The sort values inside ``cursor``; ``CursorError`` if ``encode_cursor`` did not make it."""
    if not isinstance(cursor, str) or not cursor:
        raise CursorError("a cursor must be the non-empty next_cursor string of a previous result")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError(f"malformed cursor {cursor[:40]!r}: {exc}") from None
    if not isinstance(values, list) or not all(_sort_value(v) for v in values):
        raise CursorError(f"malformed cursor {cursor[:40]!r}: not a list of sort values")
    return tuple(values)


def _sort_value(value: object) -> bool:
    """A value a sort key can hold: no store compares a 70-bit integer or an infinity."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)
