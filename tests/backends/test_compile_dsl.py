"""Every IR filter node -> its Query DSL clause (shared by the ES and OpenSearch compilers)."""

from __future__ import annotations

import pytest

from es_visual.backends.cluster.dsl import filter_to_query, node_to_query
from es_visual.core import ir
from es_visual.core.errors import QueryError


@pytest.mark.parametrize(
    ("node", "body"),
    [
        (ir.MatchAll(), {"match_all": {}}),
        (ir.MatchNone(), {"match_none": {}}),
        (ir.Term("tags", "kitten"), {"term": {"tags": {"value": "kitten"}}}),
        (ir.Term("width", 1024), {"term": {"width": {"value": 1024}}}),
        (ir.Terms("acl.read", ("user:alice", "public")),
         {"terms": {"acl.read": ["user:alice", "public"]}}),
        (ir.Match("caption", "cold night"),
         {"match": {"caption": {"query": "cold night", "operator": "and"}}}),
        (ir.Match("caption", "cold night", phrase=True),
         {"match_phrase": {"caption": {"query": "cold night"}}}),
        (ir.MultiMatch(("caption", "title"), "cold night"),
         {"multi_match": {"query": "cold night", "fields": ["caption", "title"],
                          "type": "cross_fields", "operator": "and"}}),
        (ir.MultiMatch(("caption",), "cold night", phrase=True),
         {"multi_match": {"query": "cold night", "fields": ["caption"], "type": "phrase"}}),
        (ir.Prefix("folder", "trips/2024"), {"prefix": {"folder": {"value": "trips/2024"}}}),
        (ir.Range("uploaded_at", gte="2024-01-01T00:00:00Z", lt="2024-02-01T00:00:00Z"),
         {"range": {"uploaded_at": {"gte": "2024-01-01T00:00:00Z",
                                    "lt": "2024-02-01T00:00:00Z"}}}),
        (ir.Range("width", gt=10, lte=20), {"range": {"width": {"gt": 10, "lte": 20}}}),
        (ir.Exists("visual.error"), {"exists": {"field": "visual.error"}}),
        (ir.Ids(("a", "b")), {"ids": {"values": ["a", "b"]}}),
        (ir.And((ir.Term("a", 1), ir.Term("b", 2))),
         {"bool": {"filter": [{"term": {"a": {"value": 1}}}, {"term": {"b": {"value": 2}}}]}}),
        (ir.Or((ir.Term("a", 1), ir.Term("b", 2))),
         {"bool": {"should": [{"term": {"a": {"value": 1}}}, {"term": {"b": {"value": 2}}}],
                   "minimum_should_match": 1}}),
        (ir.Not(ir.Prefix("folder", "archive/")),
         {"bool": {"must_not": [{"prefix": {"folder": {"value": "archive/"}}}]}}),
        # A field inside a nested object is only reachable through a nested query.
        (ir.Term("visual.regions.label", "dog"),
         {"nested": {"path": "visual.regions",
                     "query": {"term": {"visual.regions.label": {"value": "dog"}}}}}),
    ],
)  # fmt: skip
def test_every_filter_node(node: ir.Node, body: dict) -> None:
    assert filter_to_query(node) == body


def test_scoring_and_uses_must_so_full_text_ranks() -> None:
    node = ir.And((ir.Match("caption", "dog"), ir.Not(ir.Term("tags", "x"))))
    assert node_to_query(node) == {
        "bool": {
            "must": [
                {"match": {"caption": {"query": "dog", "operator": "and"}}},
                {"bool": {"must_not": [{"term": {"tags": {"value": "x"}}}]}},
            ]
        }
    }


def test_empty_range_and_no_text_fields_are_query_errors() -> None:
    with pytest.raises(QueryError, match="no bound"):
        filter_to_query(ir.Range("width"))
    with pytest.raises(QueryError, match="no text fields"):
        filter_to_query(ir.MultiMatch((), "dog"))
