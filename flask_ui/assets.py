"""The asset page: the picture with its faces and regions as boxes, or a video with
its timeline; metadata; links that start a localized search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from flask_ui.auth import current_user
from flask_ui.media import local_path
from flask_ui.present import boxes, fmt_time, metadata_rows, title_of, visual_summary
from flask_ui.state import get_state

bp = Blueprint("assets", __name__, url_prefix="/assets")


def parse_segments(value: str | None, duration: float | None) -> list[dict[str, float]]:
    """``start-end[:score],...`` from a result card's link into timeline bars."""
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
    if duration:
        for seg in out:
            seg["left"] = min(100.0, 100.0 * seg["start"] / duration)
            seg["width"] = max(0.6, min(100.0, 100.0 * (seg["end"] - seg["start"]) / duration))
    return out


@bp.route("/<path:asset_id>")
def show(asset_id: str) -> Any:
    from flask_ui.queries import readable_doc

    state = get_state()
    doc = readable_doc(state, current_user(), asset_id)
    if doc is None:
        abort(404)
    summary = visual_summary(doc)
    duration = summary["duration"]
    frames = [
        f.get("t")
        for f in (doc.get("visual") or {}).get("frames") or ()
        if isinstance(f.get("t"), int | float)
    ]
    return render_template(
        "asset.html",
        asset_id=asset_id,
        title=title_of(asset_id, doc),
        doc=doc,
        rows=metadata_rows(doc),
        visual=summary,
        boxes=boxes(doc),
        has_file=local_path(doc) is not None,
        segments=parse_segments(request.args.get("segments"), duration),
        frame_ticks=[100.0 * t / duration for t in frames] if duration else [],
        start_t=request.args.get("t", type=float),
        fmt_time=fmt_time,
    )
