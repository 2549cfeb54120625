"""The live engines themselves (tests/live_engines.py, scripts/engine.sh): each one is a real
cluster of at least 2 green nodes, OpenSearch with its k-NN plugin, doing what es-visual needs
of it (k-NN with a filter, nested k-NN). Skipped, with the reason, where an engine cannot run;
an ERROR instead for the engines named in ES_VISUAL_REQUIRE_ENGINES."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from live_engines import ENGINES, engine_client_kwargs, engine_get, engine_request

pytestmark = [pytest.mark.live, pytest.mark.slow]

OPENSEARCH = [n for n, e in ENGINES.items() if e.family == "opensearch"]


def _verify(name: str) -> bool:
    return engine_client_kwargs(name)["verify_certs"]


@pytest.fixture
def name(request):
    return request.param


@pytest.fixture
def url(name, live_engine_url):
    return live_engine_url(name)  # in a fixture: a required engine that fails is an ERROR


@pytest.mark.parametrize("name", list(ENGINES), indirect=True)
def test_cluster_has_two_green_nodes(name, url):
    health = engine_get(url, "/_cluster/health?wait_for_status=green&timeout=30s",
                        verify=_verify(name))  # fmt: skip
    assert health["number_of_nodes"] >= 2, health
    assert health["status"] == "green", health
    root = engine_get(url, "/", verify=_verify(name))
    family = ENGINES[name].family
    assert root["version"].get("distribution", "elasticsearch") == family, root
    if not os.environ.get(ENGINES[name].env):  # ours: the version the engine name promises
        major = {"opensearch": "2.19.", "opensearch3": "3.", "elasticsearch": "9.",
                 "elasticsearch8": "8."}[name]  # fmt: skip
        assert root["version"]["number"].startswith(major), root


@pytest.mark.parametrize("name", OPENSEARCH, indirect=True)
def test_opensearch_has_knn_on_every_node(name, url):
    nodes = engine_get(url, "/_cat/nodes?format=json&h=name", verify=_verify(name))
    plugins = engine_get(url, "/_cat/plugins?format=json", verify=_verify(name))
    with_knn = {p["name"] for p in plugins if "knn" in p["component"].lower()}
    assert with_knn == {n["name"] for n in nodes}, plugins


@pytest.mark.parametrize("name", OPENSEARCH, indirect=True)
def test_opensearch_knn_filter_and_nested_knn(name, url):
    """The features es-visual's OpenSearch backend relies on, straight over HTTP."""
    verify = _verify(name)
    index = f"es-visual-smoke-{uuid.uuid4().hex[:8]}"
    knn = {"type": "knn_vector", "dimension": 3,
           "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}}  # fmt: skip
    status, body = engine_request(url, f"/{index}", "PUT", {
        "settings": {"index.knn": True, "number_of_shards": 2, "number_of_replicas": 1},
        "mappings": {"properties": {
            "acl": {"type": "keyword"}, "scene": knn,
            "regions": {"type": "nested", "properties": {"vector": knn}},
        }},
    }, verify=verify)  # fmt: skip
    assert status == 200, body
    try:
        docs = [
            ("1", "public", [1, 0, 0], [[1, 0, 0], [0, 1, 0]]),
            ("2", "secret", [0.9, 0.1, 0], [[0.9, 0.1, 0]]),
            ("3", "public", [0, 0, 1], [[0, 0, 1], [0.8, 0.2, 0]]),
        ]
        lines = []
        for id_, acl, scene, regions in docs:
            lines.append({"index": {"_index": index, "_id": id_}})
            lines.append({"acl": acl, "scene": scene, "regions": [{"vector": v} for v in regions]})
        ndjson = "".join(json.dumps(x) + "\n" for x in lines)
        status, body = engine_request(url, "/_bulk?refresh=true", "POST", ndjson, verify=verify)
        assert status == 200 and not body["errors"], body

        status, body = engine_request(url, f"/{index}/_search", "POST", {
            "size": 3,
            "query": {"knn": {"scene": {"vector": [1, 0, 0], "k": 3,
                                        "filter": {"term": {"acl": "public"}}}}},
        }, verify=verify)  # fmt: skip
        assert status == 200, body
        assert [h["_id"] for h in body["hits"]["hits"]] == ["1", "3"]

        status, body = engine_request(url, f"/{index}/_search", "POST", {
            "size": 3, "_source": False,
            "query": {"nested": {
                "path": "regions", "score_mode": "max",
                "query": {"knn": {"regions.vector": {"vector": [1, 0, 0], "k": 3,
                                                     "expand_nested_docs": True}}},
                "inner_hits": {"size": 3, "_source": False},
            }},
        }, verify=verify)  # fmt: skip
        assert status == 200, body
        hits = body["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["1", "2", "3"]
        # expand_nested_docs: every child of a matched parent is scored, not only the best
        inner = {h["_id"]: len(h["inner_hits"]["regions"]["hits"]["hits"]) for h in hits}
        assert inner == {"1": 2, "2": 1, "3": 2}
    finally:
        engine_request(url, f"/{index}", "DELETE", verify=verify)
