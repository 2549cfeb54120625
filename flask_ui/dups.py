"""Duplicates in the UI: the groups on the index page and ``/api/duplicates``, and acting
on them (bulk tag or delete, after a confirmation page that lists what will happen).

Everything runs as the logged-in user: groups come from ``find_duplicates`` with their
ACL (a group never shows or counts a document they cannot read), and a copy can only
be selected, confirmed and changed when they may write it
(``AclPolicy.writable_filter``). The confirmation and the action both recompute the
groups and the plan on the server: the browser only sends which ids were ticked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request, url_for

from es_visual.core.errors import QueryError, QuerySyntaxError, UnknownFieldError
from flask_ui.auth import admin_required, current_user
from flask_ui.state import AppState, get_state
from flask_ui.users import User

bp = Blueprint("dups", __name__)

MAX_GROUPS = 50
# Below this, "near" stops meaning "the same picture" for every model we ship (the hash
# and pixel checks still apply at any threshold).
MIN_THRESHOLD = 0.5
MAX_IDS = 5000


def parse_threshold(value: Any) -> float | None:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(threshold, MIN_THRESHOLD), 1.0)


def _flag(value: Any) -> bool:
    return str(value or "").lower() in ("1", "true", "on", "yes")


def writable_filter(state: AppState, user: User) -> Any:
    from es_visual.query.acl import AclPolicy

    return AclPolicy.from_settings(state.settings).writable_filter(user.name, user.groups)


def find_groups(state: AppState, user: User, args: Any) -> dict[str, Any]:
    """The duplicate report as the page and the API show it. ``args``: ``threshold``
    (cosine similarity, default the model's), ``where`` (a DSL expression), ``mirrored``,
    ``limit``. Each member says whether this user may change it (``writable``)."""
    from es_visual.dup_actions import copy_reason, existing_ids
    from es_visual.duplicates import default_threshold, find_duplicates
    from es_visual.query.params import SearchParams, build_search

    backend = state.backend()
    spec = backend.cached_spec(state.index)
    where = (args.get("where") or "").strip()[:2000]
    threshold = parse_threshold(args.get("threshold"))
    default = default_threshold(spec.model if spec else None)
    mirrored = _flag(args.get("mirrored"))
    try:
        limit = min(max(int(args.get("limit") or MAX_GROUPS), 1), 500)
    except ValueError:
        limit = MAX_GROUPS
    out: dict[str, Any] = {
        "threshold": threshold if threshold is not None else default,
        "default_threshold": default,
        "where": where,
        "mirrored": mirrored,
        "error": None,
        "report": None,
        "raw": None,
    }
    if spec is None:
        out["error"] = "No vectors in this index yet: ingest some media first."
        return out
    # The same SearchParams -> Search as the search page, the API and the CLI.
    params = SearchParams(where=where, user=user.name, groups=tuple(user.groups))
    try:
        search = build_search(state.settings, backend, params)
        report = find_duplicates(
            backend, search, threshold=out["threshold"], mirrored=mirrored, limit_groups=limit
        )
    except (QuerySyntaxError, UnknownFieldError, QueryError) as exc:
        out["error"] = str(exc)
        return out
    copies = [m.id for g in report.groups for m in g.members[1:]]
    may_write = existing_ids(backend, state.index, copies, writable_filter(state, user))
    body = report.to_dict()
    for group, raw in zip(body["groups"], report.groups, strict=True):
        for member, m in zip(group["members"], raw.members, strict=True):
            member["thumbnail_url"] = url_for("media.thumb", asset_id=member["id"], size=160)
            member["page_url"] = url_for("assets.show", asset_id=member["id"])
            member["writable"] = not m.keeper and m.id in may_write
            member["why"] = "" if m.keeper else copy_reason(m)
    body["reclaimable_bytes"] = sum(g["reclaimable_bytes"] for g in body["groups"])
    body["selectable"] = sum(1 for g in body["groups"] for m in g["members"] if m["writable"])
    out["report"] = body
    out["raw"] = report
    return out


def _plan(state: AppState, user: User, values: Any, ids: list[str]) -> tuple[Any, Any]:
    """The groups recomputed as ``user`` with the page's settings, and the plan for ``ids``."""
    from es_visual.dup_actions import plan_actions

    found = find_groups(state, user, values)
    if found["error"]:
        raise QueryError(found["error"])
    action = values.get("action") or ""
    tag = (values.get("tag") or "duplicate").strip()[:100]
    plan = plan_actions(
        state.backend(),
        found["raw"],
        action,
        writable=writable_filter(state, user),
        ids=ids,
        tag=tag,
    )
    return found, plan


def _ids(values: Any) -> list[str]:
    getter = getattr(values, "getlist", None)
    raw = getter("ids") if getter else values.get("ids") or []
    ids = [str(i) for i in raw if str(i).strip()][:MAX_IDS]
    return list(dict.fromkeys(ids))


def journal_dir(state: AppState) -> Path:
    return Path(state.settings.data_dir) / "journal"


@bp.route("/index/duplicates/confirm", methods=["POST"])
@admin_required
def confirm() -> Any:
    """What the ticked copies will undergo, for the user to confirm: nothing changes yet."""
    state = get_state()
    ids = _ids(request.form)
    if not ids:
        abort(400, "Tick at least one copy first.")
    try:
        _found, plan = _plan(state, current_user(), request.form, ids)
    except QueryError as exc:
        abort(400, str(exc))
    return render_template("dups_confirm.html", plan=plan, form=request.form, thumbs=_thumbs(plan))


@bp.route("/index/duplicates/apply", methods=["POST"])
@admin_required
def apply() -> Any:
    """Do it: the plan is made again here (permissions checked again), journal first."""
    from es_visual.dup_actions import apply_plan

    state = get_state()
    user = current_user()
    ids = _ids(request.form)
    if not ids:
        abort(400, "Nothing to do: no copies were selected.")
    try:
        _found, plan = _plan(state, user, request.form, ids)
    except QueryError as exc:
        abort(400, str(exc))
    result = apply_plan(
        state.backend(),
        plan,
        journal_dir=journal_dir(state),
        writable=writable_filter(state, user),
        readable=_readable(state, user),
        by=user.name,
    )
    return render_template(
        "dups_done.html",
        plan=plan,
        result=result,
        journal=Path(result.journal).name if result.journal else None,
    )


@bp.route("/index/duplicates/undo", methods=["POST"])
@admin_required
def undo_view() -> Any:
    """Take back one of the user's own journals (tags off, deleted documents back)."""
    from es_visual.dup_actions import undo

    state = get_state()
    path = _own_journal(state, current_user(), request.form.get("journal") or "")
    undone = undo(state.backend(), path, writable=writable_filter(state, current_user()))
    return render_template("dups_done.html", undone=undone, plan=None, result=None, journal=None)


@bp.route("/api/duplicates/apply", methods=["POST"])
def api_apply() -> Any:
    """JSON: ``{"action": "tag"|"delete", "ids": [...], "dry_run": bool, "tag": ...,
    "threshold": ..., "where": ..., "mirrored": ...}`` -> the plan and what was done."""
    from es_visual.dup_actions import apply_plan
    from flask_ui.api import error

    user = current_user()
    if not user.is_admin:
        return error(403, "forbidden", "acting on duplicates is for members of the admin group")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "bad_request", "send a JSON object")
    ids = _ids(body)
    if not ids:
        return error(400, "bad_request", "ids: the copies to act on")
    state = get_state()
    try:
        _found, plan = _plan(state, user, body, ids)
    except QueryError as exc:
        return error(400, "bad_request", str(exc))
    result = apply_plan(
        state.backend(),
        plan,
        journal_dir=journal_dir(state),
        writable=writable_filter(state, user),
        readable=_readable(state, user),
        dry_run=bool(body.get("dry_run")),
        by=user.name,
    )
    out = {"plan": plan.to_dict(), "result": result.to_dict()}
    if result.journal:
        out["result"]["journal"] = Path(result.journal).name  # not the server's paths
    return jsonify(out)


def _readable(state: AppState, user: User) -> Any:
    from flask_ui.queries import acl_node

    return acl_node(state.settings, user)


def _own_journal(state: AppState, user: User, name: str) -> Path:
    """A journal file by bare name, in the journal folder, written by ``user``."""
    from es_visual.dup_actions import read_journal

    folder = journal_dir(state)
    path = folder / name
    if not name or Path(name).name != name or not path.is_file():
        abort(404, "No such journal.")
    try:
        header, _entries = read_journal(path)
    except QueryError:
        abort(404, "No such journal.")
    if header.get("by") != user.name:
        abort(403, "Only who made a change can undo it here.")
    return path


def _thumbs(plan: Any) -> dict[str, str]:
    return {i.id: url_for("media.thumb", asset_id=i.id, size=160) for i in plan.items if i.allowed}
