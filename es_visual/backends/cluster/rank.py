"""``RankRequest`` -> a ``_search`` body the engine ranks itself (both clusters).

* ``LabelRank``: one ``rank_feature`` query per concept on ``visual.label_rank``
  (``core.labels``), ``linear`` function, ``boost`` = the concept's weight, in a
  ``bool.should``: the engine sums ``weight x stored probability``, which is
  ``labels.concept_score``. ``minimum_should_match: 1`` keeps only documents that
  carry a concept; no candidate cap, no script.
* ``TextRank``: one ``multi_match`` (``best_fields``: a word scores in the field
  where it scores best) per query word in a ``bool.should`` (any word; their scores
  add up), as the embedded store's BM25 does. ``dfs_query_then_fetch`` makes every
  shard use the index's term statistics, so BM25 does not depend on how documents
  fall on shards.

The filter and the ACL are a ``bool.filter`` next to the scoring clauses: they
restrict every clause and add nothing to a score.
"""

from __future__ import annotations

from typing import Any

from es_visual.backends.cluster.dsl import HIDDEN_FIELDS, filter_to_query
from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.ranking import LabelRank, RankRequest, TextRank

# Search parameters of a ranking: BM25 over the whole index, not per shard.
TEXT_PARAMS: dict[str, str] = {"search_type": "dfs_query_then_fetch"}


def label_clauses(rank: LabelRank) -> list[dict[str, Any]]:
    clauses = []
    for name, weight in rank.concepts:
        if weight > 0:
            field = f"{schema.RANK_FIELD}.{schema.feature_name(name)}"
            clauses.append({"rank_feature": {"field": field, "linear": {}, "boost": weight}})
    return clauses


def text_clauses(rank: TextRank) -> list[dict[str, Any]]:
    fields = list(rank.fields)
    return [
        {"multi_match": {"query": word, "fields": fields, "type": "best_fields"}}
        for word in rank.words
    ]


def rank_query(rank: LabelRank | TextRank, scoped: ir.Node) -> dict[str, Any] | None:
    """The scoring query of ``rank`` restricted to ``scoped``; None when it can match
    nothing (no concept with a weight, no word or no field)."""
    if isinstance(rank, LabelRank):
        should = label_clauses(rank)
    else:
        should = text_clauses(rank) if rank.fields else []
    if not should or isinstance(scoped, ir.MatchNone):
        return None
    query: dict[str, Any] = {"should": should, "minimum_should_match": 1}
    if not isinstance(scoped, ir.MatchAll):
        query["filter"] = [filter_to_query(scoped)]
    return {"bool": query}


def rank_body(request: RankRequest, scoped: ir.Node) -> dict[str, Any] | None:
    """The body for ``POST /<index>/_search`` (with ``TEXT_PARAMS`` for a TextRank)."""
    query = rank_query(request.rank, scoped)
    if query is None:
        return None
    source: dict[str, Any] = {"excludes": list(HIDDEN_FIELDS)}
    if request.fields is not None:
        source["includes"] = list(request.fields)
    return {
        "size": request.size,
        "query": query,
        "_source": source,
        "track_total_hits": False,
    }
