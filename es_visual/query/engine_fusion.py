"""A text search fused by the engine, where the backend can (``FuseSearch``).

``query.hybrid`` asks here first: the same rankings it would run one by one (labels,
words, the CLIP text embedding, the picture of ``similar_to``), as one ``FuseRequest``.
A cluster whose server fuses by reciprocal rank (``ServerInfo.fusion``) answers with the
fused hits; every other backend, server or request answers None and ``query.hybrid``
fuses the lists itself, with the same formula, so the results agree within rank ties.

Each hit still says which signals found it: the engine's rank in each list where it
reports one (Elasticsearch's ``rrf`` explanation), else the signals its source shows
(its labels that the query matched, the text fields that hold its words), with rank 0:
fused by the engine, which did not report the rank.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.ranking import FuseRequest, FuseSearch, LabelRank, RankRequest, TextRank
from es_visual.core.results import Hit, SearchResult

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.core.ir import SearchRequest
    from es_visual.models.base import Embedder
    from es_visual.query.hybrid import TextPlan
    from es_visual.query.search import Search


def fuse_by_engine(
    search: Search,
    backend: Backend,
    plan: TextPlan,
    *,
    window: int,
    label_fields: tuple[str, ...],
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> SearchResult | None:
    """The fused result of the engine, or None where es-visual fuses (see the module)."""
    if not isinstance(backend, FuseSearch) or not backend.can_fuse():
        return None
    from es_visual.query.execute import plan as vector_plan
    from es_visual.query.hybrid import _hit

    filter_node, acl = search.filter_node(now=now), search.acl
    fields = search._s.fields  # the builder's own state, read-only
    weights = {c.name: c.weight for c in plan.concepts}
    ranks: list[tuple[str, RankRequest]] = []
    if weights:
        wanted = None if fields is None else tuple(dict.fromkeys((*fields, *label_fields)))
        rank = LabelRank(tuple(weights.items()))
        ranks.append(("labels", RankRequest(search.index, rank, filter_node, acl, window, wanted)))
    if plan.text_fields and plan.words:
        words = TextRank(plan.text_fields, plan.words)
        ranks.append(("text", RankRequest(search.index, words, filter_node, acl, window, fields)))
    if plan.text_fields and plan.concept_words:
        named = TextRank(plan.text_fields, plan.concept_words)
        ranks.append(
            ("concept_words", RankRequest(search.index, named, filter_node, acl, window, fields))
        )
    vectors: list[tuple[str, SearchRequest]] = []
    plain = search.text(None).limit(min(window, 10_000))
    searches = []
    if plan.clip:
        searches.append(("clip", plain.similar_to(text=search.text_query)))
    if search.similar is not None:
        searches.append((search.similar.kind, plain))
    try:
        for name, vs in searches:
            requests = vector_plan(vs, backend, embedder=embedder, now=now)
            if len(requests) != 1:  # on("any"): merged per target by es-visual
                return None
            vectors.append((name, requests[0]))
    except ModelUnavailableError:
        return None  # es-visual's own path says what is missing, or goes on without it
    if fields is not None:
        fields = tuple(dict.fromkeys((*fields, *label_fields)))
    request = FuseRequest(
        search.index, tuple(ranks), tuple(vectors), search.size, window, fields=fields
    )
    fused = backend.fuse_search(request)
    if fused is None:
        return None
    hits = []
    for hit in fused.hits:
        reported = fused.ranks.get(hit.id) or _from_source(hit, weights, plan)
        found = Hit(id=hit.id, score=None, source=hit.source)
        signals = {name: (rank, found) for name, rank in reported.items()}
        hits.append(_hit(hit, hit.score or 0.0, signals, weights, plan))
    return SearchResult(hits=tuple(hits), took_ms=fused.took_ms)


def _from_source(hit: Hit, weights: dict[str, float], plan: TextPlan) -> dict[str, int]:
    """The signals a hit's source shows, rank unknown (0)."""
    from es_visual.core import labels as schema
    from es_visual.core.schema import visual_of
    from es_visual.query.hybrid import _fields_with_words

    out: dict[str, int] = {}
    pairs = schema.read_pairs(visual_of(hit.source))
    if any(name in weights for name, _ in pairs):
        out["labels"] = 0
    if _fields_with_words(hit.source, plan):
        out["text"] = 0
    if plan.concept_words and _fields_with_words(hit.source, plan, plan.concept_words):
        out["concept_words"] = 0
    return out
