"""Golden Elasticsearch 8.11+/9.x bodies, as the reference documents them.

Checked against the Elasticsearch docs: top-level ``knn`` (field, query_vector,
k, num_candidates, filter, similarity in raw cosine units); nested kNN on
``<path>.vector`` with ``inner_hits`` in the knn section; ``_source`` excludes.
"""

from __future__ import annotations

import pytest

from es_visual.backends.cluster.compile_es import to_body
from es_visual.core import ir
from es_visual.core.errors import QueryError

VECTOR_EXCLUDES = [
    "visual.scene",
    "visual.regions.vector",
    "visual.faces.vector",
    "visual.frames.vector",
    "visual.text_vector",  # the meaning of the document's text (query.meaning)
    "visual.label_rank",  # what only the engine ranks by (core.labels)
]
ACL = ir.Or((ir.Terms("acl.read", ("user:alice", "group:design", "public")),
             ir.Not(ir.Exists("acl.read"))))  # fmt: skip
ACL_BODY = {
    "bool": {
        "should": [
            {"terms": {"acl.read": ["user:alice", "group:design", "public"]}},
            {"bool": {"must_not": [{"exists": {"field": "acl.read"}}]}},
        ],
        "minimum_should_match": 1,
    }
}


def test_text_vector_knn_is_a_root_knn_with_filter_acl_and_similarity_floor() -> None:
    """The meaning of the user's text (query.meaning): a kNN over visual.text_vector,
    the filter and the ACL inside it, the floor in raw cosine, no inner hits."""
    request = ir.SearchRequest(
        index="media",
        filter=ir.Term("tags", "kitten"),
        acl=ACL,
        vector=ir.VectorQuery(
            vector=(0.1, 0.2), target="text", k=100, num_candidates=200, min_similarity=0.35
        ),
        size=100,
    )
    assert to_body(request) == {
        "size": 100,
        "knn": {
            "field": "visual.text_vector",
            "query_vector": [0.1, 0.2],
            "k": 100,
            "num_candidates": 200,
            "filter": {"bool": {"filter": [{"term": {"tags": {"value": "kitten"}}}, ACL_BODY]}},
            "similarity": 0.35,
        },
        "_source": {"excludes": VECTOR_EXCLUDES},
    }


def test_scene_knn_with_filter_and_acl_inside_the_knn_clause() -> None:
    request = ir.SearchRequest(
        index="media",
        filter=ir.And((ir.Term("tags", "kitten"), ir.Range("uploaded_at", gt="2024-05-01"))),
        acl=ACL,
        vector=ir.VectorQuery(vector=(0.1, 0.2, 0.3), k=5, num_candidates=50),
        size=5,
    )
    assert to_body(request) == {
        "size": 5,
        "knn": {
            "field": "visual.scene",
            "query_vector": [0.1, 0.2, 0.3],
            "k": 5,
            "num_candidates": 50,
            "filter": {
                "bool": {
                    "filter": [
                        {"term": {"tags": {"value": "kitten"}}},
                        {"range": {"uploaded_at": {"gt": "2024-05-01"}}},
                        ACL_BODY,
                    ]
                }
            },
        },
        "_source": {"excludes": VECTOR_EXCLUDES},
    }
    assert "post_filter" not in to_body(request)


def test_min_similarity_is_knn_similarity_in_raw_cosine_units() -> None:
    request = ir.SearchRequest(
        index="media",
        vector=ir.VectorQuery(vector=(1.0, 0.0), k=10, num_candidates=5, min_similarity=0.25),
        fields=("title", "visual.path"),
    )
    body = to_body(request)
    assert body["knn"] == {
        "field": "visual.scene",
        "query_vector": [1.0, 0.0],
        "k": 10,
        "num_candidates": 10,  # raised to k: Elasticsearch refuses fewer
        "similarity": 0.25,
    }
    assert body["_source"] == {"includes": ["title", "visual.path"], "excludes": VECTOR_EXCLUDES}


def test_nested_frames_knn_with_inner_hits_and_acl() -> None:
    request = ir.SearchRequest(
        index="media",
        filter=ir.Term("visual.media_type", "video"),
        acl=ACL,
        vector=ir.VectorQuery(vector=(0.5, 0.5), target="frames", k=3, num_candidates=30),
        size=3,
    )
    assert to_body(request) == {
        "size": 3,
        "knn": {
            "field": "visual.frames.vector",
            "query_vector": [0.5, 0.5],
            "k": 3,
            "num_candidates": 30,
            "filter": {
                "bool": {"filter": [{"term": {"visual.media_type": {"value": "video"}}}, ACL_BODY]}
            },
            "inner_hits": {
                "name": "frames",
                "size": 100,
                "_source": {"excludes": ["visual.frames.vector"]},
            },
        },
        "_source": {"excludes": VECTOR_EXCLUDES},
    }


def test_regions_and_faces_use_their_nested_vector_fields() -> None:
    for target in ("regions", "faces"):
        request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,), target=target))
        knn = to_body(request)["knn"]
        assert knn["field"] == f"visual.{target}.vector"
        assert knn["inner_hits"]["name"] == target
        assert "filter" not in knn  # MatchAll: no filter at all


def test_find_similar_leaves_out_its_own_asset_inside_the_filter() -> None:
    request = ir.SearchRequest(
        index="m", acl=ir.Terms("acl.read", ("public",)),
        vector=ir.VectorQuery((1.0,), exclude_ids=("a1",)),
    )  # fmt: skip
    assert to_body(request)["knn"]["filter"] == {
        "bool": {
            "filter": [
                {"terms": {"acl.read": ["public"]}},
                {"bool": {"must_not": [{"ids": {"values": ["a1"]}}]}},
            ]
        }
    }


def test_match_none_acl_filters_everything_out() -> None:
    request = ir.SearchRequest(
        index="m", filter=ir.Term("tags", "a"), acl=ir.MatchNone(), vector=ir.VectorQuery((1.0,))
    )
    assert to_body(request)["knn"]["filter"] == {"match_none": {}}
    meta = ir.SearchRequest(index="m", filter=ir.Term("tags", "a"), acl=ir.MatchNone())
    assert to_body(meta)["query"] == {"match_none": {}}


def test_metadata_search_with_sort_and_search_after() -> None:
    request = ir.SearchRequest(
        index="media",
        filter=ir.Prefix("folder", "trips/"),
        acl=ir.Terms("acl.read", ("public",)),
        sort=(ir.Sort("uploaded_at", "desc"),),
        after=("2024-05-01T00:00:00Z", 17),
        size=20,
    )
    assert to_body(request) == {
        "size": 20,
        "query": {
            "bool": {
                "filter": [
                    {
                        "bool": {
                            "filter": [
                                {"prefix": {"folder": {"value": "trips/"}}},
                                {"terms": {"acl.read": ["public"]}},
                            ]
                        }
                    }
                ]
            }
        },
        "sort": [{"uploaded_at": {"order": "desc"}}, {"_shard_doc": {"order": "asc"}}],
        "_source": {"excludes": VECTOR_EXCLUDES},
        "track_scores": True,
        "search_after": ["2024-05-01T00:00:00Z", 17],
    }


def test_metadata_full_text_ranks_and_acl_only_restricts() -> None:
    request = ir.SearchRequest(
        index="media", filter=ir.MultiMatch(("caption",), "dog"), acl=ir.Terms("acl.read", ("p",))
    )
    body = to_body(request)
    assert body["query"] == {
        "bool": {
            "must": [
                {
                    "multi_match": {
                        "query": "dog",
                        "fields": ["caption"],
                        "type": "cross_fields",
                        "operator": "and",
                    }
                }
            ],
            "filter": [{"terms": {"acl.read": ["p"]}}],
        }
    }
    assert body["sort"] == [{"_score": {"order": "desc"}}, {"_shard_doc": {"order": "asc"}}]
    assert to_body(ir.SearchRequest(index="m"))["query"] == {"match_all": {}}


def test_aggregations_with_and_without_a_vector() -> None:
    aggs = {
        "tags": {"terms": {"field": "tags", "size": 5}},
        "visual.media_type": {"terms": {"field": "visual.media_type", "size": 5}},
    }
    meta = ir.SearchRequest(
        index="m", size=0, aggregations=("tags", "visual.media_type"), aggregation_size=5
    )
    assert to_body(meta)["aggs"] == aggs
    knn = ir.SearchRequest(
        index="m",
        vector=ir.VectorQuery((1.0,)),
        aggregations=("tags", "visual.media_type"),
        aggregation_size=5,
    )
    # A kNN search counts its aggregations over its hits (responses.parse_response):
    # the engine would count every document it matched on the way, k per shard.
    assert "aggs" not in to_body(knn)
    from es_visual.backends.cluster.responses import parse_response

    resp = {"hits": {"hits": [
        {"_id": "a", "_score": 1.0,
         "_source": {"tags": ["x", "y"], "visual": {"media_type": "image"}}},
        {"_id": "b", "_score": 0.9, "_source": {"tags": ["x"], "visual": {"media_type": "video"}}},
    ]}}  # fmt: skip
    counted = parse_response(resp, knn).aggregations
    assert counted == {
        "tags": [("x", 2), ("y", 1)],
        "visual.media_type": [("image", 1), ("video", 1)],
    }


def test_sort_on_a_vector_search_keeps_scores() -> None:
    request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,)), sort=(ir.Sort("w"),))
    body = to_body(request)
    assert body["sort"] == [{"w": {"order": "asc"}}]
    assert body["track_scores"] is True


def test_vector_search_refuses_paging_and_bad_k() -> None:
    with pytest.raises(QueryError, match="limit"):
        to_body(ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,)), after=(1,)))
    with pytest.raises(QueryError, match="at most"):
        to_body(ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,), k=20_000)))


def test_compiling_does_not_change_the_request() -> None:
    request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0, 2.0)))
    before = repr(request)
    to_body(request)["knn"]["query_vector"].append(3.0)
    assert repr(request) == before
