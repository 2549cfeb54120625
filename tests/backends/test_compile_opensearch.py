"""Golden OpenSearch 2.12+/3.x bodies, as the k-NN plugin's docs specify them.

``knn`` query ``{field: {vector, k, filter}}`` (efficient filtering); nested
fields through a ``nested`` query with ``path``, ``inner_hits`` and
``expand_nested_docs`` (2.19+); cosinesimil scores ``(1 + cos) / 2``.
"""

from __future__ import annotations

import pytest

from es_visual.backends.cluster.compile_opensearch import cosine_to_score, to_body
from es_visual.core import ir

VECTOR_EXCLUDES = [
    "visual.scene",
    "visual.regions.vector",
    "visual.faces.vector",
    "visual.frames.vector",
    "visual.text_vector",  # the meaning of the document's text (query.meaning)
    "visual.label_rank",  # what only the engine ranks by (core.labels)
]
ACL = ir.Terms("acl.read", ("user:alice", "public"))


def test_scene_knn_with_efficient_filter_and_acl() -> None:
    request = ir.SearchRequest(
        index="media",
        filter=ir.Term("tags", "kitten"),
        acl=ACL,
        vector=ir.VectorQuery(vector=(0.1, 0.2), k=5),
        size=5,
    )
    assert to_body(request) == {
        "size": 5,
        "query": {
            "knn": {
                "visual.scene": {
                    "vector": [0.1, 0.2],
                    "k": 5,
                    "method_parameters": {"ef_search": 100},
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"tags": {"value": "kitten"}}},
                                {"terms": {"acl.read": ["user:alice", "public"]}},
                            ]
                        }
                    },
                }
            }
        },
        "_source": {"excludes": VECTOR_EXCLUDES},
    }


def test_text_vector_knn_is_a_root_knn_with_filter_acl_and_min_score() -> None:
    """The meaning of the user's text (query.meaning): a knn query on visual.text_vector
    with the filter and the ACL as its efficient filter; the floor as min_score."""
    request = ir.SearchRequest(
        index="media",
        filter=ir.Term("tags", "kitten"),
        acl=ACL,
        vector=ir.VectorQuery(vector=(0.1, 0.2), target="text", k=100, min_similarity=0.35),
        size=100,
    )
    assert to_body(request) == {
        "size": 100,
        "query": {
            "knn": {
                "visual.text_vector": {
                    "vector": [0.1, 0.2],
                    "k": 100,
                    "method_parameters": {"ef_search": 100},
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"tags": {"value": "kitten"}}},
                                {"terms": {"acl.read": ["user:alice", "public"]}},
                            ]
                        }
                    },
                }
            }
        },
        "_source": {"excludes": VECTOR_EXCLUDES},
        "min_score": cosine_to_score(0.35),
    }


def test_nested_frames_knn_with_inner_hits() -> None:
    request = ir.SearchRequest(
        index="media", acl=ACL, vector=ir.VectorQuery(vector=(0.5, 0.5), target="frames", k=3)
    )
    assert to_body(request)["query"] == {
        "nested": {
            "path": "visual.frames",
            "query": {
                "knn": {
                    "visual.frames.vector": {
                        "vector": [0.5, 0.5],
                        "k": 3,
                        "method_parameters": {"ef_search": 100},
                        # The marker term makes k-NN < 3.5 join the filter to the parents.
                        "filter": {
                            "bool": {
                                "filter": [
                                    {"terms": {"acl.read": ["user:alice", "public"]}},
                                    {"terms": {"visual.media_type": ["image", "video"]}},
                                ]
                            }
                        },
                        "expand_nested_docs": True,
                    }
                }
            },
            "score_mode": "max",
            "inner_hits": {
                "name": "frames",
                "size": 100,
                "_source": {"excludes": ["visual.frames.vector"]},
            },
        }
    }
    old = to_body(request, expand_nested_docs=False, search_width=False)
    params = old["query"]["nested"]["query"]["knn"]["visual.frames.vector"]
    assert "expand_nested_docs" not in params and "method_parameters" not in params


def test_score_scale_follows_the_fields_engine_and_space() -> None:
    from es_visual.backends.cluster.compile_opensearch import NMSLIB_RECIPROCAL, score_scale
    from es_visual.core.errors import BackendError

    lucene = {"type": "knn_vector", "method": {"engine": "lucene", "space_type": "cosinesimil"}}
    nmslib = {"type": "knn_vector", "method": {"engine": "nmslib", "space_type": "cosinesimil"}}
    assert score_scale(lucene, (2, 12, 0), "f").to_score(0.5) == 0.75
    old = score_scale(nmslib, (2, 18, 0), "f")
    assert old is NMSLIB_RECIPROCAL and abs(old.to_cosine(old.to_score(0.3)) - 0.3) < 1e-9
    assert old.to_score(0.5) == 1 / 1.5
    with pytest.raises(BackendError, match="space_type 'l2'"):
        score_scale({"type": "knn_vector", "method": {"engine": "lucene"}}, (2, 19, 0), "f")
    request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,), min_similarity=0.5))
    assert to_body(request, scores=old)["min_score"] == 1 / 1.5


def test_min_similarity_becomes_min_score_in_score_units() -> None:
    request = ir.SearchRequest(index="m", vector=ir.VectorQuery((1.0,), min_similarity=0.5))
    body = to_body(request)
    assert body["min_score"] == 0.75 == cosine_to_score(0.5)
    assert "min_score" not in body["query"]["knn"]["visual.scene"]  # that is radial search


def test_match_none_and_aggregations() -> None:
    request = ir.SearchRequest(
        index="m", acl=ir.MatchNone(), vector=ir.VectorQuery((1.0,)), aggregations=("tags",)
    )
    body = to_body(request)
    assert body["query"]["knn"]["visual.scene"]["filter"] == {"match_none": {}}
    assert "aggs" not in body  # counted over the hits (tests/backends/test_compile_es.py)


def test_metadata_search_is_the_same_dsl_as_elasticsearch_but_the_tiebreaker() -> None:
    from es_visual.backends.cluster import compile_es

    request = ir.SearchRequest(
        index="m", filter=ir.Term("tags", "a"), acl=ACL, sort=(ir.Sort("w", "desc"),), after=(3, 9)
    )
    body, es = to_body(request), compile_es.to_body(request)
    # _doc repeats across shards; OpenSearch sorts on _id, Elasticsearch on _shard_doc (PIT).
    assert body["sort"] == [{"w": {"order": "desc"}}, {"_id": {"order": "asc"}}]
    assert es["sort"][-1] == {"_shard_doc": {"order": "asc"}}
    assert {k: v for k, v in body.items() if k != "sort"} == {
        k: v for k, v in es.items() if k != "sort"
    }
    assert body["search_after"] == [3, 9]
