"""SearchRequest -> an OpenSearch 2.12+ / 3.x ``_search`` body (k-NN plugin).

A vector search is a ``knn`` query with ``vector``, ``k`` and an efficient
``filter`` (applied during the search by the Lucene and Faiss engines, so the k
hits are the best k the caller may read). A nested target is the same ``knn``
query inside a ``nested`` query on ``visual.<target>`` with ``inner_hits``;
``expand_nested_docs`` (OpenSearch 2.19+) scores every child, not only the
best, and ``score_mode: max`` keeps a document's score its best child's.

**The filter of a nested knn query.** Before k-NN 3.5, the plugin applied the
``filter`` to the *child* documents as it was whenever Lucene's ``NestedHelper``
said the filter "might match nested documents", and joined it to the parents
(``ToChildBlockJoinQuery``) only otherwise (k-NN 2.19 ``BaseQueryFactory``). An
ACL such as "acl.read is one of mine OR there is no acl.read" might match nested
documents (a must_not-only clause matches everything), so it ran on the
children, which carry no ``acl.read``: every child passed and forbidden parents
came back. ``NestedHelper`` returns false as soon as one *required* clause is a
term query on a field outside any nested object, so every nested filter is
ANDed with ``visual.media_type`` in (every media type): true of every document
that has vectors, a plain term query on a root field, and it makes the plugin
join the whole filter to the parents on every version.

Scores: for ``cosinesimil`` Lucene and Faiss score ``(1 + cos) / 2``; nmslib
before 2.19 scores ``1 / (2 - cos)``; other space types are refused, since a
threshold in cosine units would not mean what the user asked. The knn query has
no similarity threshold that combines with ``k`` (``min_score`` there is radial
search, which replaces ``k``), so ``min_similarity`` becomes the search's
top-level ``min_score`` in score units.
"""

from __future__ import annotations

from typing import Any, get_args

from es_visual.backends.cluster.dsl import (
    NESTED_PATHS,
    candidates,
    check_vector_request,
    filter_to_query,
    inner_hits,
    knn_filter,
    metadata_body,
    sort_clause,
    source_filter,
    vector_field,
)
from es_visual.backends.cluster.responses import HALF_PLUS_HALF, ScoreScale
from es_visual.core import ir, schema
from es_visual.core.errors import BackendError
from es_visual.media.sniff import MediaType

__all__ = ["HALF_PLUS_HALF", "ScoreScale", "cosine_to_score", "score_scale", "to_body"]

# nmslib's cosinesimil: score = 1 / (1 + d) with d = 1 - cos.
NMSLIB_RECIPROCAL = ScoreScale(
    "1 / (2 - cos)", lambda cos: 1.0 / (2.0 - cos), lambda score: 2.0 - 1.0 / float(score)
)
# A clause on a root field that every document with vectors satisfies: see above.
PARENT_MARKER: dict[str, Any] = {"terms": {schema.MEDIA_TYPE_FIELD: list(get_args(MediaType))}}


def cosine_to_score(cos: float) -> float:
    return HALF_PLUS_HALF.to_score(cos)


def score_scale(field: dict[str, Any], version: tuple[int, int, int], where: str) -> ScoreScale:
    """How the ``knn_vector`` field mapped as ``field`` scores a cosine similarity."""
    method = field.get("method") or {}
    space = method.get("space_type") or field.get("space_type") or "l2"
    engine = method.get("engine") or ("faiss" if version[:2] >= (2, 19) else "nmslib")
    if field.get("type") not in (None, "knn_vector"):
        raise BackendError(f"{where} is a {field.get('type')} field, not a knn_vector")
    if space != "cosinesimil":
        raise BackendError(
            f"{where} uses space_type {space!r}; es-visual compares vectors by cosine "
            "similarity and needs 'cosinesimil' (`es-visual reindex` builds such an index)"
        )
    if engine == "nmslib" and version[:2] < (2, 19):
        return NMSLIB_RECIPROCAL
    return HALF_PLUS_HALF


def to_body(
    request: ir.SearchRequest,
    *,
    expand_nested_docs: bool = True,
    search_width: bool = True,
    scores: ScoreScale = HALF_PLUS_HALF,
) -> dict[str, Any]:
    """The body for ``POST /<request.index>/_search``.

    ``expand_nested_docs=False`` gives a body OpenSearch 2.12-2.18 accepts, where
    each hit reports only its best child; ``search_width=False`` leaves out
    ``method_parameters.ef_search`` (2.16+), the counterpart of Elasticsearch's
    ``num_candidates``.
    """
    if request.vector is None:
        return metadata_body(request)
    vq = check_vector_request(request)
    width = candidates(vq)  # the same bounds on k as Elasticsearch
    params: dict[str, Any] = {"vector": list(vq.vector), "k": vq.k}
    if search_width:
        params["method_parameters"] = {"ef_search": width}
    node = knn_filter(request)
    field = vector_field(vq.target)
    query: dict[str, Any]
    if vq.target not in NESTED_PATHS:  # scene, text: a field of the document itself
        if not isinstance(node, ir.MatchAll):
            params["filter"] = filter_to_query(node)
        query = {"knn": {field: params}}
    else:
        if not isinstance(node, ir.MatchAll):
            params["filter"] = {"bool": {"filter": [filter_to_query(node), PARENT_MARKER]}}
        if expand_nested_docs:
            params["expand_nested_docs"] = True
        query = {
            "nested": {
                "path": NESTED_PATHS[vq.target],
                "query": {"knn": {field: params}},
                "score_mode": "max",
                "inner_hits": inner_hits(vq.target),
            }
        }
    body: dict[str, Any] = {
        "size": request.size,
        "query": query,
        "_source": source_filter(request),
    }
    if vq.min_similarity is not None:
        body["min_score"] = scores.to_score(vq.min_similarity)
    if request.sort:
        body["sort"] = sort_clause(request.sort)
        body["track_scores"] = True
    # No "aggs": a kNN search's aggregations count its hits, not every document the
    # engine matched on the way (k per shard); ``responses`` counts them from the hits.
    return body
