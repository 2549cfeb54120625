"""The one table from es-visual's errors to HTTP answers, for the JSON API and the pages.

Whose fault decides the status: the caller's input (400), something the caller may
not see (404: a forbidden asset reads exactly like a missing one), a store that is
down, overloaded or missing a model here (503: the same request may work later), a
store that answered with an error (502). Forbidden (403) is not an es-visual error:
the admin-only routes answer it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from es_visual.core.errors import (
    AmbiguousFaceError,
    BackendBusyError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    CursorError,
    EsVisualError,
    MediaError,
    ModelMismatchError,
    ModelUnavailableError,
    NotFoundError,
    QueryError,
    QuerySyntaxError,
    UnknownFieldError,
)


@dataclass(frozen=True)
class HttpError:
    """How one kind of error is answered: ``status`` and the API's ``error.type``
    (``""``: the exception's class name, as docs/api.md lists for ``NoFaceError``)."""

    status: int
    type: str = ""
    # What a caller is told instead of the exception's text, for a failure on the
    # server's side (its text names hosts and indexes; the log keeps it). "": the text.
    message: str = ""


# Most specific first: the first class the exception is an instance of wins.
STATUS_TABLE: tuple[tuple[type[EsVisualError], HttpError], ...] = (
    (BackendBusyError, HttpError(503, "busy", "The search store is overloaded; try again soon.")),
    (
        BackendUnavailableError,
        HttpError(503, "unavailable", "The search store cannot be reached; try again soon."),
    ),
    (BackendError, HttpError(502, "backend_error", "The search store answered with an error.")),
    (
        ModelUnavailableError,
        HttpError(503, "model_unavailable", "A model this search needs cannot be loaded here."),
    ),
    (NotFoundError, HttpError(404, "not_found")),
    (QuerySyntaxError, HttpError(400, "syntax_error")),
    (UnknownFieldError, HttpError(400, "unknown_field")),
    (AmbiguousFaceError, HttpError(400, "several_faces")),
    (CursorError, HttpError(400)),
    (MediaError, HttpError(400, "bad_image")),
    (QueryError, HttpError(400)),
    (ModelMismatchError, HttpError(400)),
    (ConfigError, HttpError(400)),
)
# An es-visual error the table does not list: the request could not be served as asked.
DEFAULT = HttpError(400)

# Seconds a client should wait before asking again a store that is down or overloaded.
RETRY_AFTER_S = 5


def http_error(exc: EsVisualError) -> HttpError:
    """The status, type and message ``exc`` is answered with (every part filled in)."""
    found = next((e for cls, e in STATUS_TABLE if isinstance(exc, cls)), DEFAULT)
    return HttpError(found.status, found.type or type(exc).__name__, found.message or str(exc))


def status_of(exc: EsVisualError) -> int:
    return http_error(exc).status


def retry_after(status: int) -> dict[str, str]:
    """The headers of an answer with ``status``: ``Retry-After`` on a 503."""
    return {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else {}
