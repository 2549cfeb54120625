"""Search responses from either cluster -> ``SearchResult`` (pure functions).

Both clusters score a cosine kNN hit ``(1 + cos) / 2``; ``to_cosine`` turns it back
into the cosine similarity the IR promises. Nested hits carry their children in
``inner_hits``; frames become timeline segments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, assert_never

import numpy as np

from es_visual.core import schema
from es_visual.core.documents import value_at
from es_visual.core.ir import (
    And,
    Exists,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    MultiMatch,
    Node,
    Not,
    Or,
    Prefix,
    Range,
    SearchRequest,
    Term,
    Terms,
)
from es_visual.core.nested import NESTED_PATHS, child_filter, reaches_children
from es_visual.core.results import Hit, Matched, SearchResult
from es_visual.core.segments import video_segments

KIND = schema.MATCH_KINDS


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
    checked_here: Node | None = None,
) -> SearchResult:
    """``resp`` as a ``SearchResult`` for ``request`` (the caller's, whatever was sent).
    ``checked_here``: the part of the filter the engine could not run (see
    ``OpenSearchBackend``), checked on each hit's source before the best are kept."""
    from es_visual.core.cursor import encode_cursor

    raw_hits = resp["hits"]["hits"]
    hits = tuple(_parse_hit(h, request, scale) for h in raw_hits)
    if checked_here is not None:
        hits = tuple(h for h in hits if source_matches(checked_here, h.source))
    if request.vector is not None and request.vector.target in NESTED_PATHS:
        hits = _by_competing_children(hits, request)
    if request.vector is not None:
        hits = hits[: request.size]  # more may have been asked for (``_widened``)
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
        value = value_at(hit.source, field)
        values = value if isinstance(value, list) else [value]
        counts.update({v for v in values if isinstance(v, str | int | float | bool)})
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:size]


def _by_competing_children(hits: tuple[Hit, ...], request: SearchRequest) -> tuple[Hit, ...]:
    """A nested kNN whose filter speaks of the searched children (``regions.label:dog``,
    ``query.nested``): the engines filter the documents (some child is a dog) and score
    each by its best child of any kind; here each document is scored by its best child
    that passes, those with none are dropped, and the order follows."""
    assert request.vector is not None
    if isinstance(child_filter(request.filter, request.vector.target), MatchAll):
        return hits
    kept = [replace(h, score=h.children[0].score) for h in hits if h.children]
    kept.sort(key=lambda h: (-(h.score or 0.0), h.id))
    return tuple(kept)


def source_matches(node: Node, source: Mapping[str, Any]) -> bool:
    """Whether a document's source passes ``node``: a leaf on a child field
    (``visual.regions.label``) passes when some child's value does, as a ``nested``
    query does."""
    return child_matches(node, source, "")


def child_matches(node: Node, child: Mapping[str, Any], path: str) -> bool:
    """Whether one child's source (``{"label": "dog", ...}``) passes ``node``, whose
    fields are written in full (``visual.regions.label``)."""

    def at(field: str) -> list[Any]:
        return _values_at(child, field.removeprefix(path + ".") if path else field)

    match node:
        case MatchAll():
            return True
        case And(children):
            return all(child_matches(c, child, path) for c in children)
        case Or(children):
            return any(child_matches(c, child, path) for c in children)
        case Not(inner):
            return not child_matches(inner, child, path)
        case Exists(field):
            return bool(at(field))
        case Term(field, value):
            return value in at(field)
        case Terms(field, values):
            return any(v in values for v in at(field))
        case Prefix(field, prefix):
            return any(isinstance(v, str) and v.startswith(prefix) for v in at(field))
        case Range(field):
            return any(_in_range(node, v) for v in at(field))
        case Match(field, text):
            words = text.lower().split()
            held = " ".join(str(v).lower() for v in at(field)).split()
            return all(w in held for w in words)
        case MatchNone() | MultiMatch() | Ids():
            return True  # a document-level node: the engine's own filter decided it
        case _:
            assert_never(node)


def _values_at(obj: Any, dotted: str) -> list[Any]:
    """Every value at ``dotted`` in ``obj``, through lists of objects."""
    found: list[Any] = [obj]
    for part in dotted.split("."):
        step: list[Any] = []
        for item in found:
            for one in item if isinstance(item, list) else [item]:
                if isinstance(one, Mapping) and part in one:
                    step.append(one[part])
        found = step
    flat = [v for item in found for v in (item if isinstance(item, list) else [item])]
    return [v for v in flat if v is not None]


def _in_range(node: Range, value: Any) -> bool:
    try:
        return (
            (node.gt is None or value > node.gt)
            and (node.gte is None or value >= node.gte)
            and (node.lt is None or value < node.lt)
            and (node.lte is None or value <= node.lte)
        )
    except TypeError:
        return False


def _parse_hit(raw: dict[str, Any], request: SearchRequest, scale: ScoreScale) -> Hit:
    source = dict(raw.get("_source") or {})
    sort = tuple(raw["sort"]) if raw.get("sort") is not None else None
    vq = request.vector
    raw_score = raw.get("_score")
    if vq is None:
        return Hit(id=raw["_id"], score=raw_score, source=source, sort=sort)
    score = scale.to_cosine(raw_score) if raw_score is not None else None
    if vq.target not in NESTED_PATHS:  # scene, text: the document's own vector
        matched = Matched("scene", score if score is not None else 0.0)
        return Hit(id=raw["_id"], score=score, source=source, matched=matched, sort=sort)
    kind = KIND[vq.target]
    inner = ((raw.get("inner_hits") or {}).get(vq.target) or {}).get("hits", {}).get("hits", [])
    path = NESTED_PATHS[vq.target]
    wanted = child_filter(request.filter, vq.target)
    if not reaches_children(request.filter):
        every = [_child(kind, h, scale) for h in inner]
    else:
        # The children that compete are picked here, from the document's own list
        # (fetched with its vectors: ``CHILDREN_IN_SOURCE``): an engine's inner hits
        # under a filter on children are not a reliable list of them.
        every = _children_from_source(kind, source, path, wanted, vq.vector)
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
        video_segments([(c.t, c.score) for c in every], threshold, schema.visual_of(source))
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


def _children_from_source(
    kind: str, source: dict[str, Any], path: str, wanted: Node, query: Sequence[float]
) -> list[Matched]:
    """The children under ``path`` in ``source`` that pass ``wanted``, scored by cosine
    to ``query``; their vectors are taken out of ``source`` (never returned)."""
    parent: Any = source
    for part in path.split(".")[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
    children = parent.get(path.split(".")[-1]) if isinstance(parent, dict) else None
    if not isinstance(children, list):
        return []
    q = np.asarray(query, dtype=np.float64)
    qn = float(np.linalg.norm(q)) or 1.0
    out = []
    for i, child in enumerate(children):
        if not isinstance(child, dict):
            continue
        vector = child.pop("vector", None)
        if vector is None or not child_matches(wanted, child, path):
            continue
        v = np.asarray(vector, dtype=np.float64)
        cos = float(v @ q) / ((float(np.linalg.norm(v)) or 1.0) * qn)
        bbox = child.get("bbox")
        out.append(
            Matched(
                kind,  # type: ignore[arg-type]
                score=round(cos, 6),
                index=i,
                label=child.get("label"),
                bbox=tuple(float(x) for x in bbox) if bbox and len(bbox) == 4 else None,  # type: ignore[arg-type]
                t=float(child["t"]) if child.get("t") is not None else None,
            )
        )
    return out


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
