"""A text search's rankings fused by the engine: the bodies, and what the answer says.

Where ``ServerInfo.fusion`` allows it (see there for the versions, plugins and license),
the rankings of ``cluster.rank`` and the kNN searches go to the engine in one request
and come back fused by reciprocal rank, the formula ``query.ranking.rrf`` uses
(``1 / (k + rank)`` summed over the lists, the best ``window`` of each):

* Elasticsearch: the ``rrf`` retriever over one ``standard`` retriever per ranking
  and one ``knn`` retriever per vector search (``rank_window_size``,
  ``rank_constant``). ``explain: true`` makes each hit say its rank in every
  retriever ("computed for initial ranks [2, 0, 1]"), which ``es_ranks`` reads back.
* OpenSearch 2.19+ with neural-search: a ``hybrid`` query of the same clauses, fused
  by a search pipeline whose ``score-ranker-processor`` has ``technique: rrf``
  (``PIPELINE``, created once per cluster under ``PIPELINE_NAME``). Every sub-query
  returns the best ``window`` per shard; the hits are cut to ``size`` here.

The ACL and the filter are inside every retriever and sub-query, never only around
the whole: a kNN clause without them would fill its k with documents the caller may
not read. Only scene kNN searches without a similarity threshold are fused this way
(a nested target's matched children, or a threshold, need the per-list hits):
``fusable`` says so, and the caller fuses the rest itself.
"""

from __future__ import annotations

import re
from typing import Any

from es_visual.backends.cluster import compile_es, compile_opensearch
from es_visual.backends.cluster.dsl import HIDDEN_FIELDS
from es_visual.backends.cluster.rank import rank_query
from es_visual.core import ir
from es_visual.core.ranking import FuseRequest

PIPELINE_NAME = "es-visual-rrf"


def pipeline(k: int) -> dict[str, Any]:
    """The search pipeline that fuses a ``hybrid`` query by reciprocal rank."""
    return {
        "description": "es-visual: reciprocal rank fusion of a text search's rankings",
        "phase_results_processors": [
            {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": k}}}
        ],
    }


def pipeline_name(k: int) -> str:
    return f"{PIPELINE_NAME}-{k}"


def fusable(request: FuseRequest) -> bool:
    """Whether the engine can fuse ``request`` as es-visual would (see the module)."""
    if len(request.names) < 2 or len(request.names) > 5:  # hybrid takes at most 5
        return False
    for _, vr in request.vectors:
        vq = vr.vector
        if vq is None or vq.target != "scene" or vq.min_similarity is not None:
            return False
    return True


def _source(request: FuseRequest) -> dict[str, Any]:
    source: dict[str, Any] = {"excludes": list(HIDDEN_FIELDS)}
    if request.fields is not None:
        source["includes"] = list(request.fields)
    return source


def _rank_clauses(request: FuseRequest, scoped: dict[str, ir.Node]) -> list[dict[str, Any]]:
    out = []
    for name, rr in request.ranks:
        query = rank_query(rr.rank, scoped[name])
        # A ranking that can match nothing still holds its place (ranks are by position).
        out.append(query if query is not None else {"match_none": {}})
    return out


def es_body(request: FuseRequest, scoped: dict[str, ir.Node]) -> dict[str, Any]:
    """The ``_search`` body of the ``rrf`` retriever; ``scoped``: each ranking's filter
    and ACL, as the backend resolved them (keyword sub-fields)."""
    retrievers: list[dict[str, Any]] = [
        {"standard": {"query": q}} for q in _rank_clauses(request, scoped)
    ]
    for _, vr in request.vectors:
        knn = dict(compile_es.to_body(vr)["knn"])
        knn["k"] = max(knn["k"], request.window)
        knn["num_candidates"] = max(knn["num_candidates"], knn["k"])
        retrievers.append({"knn": knn})
    window = max(request.window, request.size)
    return {
        "retriever": {
            "rrf": {
                "retrievers": retrievers,
                "rank_window_size": window,
                "rank_constant": request.k,
            }
        },
        "size": request.size,
        "_source": _source(request),
        "explain": True,
    }


def opensearch_body(
    request: FuseRequest, scoped: dict[str, ir.Node], *, search_width: bool = True
) -> dict[str, Any]:
    """The ``_search`` body of the ``hybrid`` query (sent with ``search_pipeline``)."""
    queries = _rank_clauses(request, scoped)
    for _, vr in request.vectors:
        queries.append(compile_opensearch.to_body(vr, search_width=search_width)["query"])
    return {
        "query": {"hybrid": {"queries": queries}},
        "size": max(request.window, request.size),
        "_source": _source(request),
    }


_INITIAL_RANKS = re.compile(r"initial ranks \[([0-9,\s]*)\]")


def es_ranks(hit: dict[str, Any], names: tuple[str, ...]) -> dict[str, int]:
    """Signal -> rank of a hit of the ``rrf`` retriever, from its explanation (a rank
    of 0 there: not in that retriever's list); {} when the explanation says nothing."""
    found = _INITIAL_RANKS.search(_descriptions(hit.get("_explanation")))
    if found is None:
        return {}
    ranks = [int(r) for r in found.group(1).replace(" ", "").split(",") if r]
    if len(ranks) != len(names):
        return {}
    return {name: rank for name, rank in zip(names, ranks, strict=True) if rank > 0}


def _descriptions(explanation: Any) -> str:
    if not isinstance(explanation, dict):
        return ""
    parts = [str(explanation.get("description") or "")]
    parts += [_descriptions(d) for d in explanation.get("details") or []]
    return "\n".join(parts)
