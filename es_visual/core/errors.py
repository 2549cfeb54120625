"""One exception tree for the whole package.

Each error also inherits the built-in it refines, so callers that only know
Python's own exceptions still catch it. The CLI and the UI translate these into
exit codes and messages at their own edge; nothing below them prints.
"""

from __future__ import annotations


class EsVisualError(Exception):
    """Base of every error es-visual raises on purpose."""


class ConfigError(EsVisualError, ValueError):
    """A setting is missing, malformed or contradicts another."""


class MediaError(EsVisualError, ValueError):
    """A file cannot be read as an image or video (corrupt, too large, unsupported)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class ModelUnavailableError(EsVisualError, RuntimeError):
    """A model's code or weights cannot be loaded here; the message says how to provide them."""


class QuerySyntaxError(EsVisualError, ValueError):
    """A DSL expression does not parse.

    ``pos`` is the 0-based column, ``expected`` what the parser wanted there and
    ``found`` what it saw; ``str()`` shows the expression with a caret under ``pos``.
    """

    def __init__(self, text: str, pos: int, expected: str, found: str) -> None:
        self.text, self.pos, self.expected, self.found = text, pos, expected, found
        caret = " " * pos + "^"
        super().__init__(
            f"syntax error at column {pos + 1}: expected {expected}, found {found}\n"
            f"  {text}\n  {caret}"
        )


class UnknownFieldError(EsVisualError, KeyError):
    """A DSL expression names a field the field map does not know."""

    def __init__(self, field: str, known: list[str]) -> None:
        self.field, self.known = field, known
        super().__init__(field)

    def __str__(self) -> str:
        return f"unknown field {self.field!r}; known fields: {', '.join(sorted(self.known))}"


class QueryError(EsVisualError, ValueError):
    """A query is well-formed but cannot run as asked (bad argument combination, bad value)."""


class QueryValueError(QueryError):
    """A value in a DSL expression does not fit its field (not a date, a date outside the
    calendar, a number beyond 64 bits, a range on a text field). ``pos`` is the value's
    0-based column in ``text``; ``str()`` puts a caret under it, as for a syntax error."""

    def __init__(self, message: str, *, text: str = "", pos: int = 0) -> None:
        self.text, self.pos = text, pos
        if text:
            message += f"\n  {text}\n  {' ' * pos}^"
        super().__init__(message)


class CursorError(QueryError):
    """A ``next_cursor`` that is malformed or belongs to another search (other sort
    keys, a vector search's cursor on a filter search)."""


class NotFoundError(EsVisualError, LookupError):
    """An asset does not exist, or the caller may not read it: the two are never told apart."""


class ModelMismatchError(EsVisualError, ValueError):
    """A vector or an ingest uses a model (or dims) other than the index's."""


class BackendError(EsVisualError, RuntimeError):
    """The store or cluster failed: unreachable, refused, or answered an error."""


class BackendUnavailableError(BackendError, ConnectionError):
    """The cluster cannot be reached at all (connection refused, DNS, TLS, timeout)."""


class BackendBusyError(BackendError):
    """The cluster kept answering 429 (too many requests) after every backoff: it is
    overloaded, not broken; the same request may succeed later (``watch`` waits)."""


class NoFaceError(QueryError):
    """A face search by a picture found no face in it."""


class AmbiguousFaceError(QueryError):
    """A face search by a picture with several faces, and no choice of which one.

    ``faces`` lists them, most confident first, each ``{"index", "bbox", "score"}``
    (``bbox`` normalized ``[x0, y0, x1, y1]``), so a caller can let its user pick one
    (``Search.query_face(n)``, the CLI's ``--query-face N``, the UI's boxes)."""

    def __init__(self, faces: list[dict[str, object]]) -> None:
        self.faces = faces
        listed = "; ".join(
            f"#{f['index']} at [{', '.join(f'{v:.2f}' for v in f['bbox'])}]"  # type: ignore[attr-defined]
            for f in faces
        )
        super().__init__(
            f"the picture has {len(faces)} faces ({listed}): choose one with query_face(N)"
        )
