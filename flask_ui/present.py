"""Documents and hits as the small dicts the templates and the API show."""

from __future__ import annotations

from typing import Any

from flask import url_for

from es_visual.core import schema
from es_visual.core.results import Hit

TITLE_FIELDS = ("title", "caption", "name", "filename")
HIDDEN_FIELDS = (schema.ROOT,)


def title_of(asset_id: str, source: dict[str, Any]) -> str:
    for name in TITLE_FIELDS:
        value = source.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return asset_id.rsplit("/", 1)[-1]


def metadata_rows(source: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The user's own fields, flattened to (dotted name, text), ``visual`` left out."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted(source.items()):
        if not prefix and key in HIDDEN_FIELDS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(metadata_rows(value, name + "."))
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, str(value)))
    return rows


def visual_summary(source: dict[str, Any]) -> dict[str, Any]:
    visual = schema.visual_of(source)
    return {
        "media_type": visual.get("media_type") or "image",
        "width": visual.get("width"),
        "height": visual.get("height"),
        "duration": visual.get("duration"),
        "model": visual.get("model"),
        "pipeline": visual.get("pipeline"),
        "indexed_at": visual.get("indexed_at"),
        "content_hash": visual.get("content_hash"),
        "error": visual.get("error"),
        "faces": len(visual.get("faces") or ()),
        "regions": len(visual.get("regions") or ()),
        "frames": len(visual.get("frames") or ()),
    }


def boxes(source: dict[str, Any]) -> list[dict[str, Any]]:
    """Detected faces and regions with a box, as drawn over the asset (normalized coords)."""
    visual = schema.visual_of(source)
    out: list[dict[str, Any]] = []
    for kind, key in (("face", "faces"), ("region", "regions")):
        for i, child in enumerate(visual.get(key) or ()):
            bbox = child.get("bbox")
            if not isinstance(bbox, list | tuple) or len(bbox) != 4:
                continue
            x0, y0, x1, y1 = (float(v) for v in bbox)
            label = child.get("label") or ("face" if kind == "face" else child.get("kind"))
            out.append(
                {
                    "kind": kind,
                    "index": i,
                    "label": label or kind,
                    "score": child.get("score"),
                    "t": child.get("t"),
                    "person": child.get("person") if kind == "face" else None,
                    "bbox": (x0, y0, x1, y1),
                    # A square chip in the picture's pixels: a box of a wide picture is not
                    # stretched (the normalized 1000x1000 view distorted it).
                    "view": crop_view(
                        (x0, y0, x1, y1), visual.get("width"), visual.get("height"), 1.0, 1.2
                    ),
                    "width": visual.get("width"),
                    "height": visual.get("height"),
                    "w": x1 - x0,
                    "h": y1 - y0,
                }
            )
    return out


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


CARD_ASPECT = 4 / 3  # the result tile (app.css .thumb): the crop window has its shape
ZOOM = 2.6  # the window spans this many box sizes around a matched face or region


def crop_view(
    bbox: Any, width: Any, height: Any, aspect: float = CARD_ASPECT, zoom: float = ZOOM
) -> tuple[float, float, float, float] | None:
    """A window of the picture, in its pixels, of the tile's ``aspect``, that holds the
    whole ``bbox`` (normalized) with room around it: a card cropped to it shows the
    matched box at any tile width, instead of slicing the middle of the picture."""
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4) or not width or not height:
        return None
    w, h = float(width), float(height)
    x0, y0, x1, y1 = (float(v) for v in bbox)
    bx, by, bw, bh = x0 * w, y0 * h, max(1.0, (x1 - x0) * w), max(1.0, (y1 - y0) * h)
    # As large as the zoom asks, as the box needs, but no larger than the picture allows.
    vw = max(bw * zoom, bh * zoom * aspect)
    vw = min(vw, w, h * aspect)
    vw = max(vw, bw * 1.1, bh * 1.1 * aspect)  # a huge box: zoom out, never cut it
    vh = vw / aspect
    cx, cy = bx + bw / 2, by + bh / 2
    vx = min(max(cx - vw / 2, 0.0), max(w - vw, 0.0)) if vw <= w else (w - vw) / 2
    vy = min(max(cy - vh / 2, 0.0), max(h - vh, 0.0)) if vh <= h else (h - vh) / 2
    return (round(vx, 1), round(vy, 1), round(vw, 1), round(vh, 1))


def hit_card(
    hit: Hit, query_args: dict[str, Any] | None = None, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """``query_args``: the search's URL parameters; a video's link carries them, so its
    asset page asks the same question of the video's frames and draws the timeline.
    ``names``: person id -> name, for a face's "same person" badge."""
    source = hit.source or {}
    visual = schema.visual_of(source)
    matched = hit.matched
    tags = source.get("tags")
    link: dict[str, Any] = {}
    if (visual.get("media_type") == "video") and query_args:
        link.update({k: v for k, v in query_args.items() if k not in ("after", "limit", "media")})
    moment = hit.moment  # a video's best moment: where the player starts, what the card shows
    if moment is not None:
        link["t"] = f"{moment[0]:.3f}"
    return {
        "id": hit.id,
        "title": title_of(hit.id, source),
        "score": hit.score,
        "tags": [str(t) for t in tags][:6] if isinstance(tags, list) else [],
        "folder": source.get("folder"),
        "media_type": visual.get("media_type") or "image",
        "width": visual.get("width"),
        "height": visual.get("height"),
        "duration": visual.get("duration"),
        # Every key present (None included), so templates can test any of them.
        "matched": dict(matched.__dict__) if matched else None,
        "error": visual.get("error"),
        "matched_bbox": matched.bbox if matched and matched.bbox else None,
        "crop": crop_view(matched.bbox, visual.get("width"), visual.get("height"))
        if matched and matched.bbox
        else None,
        "same_person": getattr(matched, "same_person", None) if matched else None,
        "person": getattr(matched, "person", None) if matched else None,
        "person_name": (names or {}).get(getattr(matched, "person", None) or "")
        if matched
        else None,
        "segments": [s.to_dict() for s in hit.segments],
        "moment": link.get("t"),  # a video's best moment (s): where its hover preview starts
        # Concept labels (es_visual.core.labels) and, for a text search, why this hit came up.
        "labels": [str(x) for x in visual.get("labels") or []][:3],
        "signals": [s.to_dict() for s in getattr(hit, "signals", ())],
        # A video's card shows the frame that matched, not its first one.
        "thumb": url_for("media.thumb", asset_id=hit.id, size=320, t=link.get("t")),
        # A crop around a small face needs more pixels than a 320 px tile.
        "thumb_crop": url_for("media.thumb", asset_id=hit.id, size=640, t=link.get("t")),
        "url": url_for("assets.show", asset_id=hit.id, **link),
    }


def api_hit(hit: Hit) -> dict[str, Any]:
    out = hit.to_dict()
    out["source"] = {k: v for k, v in (hit.source or {}).items()}
    moment = hit.moment
    t = f"{moment[0]:.3f}" if moment is not None else None
    out["thumbnail_url"] = url_for("media.thumb", asset_id=hit.id, size=320, t=t)
    out["asset_url"] = url_for("api.asset", asset_id=hit.id)
    out["children"] = [c.to_dict() for c in hit.children]
    return out
