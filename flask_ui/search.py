"""The search page: browse, by text, by uploaded image, find similar, region and face.

The form POSTs (it may carry a file and needs CSRF), the server keeps an upload
in memory under a random token and redirects to a GET URL, so results pages
can be reloaded, paged and shared like any link.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from es_visual.core import schema
from es_visual.core.errors import (
    AmbiguousFaceError,
    MediaError,
    ModelMismatchError,
    ModelUnavailableError,
    NotFoundError,
    QueryError,
    QuerySyntaxError,
    UnknownFieldError,
)
from es_visual.query.search import Search
from flask_ui import browse
from flask_ui.auth import current_user
from flask_ui.present import hit_card
from flask_ui.queries import (
    Query,
    person_names,
    query_face_boxes,
    run_search,
    text_search_support,
)
from flask_ui.state import get_state

bp = Blueprint("search", __name__)


def expression_error(exc: Exception) -> dict[str, Any]:
    """A DSL error as the page shows it under the expression box."""
    if isinstance(exc, QuerySyntaxError):
        return {
            "message": f"Expected {exc.expected}, found {exc.found}",
            "pos": exc.pos,
            "text": exc.text,
            "before": exc.text[: exc.pos],
            "at": exc.text[exc.pos : exc.pos + 1] or " ",
            "after": exc.text[exc.pos + 1 :],
            "caret": str(exc),
        }
    return {"message": str(exc), "pos": None}


@bp.route("/", methods=["GET"])
def home() -> Any:
    state = get_state()
    user = current_user()
    query = Query.from_args(request.args)
    spec = state.backend().cached_spec(state.index)
    text_ok, text_reason = text_search_support(state) if spec else (False, "")
    upload = state.uploads.entry(user.name, query.upload)
    cards: list[dict[str, Any]] = []
    error: str | None = None
    where_error: dict[str, Any] | None = None
    result = None
    empty_note: str | None = None
    started = time.perf_counter()
    try:
        result = run_search(state, user, query, upload)
        link_args = query.to_args() if query.kind != "browse" else None
        names = person_names(state, result)
        cards = [hit_card(h, link_args, names) for h in result.hits]
        field = browse.date_field(Search.for_index(state.settings, state.backend(), state.index))
        cards = browse.with_groups(cards, result.hits, query, field)
        empty_note = _empty_target_note(state, query, result)
    except NotFoundError:
        abort(404)
    except (
        QueryError,
        MediaError,
        ModelUnavailableError,
        ModelMismatchError,
        UnknownFieldError,
        QuerySyntaxError,
    ) as exc:
        # Shown on the page, under the box it concerns: the page answers (200) with the
        # form to correct it; the API gives these their status (flask_ui/errors.py), and
        # what the page does not show itself, the app's handler answers by that table.
        if isinstance(exc, AmbiguousFaceError):
            error = f"Your picture has {len(exc.faces)} faces: click the one to search for."
        elif isinstance(exc, (QuerySyntaxError, UnknownFieldError)):
            where_error = expression_error(exc)
        elif isinstance(exc, MediaError):
            error = f"The uploaded file could not be read as an image: {exc.reason}"
        else:
            error = str(exc)
    # What the user waited for: embedding the query included, not only the store's time.
    latency_ms = (time.perf_counter() - started) * 1000
    subject = query.subject
    return render_template(
        "search.html",
        query=query,
        latency_ms=latency_ms,
        sort=browse.effective_sort(query),
        sorts=browse.SORTS,
        groups=browse.GROUPS,
        pager=browse.pager(query, result, len(cards)) if result is not None else None,
        media_counts=browse.media_counts(state, user, query) if spec else None,
        query_faces=query_face_boxes(state, query, upload),
        spec=spec,
        text_ok=text_ok,
        text_reason=text_reason,
        cards=cards,
        result=result,
        error=error,
        empty_note=empty_note,
        where_error=where_error,
        subject=subject,
        upload_url=url_for("media.upload", token=query.upload) if upload else None,
    )


def _empty_target_note(state: Any, query: Query, result: Any) -> str | None:
    """Match on regions, faces or frames found nothing because the index holds none of
    them: say so, and which presets add them (``preset_targets.empty_target_note``)."""
    if result.hits or query.kind == "browse" or query.on not in schema.CHILD_TARGETS:
        return None
    from es_visual.ingest.preset_targets import empty_target_note

    return empty_target_note(state.backend(), state.index, query.on, state.settings)


@bp.route("/", methods=["POST"])
def submit() -> Any:
    """The search form: keep an uploaded image in memory, then redirect to a GET URL."""
    state = get_state()
    form = request.form
    query = Query.from_args(form)
    changes: dict[str, Any] = {"after": ""}
    file = request.files.get("image")
    if file is not None and file.filename:
        data = file.read()
        if data:
            token = state.uploads.put(current_user().name, data)
            # A new picture replaces whatever the search started from before.
            changes.update(
                upload=token, similar="", region="", bbox=None, face="", text="", query_face=None
            )
    elif form.get("clear_subject") or query.text:
        # One thing to search by at a time: typed text replaces the picture.
        changes.update(upload="", similar="", region="", bbox=None, face="")
    return redirect(url_for("search.home", **query.to_args(**changes)), code=303)
