"""People: one face per person, their photos and video moments; name, merge, split.

Every read runs as the logged-in user (``es_visual.people.service`` with their ACL
filter): a person appears only through documents the user may read, and a person
none of whose faces the user may see is a plain 404, like a missing one. Changing
people (name, merge, split) rewrites what every user sees, so it is for members of
the admin group, through POST forms with CSRF or the JSON API with a token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from es_visual.core import schema
from es_visual.core.errors import EsVisualError, NotFoundError
from flask_ui.auth import current_user
from flask_ui.present import crop_view, fmt_time, title_of
from flask_ui.queries import acl_node, people_registry
from flask_ui.state import get_state

bp = Blueprint("people", __name__)
PAGE = 48  # photos of a person per page


def _people() -> Any:
    from es_visual.people.service import People

    state = get_state()
    return People(state.backend(), state.index, people_registry(state))


def _acl() -> Any:
    return acl_node(get_state().settings, current_user())


def face_tile(asset: str, source: dict[str, Any], face: Any, size: int = 320) -> dict[str, Any]:
    """A face cut out of its picture as a square SVG window (no inline styles: the CSP)."""
    visual = schema.visual_of(source)
    width, height = visual.get("width"), visual.get("height")
    t = face.t if visual.get("media_type") == "video" else None
    return {
        "asset": asset,
        "index": face.index,
        "t": face.t,
        "when": fmt_time(face.t) if face.t is not None else "",
        "width": width,
        "height": height,
        "view": crop_view(face.bbox, width, height, aspect=1.0, zoom=1.8),
        "thumb": url_for("media.thumb", asset_id=asset, size=size, t=f"{t:.3f}" if t else None),
        "url": url_for("assets.show", asset_id=asset, t=f"{t:.3f}" if t else None),
    }


def _summary_dict(person: Any, cover_source: dict[str, Any] | None) -> dict[str, Any]:
    out = {
        "id": person.id,
        "name": person.name,
        "label": person.label,
        "assets": person.assets,
        "url": url_for("people.show", person=person.id),
        "cover": None,
    }
    if person.cover is not None and cover_source is not None:
        out["cover"] = face_tile(person.cover.asset, cover_source, person.cover)
    return out


def _cover_source(asset: str) -> dict[str, Any] | None:
    state = get_state()
    return state.backend().get(state.index, asset, acl=_acl())


@bp.route("/people")
def page() -> Any:
    people = _people().list(acl=_acl())
    wanted = (request.args.get("q") or "").strip().lower()
    if wanted:
        people = [p for p in people if wanted in (p.name or "").lower() or wanted in p.id]
    cards = [_summary_dict(p, _cover_source(p.cover.asset) if p.cover else None) for p in people]
    return render_template("people.html", people=cards, q=request.args.get("q") or "")


def _person_view(value: str) -> dict[str, Any]:
    """Everything the person page and its API show, as the caller."""
    from es_visual.core.ir import SearchRequest, Terms

    ppl = _people()
    acl = _acl()
    try:
        person = ppl.get(value, acl=acl)
    except NotFoundError:
        abort(404)
    ids = tuple(ppl.registry.aliases(ppl.index, person.id))
    after = request.args.get("after")
    from es_visual.core.cursor import decode_cursor, encode_cursor

    try:
        cursor = tuple(decode_cursor(after)) if after else None
    except EsVisualError:
        abort(400, "bad page cursor")
    result = ppl.backend.search(
        SearchRequest(
            index=ppl.index,
            filter=Terms(schema.PERSONS_FIELD, ids),
            acl=acl,
            size=PAGE,
            after=cursor,
        )
    )
    items = []
    for hit in result.hits:
        seen = ppl.in_asset(hit.id, hit.source, person.id)
        visual = schema.visual_of(hit.source)
        items.append(
            {
                "id": hit.id,
                "title": title_of(hit.id, hit.source),
                "media_type": visual.get("media_type") or "image",
                "duration": visual.get("duration"),
                "faces": [face_tile(hit.id, hit.source, f, size=640) for f in seen.faces[:1]],
                "all_faces": [f.to_dict() for f in seen.faces],
                "segments": [s.to_dict() for s in seen.segments],
                "moments": [
                    {
                        "start": s.start,
                        "end": s.end,
                        "label": f"{fmt_time(s.start)}–{fmt_time(s.end)}",
                    }
                    for s in seen.segments
                ],
            }
        )
    cover = _cover_source(person.cover.asset) if person.cover else None
    return {
        "person": _summary_dict(person, cover),
        "items": items,
        "next": encode_cursor(result.hits[-1].sort) if result.next_cursor and result.hits else None,  # type: ignore[arg-type]
    }


@bp.route("/people/<person>")
def show(person: str) -> Any:
    view = _person_view(person)
    return render_template("person.html", **view)


def _admin() -> None:
    if not current_user().is_admin:
        abort(403, "Naming, merging and splitting people is for members of the admin group.")


def _visible(value: str) -> str:
    """The id of a person the admin can see (their own reads obey the ACL too)."""
    try:
        return _people().get(value, acl=_acl()).id
    except NotFoundError:
        abort(404)


@bp.route("/people/<person>/name", methods=["POST"])
def name(person: str) -> Any:
    _admin()
    pid = _visible(person)
    try:
        _people().name(pid, request.form.get("name") or None)
        flash("Name saved.", "ok")
    except EsVisualError as exc:
        flash(str(exc), "error")
    return redirect(url_for("people.show", person=pid), code=303)


@bp.route("/people/<person>/merge", methods=["POST"])
def merge(person: str) -> Any:
    _admin()
    pid = _visible(person)
    other = (request.form.get("other") or "").strip()
    try:
        _visible(other) if other else abort(400, "Name the person to merge in.")
        into, written = _people().merge(pid, [other])
        flash(f"Merged: {written} photo(s) and video(s) now show this person.", "ok")
    except EsVisualError as exc:
        flash(str(exc), "error")
        into = pid
    return redirect(url_for("people.show", person=into), code=303)


def _not_theirs(pid: str, picked: list[tuple[str, int]]) -> str | None:
    """The first of ``picked`` that is not a face of ``pid`` on a document the caller may
    read (a split moves only faces the admin can see), or None."""
    ppl = _people()
    ids = set(ppl.registry.aliases(ppl.index, pid))
    state = get_state()
    for asset, index in picked:
        doc = state.backend().get(state.index, asset, acl=_acl())
        faces = schema.visual_of(doc).get("faces") or []
        if not 0 <= index < len(faces) or faces[index].get("person") not in ids:
            return f"{asset}:{index}"
    return None


@bp.route("/people/<person>/split", methods=["POST"])
def split(person: str) -> Any:
    _admin()
    pid = _visible(person)
    picked = []
    for ref in request.form.getlist("face"):
        asset, sep, number = ref.rpartition(":")
        if sep and asset and number.isdigit():
            picked.append((asset, int(number)))
    ppl = _people()
    bad = _not_theirs(pid, picked)
    if bad:
        abort(400, f"{bad} is not a face of this person")
    if not picked:
        flash("Tick the faces that are not this person, then split.", "error")
        return redirect(url_for("people.show", person=pid), code=303)
    new, _ = ppl.split(picked, name=(request.form.get("name") or None))
    flash(f"{len(picked)} face(s) moved to a new person.", "ok")
    return redirect(url_for("people.show", person=new), code=303)


# --- JSON API (docs/api.md) ----------------------------------------------------------------


@bp.route("/api/people")
def api_list() -> Any:
    people = _people().list(acl=_acl())
    return jsonify(
        people=[{**p.to_dict(), "url": url_for("people.api_show", person=p.id)} for p in people]
    )


@bp.route("/api/people/<person>")
def api_show(person: str) -> Any:
    view = _person_view(person)
    body = {
        **{k: v for k, v in view["person"].items() if k != "cover"},
        "assets": [
            {
                "id": i["id"],
                "media_type": i["media_type"],
                "faces": i["all_faces"],
                "segments": i["segments"],
                "asset_url": url_for("api.asset", asset_id=i["id"]),
            }
            for i in view["items"]
        ],
        "total": view["person"]["assets"],
    }
    if view["next"]:
        body["next_url"] = url_for(
            "people.api_show", person=view["person"]["id"], after=view["next"]
        )
    return jsonify(body)


@bp.route("/api/people/<person>", methods=["POST"])
def api_change(person: str) -> Any:
    """``{"name": "..."}``, ``{"merge": ["other", ...]}`` or ``{"split": ["ASSET:N", ...],
    "name": "..."}`` (admins)."""
    if not current_user().is_admin:
        return _api_error(403, "forbidden", "changing people is for members of the admin group")
    body = request.get_json(silent=True) or {}
    try:
        pid = _people().get(person, acl=_acl()).id
        if "merge" in body:
            others = [str(o) for o in body.get("merge") or []]
            for other in others:
                _people().get(other, acl=_acl())
            pid, written = _people().merge(pid, others)
            return jsonify(id=pid, rewritten=written)
        if "split" in body:
            refs = []
            for ref in body.get("split") or []:
                asset, _, number = str(ref).rpartition(":")
                if not asset or not number.isdigit():
                    return _api_error(400, "bad_request", f"{ref!r} is not ASSET:N")
                refs.append((asset, int(number)))
            bad = _not_theirs(pid, refs)
            if bad:
                return _api_error(400, "bad_request", f"{bad} is not a face of this person")
            new, written = _people().split(refs, name=body.get("name"))
            return jsonify(id=new, rewritten=written)
        if "name" in body:
            _people().name(pid, body.get("name"))
            return jsonify(id=pid, name=body.get("name") or None)
    except NotFoundError:
        return _api_error(404, "not_found", "no such person")
    except EsVisualError as exc:
        return _api_error(400, exc.__class__.__name__, str(exc))
    return _api_error(400, "bad_request", 'give "name", "merge" or "split"')


def _api_error(status: int, kind: str, message: str) -> Any:
    response = jsonify(error={"type": kind, "message": message})
    response.status_code = status
    return response
