"""The asset page: the picture with its faces and regions as boxes, or a video with
its timeline; metadata; links that start a localized search.

A video's timeline shows where a search matches. The page takes the search's
own URL parameters (``?upload=...``, ``?similar=...``, ``?where=...``, as on the
search page) and asks that question of this video's frames itself, so a result
card's link, a bookmark and the page's "find in this video" form all draw it.
An explicit ``?segments=start-end[:score],...`` is drawn as given.

The player's "search by this frame" posts its current time; the frame on screen
then is cut out of the file (a seek, not a decode from the start) and searched
for like an uploaded picture.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from es_visual.core import schema
from es_visual.core.errors import EsVisualError, NotFoundError
from flask_ui.auth import current_user
from flask_ui.media import local_path
from flask_ui.present import boxes, fmt_time, metadata_rows, title_of, visual_summary
from flask_ui.state import AppState, get_state
from flask_ui.users import User

bp = Blueprint("assets", __name__, url_prefix="/assets")


def parse_segments(value: str | None, duration: float | None) -> list[dict[str, float]]:
    """``start-end[:score],...`` (an explicit link) into timeline bars."""
    out: list[dict[str, float]] = []
    for part in (value or "").split(",")[:200]:
        span, _, score = part.partition(":")
        start_s, _, end_s = span.partition("-")
        try:
            start, end = float(start_s), float(end_s or start_s)
            best = float(score) if score else 0.0
        except ValueError:
            continue
        if end < start or start < 0:
            continue
        out.append({"start": start, "end": end, "score": best})
    return with_layout(out, duration)


def with_layout(segments: list[dict[str, float]], duration: float | None) -> list[dict[str, float]]:
    """Each bar's left edge and width in percent of the video (the script redraws them)."""
    for seg in segments:
        if duration:
            seg["left"] = min(100.0, 100.0 * seg["start"] / duration)
            seg["width"] = max(0.6, min(100.0, 100.0 * (seg["end"] - seg["start"]) / duration))
    return segments


def searched_segments(
    state: AppState, user: User, asset_id: str, duration: float | None
) -> tuple[list[dict[str, float]], str | None, Any]:
    """(segments, why there are none, the query) for the search in the page's URL."""
    from flask_ui.queries import Query, video_segments

    query = Query.from_args(request.args)
    if query.kind == "browse":
        return [], None, query
    upload = state.uploads.entry(user.name, query.upload)
    if query.upload and upload is None:
        return [], "The uploaded image has expired; upload it again.", query
    try:
        found = video_segments(state, user, query, asset_id, upload)
    except NotFoundError:  # a forbidden start reads exactly like a missing one
        return [], "The asset this search starts from is not there.", query
    except EsVisualError as exc:  # a bad expression or an unreadable picture: say so
        return [], str(exc), query
    segments = [s.to_dict() for s in found]
    return with_layout(segments, duration), None, query


@bp.route("/<path:asset_id>")
def show(asset_id: str) -> Any:
    from flask_ui.queries import readable_doc

    state = get_state()
    doc = readable_doc(state, current_user(), asset_id)
    if doc is None:
        abort(404)
    summary = visual_summary(doc)
    duration = summary["duration"]
    segments = parse_segments(request.args.get("segments"), duration)
    segments_error, query = None, None
    if not segments and summary["media_type"] == "video":
        segments, segments_error, query = searched_segments(
            state, current_user(), asset_id, duration
        )
    frames = sorted(
        float(f["t"])
        for f in schema.visual_of(doc).get("frames") or ()
        if isinstance(f, dict) and isinstance(f.get("t"), int | float)
    )
    return render_template(
        "asset.html",
        asset_id=asset_id,
        title=title_of(asset_id, doc),
        doc=doc,
        rows=metadata_rows(doc),
        visual=summary,
        boxes=boxes(doc),
        person_names=_person_names(doc),
        has_file=local_path(doc) is not None,
        segments=segments,
        segments_error=segments_error,
        searched=query is not None and query.kind != "browse",
        # Kept frames: ticks on the timeline, and the frames its hover preview shows.
        frame_ticks=[(t, 100.0 * t / duration) for t in frames] if duration else [],
        start_t=request.args.get("t", type=float),
        fmt_time=fmt_time,
    )


def _person_names(doc: dict[str, Any]) -> dict[str, str]:
    """Names of the persons this asset's faces belong to, for the face list's links."""
    from flask_ui.queries import people_registry

    state = get_state()
    ids = sorted(set(schema.visual_of(doc).get("persons") or []))
    return people_registry(state).names(state.index, ids) if ids else {}


@bp.route("/<path:asset_id>", methods=["POST"])
def find_in_video(asset_id: str) -> Any:
    """ "Find in this video": keep the picture in memory (as the search form does) and
    show this asset's timeline for it. With ``frame_t`` instead ("search by this frame"):
    search everything for the frame on screen at that time."""
    from flask_ui.queries import readable_doc

    state = get_state()
    user = current_user()
    doc = readable_doc(state, user, asset_id)
    if doc is None:
        abort(404)
    if "frame_t" in request.form:
        return search_by_frame(state, user, asset_id, doc, request.form["frame_t"])
    file = request.files.get("image")
    data = file.read() if file is not None else b""
    if not data:
        return redirect(url_for("assets.show", asset_id=asset_id), code=303)
    token = state.uploads.put(user.name, data)
    return redirect(url_for("assets.show", asset_id=asset_id, upload=token), code=303)


def search_by_frame(
    state: AppState, user: User, asset_id: str, doc: dict[str, Any], value: str
) -> Any:
    """The frame on screen at ``value`` seconds, as a JPEG upload, then the search page
    for it; a time or file that cannot give a frame comes back to the page, which says so."""
    from es_visual.media.video import Sampling, open_video

    path = local_path(doc)
    try:
        t = float(value)
        if not (0.0 <= t < 86400.0):
            raise ValueError(value)
    except ValueError:
        abort(400, "frame_t: expected a time in seconds")
    if path is None or visual_summary(doc)["media_type"] != "video":
        abort(404, "The video file is not on this server.")
    try:
        # The model sees about 224 px: the frame at 640 px is plenty, and a small upload.
        with open_video(path, Sampling(max_side=640), max_pixels=state.settings.max_pixels) as v:
            image = v.frame_at(t).image
    except EsVisualError as exc:
        flash(f"No frame at {fmt_time(t)}: {exc}", "error")
        return redirect(url_for("assets.show", asset_id=asset_id, t=f"{t:.3f}"), code=303)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    token = state.uploads.put(user.name, out.getvalue())
    return redirect(url_for("search.home", upload=token), code=303)
