"""The JSON API under ``/api/`` (documented in docs/api.md).

Authenticated by the session cookie (the pages) or ``Authorization: Bearer``.
Errors are ``{"error": {"type", "message", ...}}`` with a matching status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from es_visual.core import schema
from es_visual.core.errors import (
    AmbiguousFaceError,
    EsVisualError,
    MediaError,
    NotFoundError,
    QuerySyntaxError,
    UnknownFieldError,
)
from flask_ui.auth import current_user
from flask_ui.errors import http_error, retry_after
from flask_ui.indexpage import index_info
from flask_ui.jobrunner import JobRefused
from flask_ui.jobs import job_view, start_job
from flask_ui.present import api_hit, metadata_rows, title_of
from flask_ui.queries import Query, readable_doc, run_search, video_segments
from flask_ui.state import get_state
from flask_ui.uploads import Upload

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, kind: str, message: str, **extra: Any) -> Any:
    response = jsonify(error={"type": kind, "message": message, **extra})
    response.status_code = status
    return response


@bp.errorhandler(EsVisualError)
def _es_visual_error(exc: EsVisualError) -> Any:
    """Every es-visual error, by the one table (flask_ui/errors.py) the pages use too."""
    found = http_error(exc)
    if found.status >= 500:
        current_app.logger.warning("%s %s: %s", request.method, request.path, exc)
    message, extra = found.message, _details(exc)
    if isinstance(exc, NotFoundError):
        message = "no such asset"
    elif isinstance(exc, MediaError):
        message = f"the uploaded file could not be read: {exc.reason}"
    elif isinstance(exc, AmbiguousFaceError):
        # Search faces by a picture with several: the caller picks one (``query_face``).
        message = f"{exc}; send query_face=N"
    response = error(found.status, found.type, message, **extra)
    response.headers.update(retry_after(found.status))
    return response


def _details(exc: EsVisualError) -> dict[str, Any]:
    """The fields beside ``type`` and ``message`` that let a client point at the problem."""
    if isinstance(exc, QuerySyntaxError):
        return {"pos": exc.pos, "expected": exc.expected, "found": exc.found}
    if isinstance(exc, UnknownFieldError):
        return {"field": exc.field}
    if isinstance(exc, AmbiguousFaceError):
        return {"faces": exc.faces}
    return {}


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Any:
    name = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, name, exc.description or "")


def _search_response(query: Query, upload: Upload | None = None) -> Any:
    state = get_state()
    result = run_search(state, current_user(), query, upload)
    body: dict[str, Any] = {
        "hits": [_paths_for_caller(api_hit(h)) for h in result.hits],
        "took_ms": round(result.took_ms, 2),
        "total": result.total,
        "next_cursor": result.next_cursor,
        "query": {"kind": query.kind, **query.to_args()},
    }
    if result.next_cursor:
        body["next_url"] = url_for(
            request.endpoint or "api.search",
            **{**(request.view_args or {}), **query.to_args(after=result.next_cursor)},
        )
    return jsonify(body)


@bp.route("/search", methods=["GET", "POST"])
def search() -> Any:
    """GET with query parameters, or POST multipart with an ``image`` file (and the
    same parameters as form fields) to search by an uploaded picture."""
    args = request.values
    query = Query.from_args(args)
    file = request.files.get("image")
    if file is not None:
        data = file.read()
        if not data:
            return error(400, "bad_image", "the uploaded file is empty")
        # Kept like the page's uploads (per caller, by content hash): next_url pages with
        # the token and the picture is embedded once.
        token = get_state().uploads.put(current_user().name, data)
        query = Query.from_args({**args.to_dict(), "upload": token, "after": args.get("after")})
    upload = get_state().uploads.entry(current_user().name, query.upload)
    return _search_response(query, upload)


@bp.route("/similar/<path:asset_id>")
def similar(asset_id: str) -> Any:
    query = Query.from_args({**request.args.to_dict(), "similar": asset_id})
    return _search_response(query)


@bp.route("/assets/<path:asset_id>")
def asset(asset_id: str) -> Any:
    state = get_state()
    doc = readable_doc(state, current_user(), asset_id)
    if doc is None:
        return error(404, "not_found", "no such asset")
    extra: dict[str, Any] = {}
    query = Query.from_args(request.args)
    if schema.visual_of(doc).get("media_type") == "video" and query.kind != "browse":
        # Search parameters given: where in this video the search matches.
        upload = state.uploads.entry(current_user().name, query.upload)
        found = video_segments(state, current_user(), query, asset_id, upload)
        extra["segments"] = [seg.to_dict() for seg in found]
    return jsonify(
        **extra,
        id=asset_id,
        title=title_of(asset_id, doc),
        source=_paths_for_caller({"source": doc})["source"],
        fields=dict(metadata_rows(doc)),
        thumbnail_url=url_for("media.thumb", asset_id=asset_id, size=320),
        original_url=url_for("media.original", asset_id=asset_id),
        page_url=url_for("assets.show", asset_id=asset_id),
    )


def _paths_for_caller(hit: dict[str, Any]) -> dict[str, Any]:
    """``visual.path`` is a server path: shown to admins only."""
    visual = schema.visual_of(hit.get("source"))
    if current_user().is_admin or not isinstance(visual, dict) or "path" not in visual:
        return hit
    visual = {k: v for k, v in visual.items() if k != "path"}
    return {**hit, "source": {**hit["source"], schema.ROOT: visual}}


def _admin_only() -> Any:
    if not current_user().is_admin:
        return error(403, "forbidden", "jobs and index stats are for members of the admin group")
    return None


@bp.route("/jobs", methods=["GET"])
def jobs() -> Any:
    denied = _admin_only()
    if denied is not None:
        return denied
    state = get_state()
    return jsonify(jobs=[job_view(state, j, current_user()) for j in state.jobs.list()])


@bp.route("/jobs", methods=["POST"])
def create_job() -> Any:
    denied = _admin_only()
    if denied is not None:
        return denied
    form = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    try:
        job = start_job(get_state(), current_user(), dict(form or {}))
    except JobRefused as exc:
        return error(400, "job_refused", str(exc))
    response = jsonify(job_view(get_state(), job, current_user()))
    response.status_code = 202
    response.headers["Location"] = url_for("api.job", job_id=job.id)
    return response


@bp.route("/jobs/<job_id>", methods=["GET"])
def job(job_id: str) -> Any:
    denied = _admin_only()
    if denied is not None:
        return denied
    found = get_state().jobs.get(job_id)
    if found is None:
        return error(404, "not_found", "no such job")
    return jsonify(job_view(get_state(), found, current_user()))


@bp.route("/index", methods=["GET"])
def index() -> Any:
    denied = _admin_only()
    if denied is not None:
        return denied
    return jsonify(index_info(get_state()))


@bp.route("/duplicates", methods=["GET"])
def duplicates() -> Any:
    """Exact and near-duplicate groups among the documents the caller may read."""
    from flask_ui.dups import find_groups

    denied = _admin_only()
    if denied is not None:
        return denied
    found = find_groups(get_state(), current_user(), request.args)
    if found["error"]:
        return error(400, "bad_request", found["error"])
    return jsonify(found["report"])
