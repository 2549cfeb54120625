"""Thumbnails and originals, served only to users who may read the asset.

Every request checks readability through ``backend.get(..., acl=...)`` first,
cache or not; a forbidden asset and a missing one are the same 404. Thumbnails
are JPEGs made from ``visual.path`` (for a video, the frame at ``?t=``, else its
first), cached on disk under a name derived from the asset's content hash, so a
re-ingested file gets a fresh thumbnail and a cached one never outlives its
access check.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, request, send_file

from es_visual.core import schema
from flask_ui.auth import current_user
from flask_ui.queries import readable_doc
from flask_ui.state import AppState, get_state

bp = Blueprint("media", __name__, url_prefix="/media")

SIZES = (160, 320, 640, 1280)


def _pick_size(value: Any) -> int:
    try:
        wanted = int(value)
    except (TypeError, ValueError):
        return 320
    return next((s for s in SIZES if s >= wanted), SIZES[-1])


def local_path(doc: dict[str, Any]) -> Path | None:
    """The asset's file on this machine, or None (a URI or a file that has gone)."""
    value = schema.visual_of(doc).get("path")
    if not isinstance(value, str) or not value or "://" in value:
        return None
    path = Path(value)
    if not path.is_file():
        return None
    # A file under an ingest root must still be there, not a symlink (or a folder
    # swapped for one) leading out of it since the job read it.
    try:
        real = path.resolve()
        roots = [Path(r).resolve() for r in current_app.config.get("INGEST_ROOTS") or ()]
    except (RuntimeError, OSError):  # a symlink loop
        return None
    for root in roots:
        if root in path.parents and root not in real.parents:
            return None
    return path


def _pick_time(value: Any) -> float | None:
    """A video thumbnail's time, to the millisecond: the pages ask for kept frames' times
    (a result's best moment, the timeline's hover), so the cache holds few per video."""
    try:
        t = round(float(value), 3)
    except (TypeError, ValueError):
        return None
    return t if 0 < t < 86400 else None


def render_thumbnail(
    path: Path, media_type: str | None, size: int, max_pixels: int, t: float | None = None
) -> bytes:
    """A JPEG of the picture, or of the frame of a video on screen at ``t`` (its first
    frame without one): a seek to the key frame before ``t``, never a decode from 0."""
    from es_visual.media.crops import thumbnail

    if media_type == "video":
        from es_visual.media.video import Sampling, open_video

        with open_video(path, Sampling(max_side=size), max_pixels=max_pixels) as video:
            image = video.frame_at(t or 0.0).image
    else:
        from es_visual.media.image import open_image

        # A 24-megapixel photo for a 300 px tile: let libjpeg decode it at 1/8 scale.
        image = open_image(path, max_pixels=max_pixels, max_side=size).image
    out = io.BytesIO()
    thumbnail(image, size).save(out, "JPEG", quality=84, optimize=True, progressive=True)
    return out.getvalue()


def cached_thumbnail(
    state: AppState, asset_id: str, doc: dict[str, Any], size: int, t: float | None = None
) -> Path:
    visual = schema.visual_of(doc)
    if visual.get("media_type") != "video":
        t = None
    key = f"{state.index}\0{asset_id}\0{visual.get('content_hash') or visual.get('path')}\0{size}"
    if t is not None:
        key += f"\0t={t}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    cached = state.thumbs.get(digest)
    if cached is not None:
        return cached
    path = local_path(doc)
    if path is None:
        abort(404, "The asset's file is not on this server.")
    try:
        data = render_thumbnail(path, visual.get("media_type"), size, state.settings.max_pixels, t)
    except Exception:  # any unreadable media: a missing picture, not a server error
        abort(404, "The asset's file cannot be read.")
    # Written atomically (two requests for one thumbnail never see half a file), 0600,
    # within the cache's limits (flask_ui/thumbcache.py).
    return state.thumbs.put(digest, data)


@bp.route("/thumb/<path:asset_id>")
def thumb(asset_id: str) -> Any:
    state = get_state()
    doc = readable_doc(state, current_user(), asset_id)
    if doc is None:
        abort(404)
    size, t = _pick_size(request.args.get("size")), _pick_time(request.args.get("t"))
    try:
        path = cached_thumbnail(state, asset_id, doc, size, t)
        response = send_file(path, mimetype="image/jpeg", max_age=3600, conditional=True)
    except FileNotFoundError:  # evicted between the two: render it again
        path = cached_thumbnail(state, asset_id, doc, size, t)
        response = send_file(path, mimetype="image/jpeg", max_age=3600, conditional=True)
    # Per-user access: browsers may cache it, shared proxies may not.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.route("/original/<path:asset_id>")
def original(asset_id: str) -> Any:
    state = get_state()
    doc = readable_doc(state, current_user(), asset_id)
    if doc is None:
        abort(404)
    path = local_path(doc)
    if path is None:
        abort(404, "The asset's file is not on this server.")
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not mimetype.startswith(("image/", "video/")):
        mimetype = "application/octet-stream"
    # conditional=True answers Range requests, which the video player needs to seek.
    response = send_file(path, mimetype=mimetype, conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/upload/<token>")
def upload(token: str) -> Any:
    """The caller's own uploaded query image (shown in the search bar)."""
    state = get_state()
    data = state.uploads.get(current_user().name, token)
    if data is None:
        abort(404)
    from es_visual.media.crops import thumbnail
    from es_visual.media.image import open_image

    try:
        image = open_image(data, max_pixels=state.settings.max_pixels).image
    except Exception:
        abort(404)
    out = io.BytesIO()
    thumbnail(image, 320).save(out, "JPEG", quality=84)
    out.seek(0)
    response = send_file(out, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
