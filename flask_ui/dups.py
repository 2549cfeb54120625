"""Duplicates for the index page and ``/api/duplicates``: exact copies and near copies
(resized, re-encoded, mirrored) as groups with a suggested keeper, found by
``es_visual.duplicates.find_duplicates`` as the logged-in user, so a group never
shows (or counts) a document outside their ACL."""

from __future__ import annotations

from typing import Any

from flask import url_for

from es_visual.errors import QueryError, QuerySyntaxError, UnknownFieldError
from flask_ui.state import AppState
from flask_ui.users import User

MAX_GROUPS = 50
# Below this, "near" stops meaning "the same picture" for every model we ship.
MIN_THRESHOLD = 0.5


def parse_threshold(value: Any) -> float | None:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(threshold, MIN_THRESHOLD), 1.0)


def find_groups(state: AppState, user: User, args: Any) -> dict[str, Any]:
    """The duplicate report as the page and the API show it. ``args``: ``threshold``
    (cosine similarity, default the model's), ``where`` (a DSL expression), ``limit``."""
    from es_visual.duplicates import default_threshold, find_duplicates
    from es_visual.query.search import Search

    backend = state.backend()
    spec = backend.visual_spec(state.index)
    where = (args.get("where") or "").strip()[:2000]
    threshold = parse_threshold(args.get("threshold"))
    default = default_threshold(spec.model if spec else None)
    try:
        limit = min(max(int(args.get("limit") or MAX_GROUPS), 1), 500)
    except ValueError:
        limit = MAX_GROUPS
    out: dict[str, Any] = {
        "threshold": threshold if threshold is not None else default,
        "default_threshold": default,
        "where": where,
        "error": None,
        "report": None,
    }
    if spec is None:
        out["error"] = "No vectors in this index yet: ingest some media first."
        return out
    search = Search.from_settings(state.settings, state.index).as_user(
        user.name, groups=list(user.groups)
    )
    try:
        if where:
            search = search.where(where)
        report = find_duplicates(backend, search, threshold=out["threshold"], limit_groups=limit)
    except (QuerySyntaxError, UnknownFieldError, QueryError) as exc:
        out["error"] = str(exc)
        return out
    body = report.to_dict()
    for group in body["groups"]:
        for member in group["members"]:
            member["thumbnail_url"] = url_for("media.thumb", asset_id=member["id"], size=160)
            member["page_url"] = url_for("assets.show", asset_id=member["id"])
    body["reclaimable_bytes"] = sum(g["reclaimable_bytes"] for g in body["groups"])
    out["report"] = body
    return out
