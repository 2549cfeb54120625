"""SearchRequest -> an OpenSearch 2.12+ / 3.x ``_search`` body (k-NN plugin).

A vector search is a ``knn`` query with ``vector``, ``k`` and an efficient
``filter`` (applied during the search by the Lucene and Faiss engines, so the k
hits are the best k the caller may read). A nested target is the same ``knn``
query inside a ``nested`` query on ``visual.<target>`` with ``inner_hits``;
``expand_nested_docs`` (OpenSearch 2.19+) scores every child, not only the
best, and ``score_mode: max`` keeps a document's score its best child's.

Scores: for ``cosinesimil`` OpenSearch scores ``(2 - d) / 2`` with
``d = 1 - cos``, i.e. ``(1 + cos) / 2`` on every engine; the backend converts
back. The knn query has no similarity threshold that combines with ``k``
(``min_score`` there is radial search, which replaces ``k``), so
``min_similarity`` becomes the search's top-level ``min_score`` in score units.
"""

from __future__ import annotations

from typing import Any

from es_visual.backends.cluster.dsl import (
    NESTED_PATHS,
    aggregations,
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
from es_visual.query import ir

__all__ = ["cosine_to_score", "filter_to_query", "to_body"]


def cosine_to_score(cos: float) -> float:
    return (1.0 + cos) / 2.0


def to_body(request: ir.SearchRequest, *, expand_nested_docs: bool = True) -> dict[str, Any]:
    """The body for ``POST /<request.index>/_search``.

    ``expand_nested_docs=False`` gives a body OpenSearch 2.12-2.18 accepts, where
    each hit reports only its best child.
    """
    if request.vector is None:
        return metadata_body(request)
    vq = check_vector_request(request)
    candidates(vq)  # the same bounds on k as Elasticsearch
    params: dict[str, Any] = {"vector": list(vq.vector), "k": vq.k}
    node = knn_filter(request)
    if not isinstance(node, ir.MatchAll):
        params["filter"] = filter_to_query(node)
    field = vector_field(vq.target)
    query: dict[str, Any]
    if vq.target == "scene":
        query = {"knn": {field: params}}
    else:
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
        body["min_score"] = cosine_to_score(vq.min_similarity)
    if request.sort:
        body["sort"] = sort_clause(request.sort)
        body["track_scores"] = True
    if request.aggregations:
        body["aggs"] = aggregations(request)
    return body
