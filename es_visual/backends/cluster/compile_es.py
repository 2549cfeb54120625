"""SearchRequest -> an Elasticsearch 8.11+ / 9.x ``_search`` body.

A vector search is the top-level ``knn`` section (approximate kNN; the
``filter`` inside it is a pre-filter, so the k hits are the best k the caller
may read). Nested targets search ``visual.<target>.vector``: Elasticsearch
diversifies over parent documents (each scored by its best child) and, since
8.11, ``inner_hits`` scores every child of each hit, which is what builds the
matched regions and a video's timeline.

Scores: with ``similarity: cosine`` a hit's ``_score`` is ``(1 + cos) / 2``
(the backend converts back); the knn ``similarity`` parameter is in raw cosine
units, "the raw similarity used, not the document score", so
``min_similarity`` goes in unchanged.
"""

from __future__ import annotations

from typing import Any

from es_visual.backends.cluster.dsl import (
    NESTED_PATHS,
    SHARD_DOC_TIEBREAKER,
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
from es_visual.core import ir

__all__ = ["filter_to_query", "to_body"]


def to_body(request: ir.SearchRequest) -> dict[str, Any]:
    """The body for ``POST /<request.index>/_search``; a metadata search is paged under
    a point in time, which the backend adds (``pit``) before sending it."""
    if request.vector is None:
        return metadata_body(request, SHARD_DOC_TIEBREAKER)
    vq = check_vector_request(request)
    knn: dict[str, Any] = {
        "field": vector_field(vq.target),
        "query_vector": list(vq.vector),
        "k": vq.k,
        "num_candidates": candidates(vq),
    }
    node = knn_filter(request)
    if not isinstance(node, ir.MatchAll):
        knn["filter"] = filter_to_query(node)
    if vq.min_similarity is not None:
        knn["similarity"] = vq.min_similarity
    if vq.target in NESTED_PATHS:
        knn["inner_hits"] = inner_hits(vq.target)
    body: dict[str, Any] = {
        "size": request.size,
        "knn": knn,
        "_source": source_filter(request),
    }
    if request.sort:
        body["sort"] = sort_clause(request.sort)
        body["track_scores"] = True
    # No "aggs": a kNN search's aggregations count its hits, not every document the
    # engine matched on the way (k per shard); ``responses`` counts them from the hits.
    return body
