"""Search responses from either cluster -> ``SearchResult`` (pure functions).

Both clusters score a cosine kNN hit ``(1 + cos) / 2``; ``to_cosine`` turns it back
into the cosine similarity the IR promises. Nested hits carry their children in
``inner_hits``; frames become timeline segments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from es_visual.query.ir import SearchRequest
from es_visual.query.results import Hit, Matched, SearchResult
from es_visual.query.segments import video_segments

KIND = {"regions": "region", "faces": "face", "frames": "frame"}


@dataclass(frozen=True)
class ScoreScale:
    """How a kNN engine turns a cosine similarity into a hit's ``_score``, both ways."""

    name: str
    to_score: Callable[[float], float]
    to_cosine: Callable[[float], float]


# Elasticsearch's cosine dense_vector, OpenSearch's Lucene and Faiss cosinesimil.
HALF_PLUS_HALF = ScoreScale(
    "(1 + cos) / 2", lambda cos: (1.0 + cos) / 2.0, lambda score: 2.0 * float(score) - 1.0
)


def to_cosine(score: float) -> float:
    """A cosine-similarity kNN ``_score`` (``(1 + cos) / 2``) back to cos."""
    return HALF_PLUS_HALF.to_cosine(score)


def parse_response(
    resp: dict[str, Any],
    request: SearchRequest,
    took_ms: float | None = None,
    scale: ScoreScale = HALF_PLUS_HALF,
) -> SearchResult:
    from es_visual.query.cursor import encode_cursor

    raw_hits = resp["hits"]["hits"]
    hits = tuple(_parse_hit(h, request, scale) for h in raw_hits)
    total_info = resp["hits"].get("total")
    total = None
    if (
        request.vector is None
        and isinstance(total_info, dict)
        and total_info.get("relation") == "eq"
    ):
        total = int(total_info["value"])
    cursor = None
    if request.vector is None and len(raw_hits) == request.size and hits and hits[-1].sort:
        cursor = encode_cursor(hits[-1].sort)
    if request.vector is not None:
        aggs = {name: _count_in_hits(hits, name, request.aggregation_size)
                for name in request.aggregations}  # fmt: skip
    else:
        aggs = {
            name: [(b["key"], int(b["doc_count"])) for b in agg.get("buckets", [])]
            for name, agg in (resp.get("aggregations") or {}).items()
        }
    return SearchResult(
        hits=hits,
        took_ms=float(resp.get("took", 0)) if took_ms is None else took_ms,
        total=total,
        next_cursor=cursor,
        aggregations=aggs,
    )


def _count_in_hits(hits: tuple[Hit, ...], field: str, size: int) -> list[tuple[Any, int]]:
    """A terms aggregation over the hits' sources: the buckets Elasticsearch would give
    (most documents first, then by key), each document counted once per value."""
    counts: Counter[Any] = Counter()
    for hit in hits:
        value: Any = hit.source
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values = value if isinstance(value, list) else [value]
        counts.update({v for v in values if isinstance(v, str | int | float | bool)})
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:size]


def _parse_hit(raw: dict[str, Any], request: SearchRequest, scale: ScoreScale) -> Hit:
    source = dict(raw.get("_source") or {})
    sort = tuple(raw["sort"]) if raw.get("sort") is not None else None
    vq = request.vector
    raw_score = raw.get("_score")
    if vq is None:
        return Hit(id=raw["_id"], score=raw_score, source=source, sort=sort)
    score = scale.to_cosine(raw_score) if raw_score is not None else None
    if vq.target == "scene":
        matched = Matched("scene", score if score is not None else 0.0)
        return Hit(id=raw["_id"], score=score, source=source, matched=matched, sort=sort)
    kind = KIND[vq.target]
    inner = ((raw.get("inner_hits") or {}).get(vq.target) or {}).get("hits", {}).get("hits", [])
    every = [_child(kind, h, scale) for h in inner]
    threshold = vq.min_similarity
    children = sorted(
        (c for c in every if threshold is None or c.score >= threshold),
        key=lambda c: (-c.score, c.index if c.index is not None else 0),
    )
    if score is None and children:
        score = children[0].score
    matched = children[0] if children else Matched(kind, score if score is not None else 0.0)  # type: ignore[arg-type]
    # Each moment's extent comes from the video's own frame times in the source, not
    # from the children that came back: Elasticsearch's inner hits of a nested kNN hold
    # only the nearest ones. Faces and regions seen in frames get segments too.
    segments = tuple(
        video_segments([(c.t, c.score) for c in every], threshold, source.get("visual"))
    )
    return Hit(
        id=raw["_id"],
        score=score,
        source=source,
        matched=matched,
        children=tuple(children),
        segments=segments,
        sort=sort,
    )


def _child(kind: str, inner: dict[str, Any], scale: ScoreScale) -> Matched:
    src = inner.get("_source") or {}
    bbox = src.get("bbox")
    return Matched(
        kind,  # type: ignore[arg-type]
        score=scale.to_cosine(inner.get("_score") or 0.0),
        index=(inner.get("_nested") or {}).get("offset"),
        label=src.get("label"),
        bbox=tuple(float(x) for x in bbox) if bbox and len(bbox) == 4 else None,  # type: ignore[arg-type]
        t=float(src["t"]) if src.get("t") is not None else None,
    )
