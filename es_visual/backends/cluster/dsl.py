"""IR filter nodes -> Query DSL, shared by the Elasticsearch and OpenSearch compilers.

Both clusters speak the same ``bool`` / ``term`` / ``range`` DSL; only the vector
part of a request differs, and that lives in ``compile_es`` / ``compile_opensearch``.
This module also holds the pieces of a search body both compilers emit the same
way: source filtering (vectors never come back), sorts and terms aggregations.
"""

from __future__ import annotations

from typing import Any, assert_never

from es_visual.core import ir, labels, schema
from es_visual.core.errors import QueryError

# Where each vector target lives (core.schema); the nested ones hold a ``vector`` per child.
SCENE_FIELD = schema.SCENE_FIELD
NESTED_PATHS = schema.NESTED_PATHS
VECTOR_FIELDS: tuple[str, ...] = tuple(schema.KNN_FIELDS.values())
# Never in a hit's source: vectors, and what only the engine ranks by (core.labels).
HIDDEN_FIELDS: tuple[str, ...] = (*VECTOR_FIELDS, labels.RANK_FIELD)

# The most children reported per hit: Elasticsearch's default index.max_inner_result_window.
INNER_HITS_SIZE = 100
# Elasticsearch and OpenSearch both refuse more candidates than this per shard.
MAX_CANDIDATES = 10_000


def vector_field(target: ir.KnnTarget) -> str:
    return schema.KNN_FIELDS[target]


def filter_to_query(node: ir.Node) -> dict[str, Any]:
    """A filter node as a non-scoring query (for kNN ``filter`` and ``bool.filter``)."""
    return _Compiler(scoring=False).visit(node)


def node_to_query(node: ir.Node) -> dict[str, Any]:
    """A node as a scoring query: full-text parts rank the hits of a metadata search."""
    return _Compiler(scoring=True).visit(node)


def has_full_text(node: ir.Node) -> bool:
    match node:
        case ir.Match() | ir.MultiMatch():
            return True
        case ir.And(children) | ir.Or(children):
            return any(has_full_text(c) for c in children)
        case ir.Not(child):
            return has_full_text(child)
        case (
            ir.MatchAll()
            | ir.MatchNone()
            | ir.Term()
            | ir.Terms()
            | ir.Prefix()
            | ir.Range()
            | ir.Exists()
            | ir.Ids()
        ):
            return False
        case _:
            assert_never(node)


def knn_filter(request: ir.SearchRequest) -> ir.Node:
    """What every kNN clause is restricted to: the filter, the ACL, minus excluded ids."""
    node = request.scoped_filter
    if request.vector is not None and request.vector.exclude_ids:
        node = ir.and_(node, ir.Not(ir.Ids(request.vector.exclude_ids)))
    return node


def source_filter(request: ir.SearchRequest) -> dict[str, Any]:
    """``_source`` for the hits: the asked-for fields, never a vector."""
    out: dict[str, Any] = {}
    if request.fields is not None:
        # A vector search counts its aggregations over its hits' sources (``responses``).
        extra = request.aggregations if request.vector is not None else ()
        out["includes"] = list(dict.fromkeys([*request.fields, *extra]))
    out["excludes"] = list(HIDDEN_FIELDS)
    return out


def inner_hits(target: ir.KnnTarget) -> dict[str, Any]:
    """Every child of a hit, scored, with its source minus its vector.

    Source filtering in inner hits uses the full path (the filter runs on the
    root document before the child is cut out of it).
    """
    return {
        "name": target,
        "size": INNER_HITS_SIZE,
        "_source": {"excludes": [vector_field(target)]},
    }


def sort_clause(sort: tuple[ir.Sort, ...]) -> list[dict[str, Any]]:
    return [{s.field: {"order": s.order}} for s in sort]


def aggregations(request: ir.SearchRequest) -> dict[str, Any]:
    """One ``terms`` aggregation per field, named after the field."""
    return {
        name: {"terms": {"field": name, "size": request.aggregation_size}}
        for name in request.aggregations
    }


def candidates(vq: ir.VectorQuery) -> int:
    if vq.k < 1:
        raise QueryError(f"k must be at least 1, not {vq.k}")
    if vq.k > MAX_CANDIDATES:
        raise QueryError(f"k may be at most {MAX_CANDIDATES}, not {vq.k}")
    return min(max(vq.num_candidates, vq.k), MAX_CANDIDATES)


def metadata_query(request: ir.SearchRequest) -> dict[str, Any]:
    """The query of a search without a vector: the filter ranks (when it holds full-text
    parts), the ACL only restricts."""
    if isinstance(request.scoped_filter, ir.MatchNone):
        return {"match_none": {}}
    if not has_full_text(request.filter):
        scoped = request.scoped_filter
        if isinstance(scoped, ir.MatchAll):
            return {"match_all": {}}
        return {"bool": {"filter": [filter_to_query(scoped)]}}
    body: dict[str, Any] = {"must": [node_to_query(request.filter)]}
    if not isinstance(request.acl, ir.MatchAll):
        body["filter"] = [filter_to_query(request.acl)]
    return {"bool": body}


# The last sort key of a metadata search: unique per document, so that ties on the
# requested sort never repeat or skip a hit between pages. ``_doc`` is not: it is a
# document's number inside one shard's segment, repeated across shards.
ID_TIEBREAKER: dict[str, Any] = {"_id": {"order": "asc"}}
SHARD_DOC_TIEBREAKER: dict[str, Any] = {"_shard_doc": {"order": "asc"}}  # with a PIT only


def metadata_body(
    request: ir.SearchRequest, tiebreaker: dict[str, Any] = ID_TIEBREAKER
) -> dict[str, Any]:
    """The whole body of a metadata search: the same DSL on both clusters.

    Paging is by ``search_after`` over the requested sort (relevance when none),
    then ``tiebreaker``: ``_id`` on OpenSearch (sortable there), ``_shard_doc``
    under a point in time on Elasticsearch (which refuses to sort on ``_id``).
    """
    sort = sort_clause(request.sort) or [{"_score": {"order": "desc"}}]
    body: dict[str, Any] = {
        "size": request.size,
        "query": metadata_query(request),
        "sort": [*sort, tiebreaker],
        "_source": source_filter(request),
        "track_scores": True,
    }
    if request.after is not None:
        body["search_after"] = list(request.after)
    if request.aggregations:
        body["aggs"] = aggregations(request)
    return body


def check_vector_request(request: ir.SearchRequest) -> ir.VectorQuery:
    vq = request.vector
    assert vq is not None
    if request.after is not None:
        raise QueryError(
            "a vector search returns its best k hits in one page; "
            "raise limit() instead of paging it with after()"
        )
    if not vq.vector:
        raise QueryError("the query vector is empty")
    return vq


def nested_path(field: str) -> str | None:
    """The nested object a field lives in (``visual.regions.label`` -> ``visual.regions``)."""
    for path in NESTED_PATHS.values():
        if field.startswith(path + "."):
            return path
    return None


class _Compiler:
    """Filter nodes -> query clauses; ``scoring`` picks ``must`` over ``filter`` for AND."""

    def __init__(self, *, scoring: bool) -> None:
        self.scoring = scoring

    def visit(self, node: ir.Node) -> dict[str, Any]:
        match node:
            case ir.MatchAll():
                return {"match_all": {}}
            case ir.MatchNone():
                return {"match_none": {}}
            case ir.Term(field, value):
                return _leaf(field, {"term": {field: {"value": value}}})
            case ir.Terms(field, values):
                return _leaf(field, {"terms": {field: list(values)}})
            case ir.Match(field, text, phrase):
                if phrase:
                    return _leaf(field, {"match_phrase": {field: {"query": text}}})
                return _leaf(field, {"match": {field: {"query": text, "operator": "and"}}})
            case ir.MultiMatch():
                return _multi_match(node)
            case ir.Prefix(field, prefix):
                return _leaf(field, {"prefix": {field: {"value": prefix}}})
            case ir.Range():
                return _range(node)
            case ir.Exists(field):
                return _leaf(field, {"exists": {"field": field}})
            case ir.Ids(values):
                return {"ids": {"values": list(values)}}
            case ir.And(children):
                key = "must" if self.scoring else "filter"
                return {"bool": {key: [self.visit(c) for c in children]}}
            case ir.Or(children):
                return {
                    "bool": {
                        "should": [self.visit(c) for c in children],
                        "minimum_should_match": 1,
                    }
                }
            case ir.Not(child):
                # must_not never scores; the child is compiled as a filter either way.
                return {"bool": {"must_not": [filter_to_query(child)]}}
            case _:
                assert_never(node)


def _leaf(field: str, query: dict[str, Any]) -> dict[str, Any]:
    # A field inside a nested object only matches through a nested query.
    path = nested_path(field)
    return {"nested": {"path": path, "query": query}} if path else query


def _multi_match(node: ir.MultiMatch) -> dict[str, Any]:
    if not node.fields:
        raise QueryError(f"no text fields are configured to search {node.text!r} in")
    # cross_fields + and: every word must occur, each in any of the fields.
    query: dict[str, Any] = {"query": node.text, "fields": list(node.fields)}
    if node.phrase:
        query["type"] = "phrase"
    else:
        query.update(type="cross_fields", operator="and")
    return {"multi_match": query}


def _range(node: ir.Range) -> dict[str, Any]:
    bounds = {
        op: value
        for op, value in (("gt", node.gt), ("gte", node.gte), ("lt", node.lt), ("lte", node.lte))
        if value is not None
    }
    if not bounds:
        raise QueryError(f"range on {node.field!r} has no bound")
    return _leaf(node.field, {"range": {node.field: bounds}})
