"""Fusion by the engine (``cluster.fusion``): which servers may fuse (``ServerInfo``), and
the bodies, against the engines' documented syntax: Elasticsearch's ``rrf`` retriever,
OpenSearch's ``hybrid`` query with a ``score-ranker-processor`` (``technique: rrf``)
search pipeline. No engine built here has them (rank-rrf and neural-search are not on
Maven Central), so these check the compiled requests; the live suites run the rest."""

from __future__ import annotations

from es_visual.backends.cluster import fusion, mappings
from es_visual.backends.cluster.server import ServerInfo
from es_visual.core import ir
from es_visual.core.ranking import FuseRequest, LabelRank, RankRequest, TextRank

URL = "http://h:9200"
ACL = ir.Or((ir.Terms("acl.read", ("user:alice", "public")), ir.Not(ir.Exists("acl.read"))))


def _nodes(*names: str, nodes: int = 2) -> dict:
    plugins = [{"name": n} for n in names]
    return {"nodes": {f"n{i}": {"plugins": [], "modules": plugins} for i in range(nodes)}}


def _info(number: str, dist: str | None = None) -> ServerInfo:
    version = {"number": number, **({"distribution": dist} if dist else {})}
    return ServerInfo.from_root({"version": version}, URL)


def test_fusion_is_chosen_from_version_plugins_and_license() -> None:
    es = _info("9.5.3")
    assert es.fusion == "client" and es.rank_features  # unknown extensions: defaults
    enterprise = {"license": {"type": "enterprise", "status": "active"}}
    basic = {"license": {"type": "basic", "status": "active"}}
    full = es.with_extensions(_nodes("rank-rrf", "mapper-extras"), enterprise)
    assert full.rrf_retriever and full.fusion == "rrf_retriever" and full.rank_features
    assert es.with_extensions(_nodes("rank-rrf"), basic).fusion == "client"  # Enterprise only
    expired = {"license": {"type": "trial", "status": "expired"}}
    assert es.with_extensions(_nodes("rank-rrf"), expired).fusion == "client"
    assert _info("8.15.3").with_extensions(_nodes("rank-rrf"), enterprise).fusion == "client"
    # Built from Maven artifacts: plugins named by class, no mapper-extras, no license API.
    maven = es.with_extensions(_nodes("org.elasticsearch.transport.netty4.Netty4Plugin"), None)
    assert maven.fusion == "client" and not maven.rank_features
    # A plugin on one node only does not count.
    mixed = {"nodes": {"a": {"modules": [{"name": "rank-rrf"}]}, "b": {"modules": []}}}
    assert es.with_extensions(mixed, enterprise).fusion == "client"

    os219 = _info("2.19.1", "opensearch")
    neural = os219.with_extensions(_nodes("opensearch-neural-search", "mapper-extras"))
    assert neural.hybrid_rrf and neural.fusion == "hybrid_rrf"
    assert os219.with_extensions(_nodes("opensearch-knn")).fusion == "client"
    # 2.18 has only the normalization processor: another ranking than RRF.
    os218 = _info("2.18.0", "opensearch").with_extensions(_nodes("opensearch-neural-search"))
    assert os218.fusion == "client"
    runner = os219.with_extensions(_nodes("org.opensearch.index.mapper.MapperExtrasModulePlugin"))
    assert runner.rank_features


def _request(**kw) -> FuseRequest:
    labels = RankRequest("m", LabelRank((("tabby", 0.9),)), acl=ACL)
    words = RankRequest("m", TextRank(("caption",), ("cat",)), acl=ACL)
    vector = ir.SearchRequest(
        index="m", acl=ACL, size=100, vector=ir.VectorQuery((0.1, 0.2), target="scene", k=100)
    )
    return FuseRequest(
        "m", (("labels", labels), ("text", words)), (("image", vector),), size=5, **kw
    )


def _scoped(request: FuseRequest) -> dict:
    return {name: rr.scoped_filter for name, rr in request.ranks}


def test_elasticsearch_rrf_retriever_body_keeps_the_acl_in_every_retriever() -> None:
    request = _request()
    body = fusion.es_body(request, _scoped(request))
    rrf = body["retriever"]["rrf"]
    assert rrf["rank_window_size"] == 100 and rrf["rank_constant"] == 60
    labels, text, knn = rrf["retrievers"]
    assert labels["standard"]["query"]["bool"]["should"][0]["rank_feature"]["boost"] == 0.9
    assert text["standard"]["query"]["bool"]["should"][0]["multi_match"]["query"] == "cat"
    assert knn["knn"]["field"] == "visual.scene" and knn["knn"]["k"] == 100
    filters = [r["standard"]["query"]["bool"]["filter"] for r in (labels, text)]
    for part in (*filters, knn["knn"]["filter"]):
        assert "acl.read" in str(part)
    assert body["size"] == 5 and body["explain"] is True
    assert "visual.label_rank" in body["_source"]["excludes"]


def test_opensearch_hybrid_body_and_its_rrf_pipeline() -> None:
    request = _request()
    body = fusion.opensearch_body(request, _scoped(request))
    queries = body["query"]["hybrid"]["queries"]
    assert len(queries) == 3 and "knn" in queries[2]
    assert all("acl.read" in str(q) for q in queries)
    assert body["size"] == 100  # each list's window; cut to size by the backend
    assert fusion.pipeline(60) == {
        "description": "es-visual: reciprocal rank fusion of a text search's rankings",
        "phase_results_processors": [
            {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}
        ],
    }
    assert fusion.pipeline_name(60) == "es-visual-rrf-60"


def test_only_what_the_engine_fuses_like_es_visual_is_sent() -> None:
    assert fusion.fusable(_request())
    labels_only = FuseRequest("m", _request().ranks[:1])
    assert not fusion.fusable(labels_only)  # one list: nothing to fuse
    nested = ir.SearchRequest(index="m", vector=ir.VectorQuery((0.1,), target="regions", k=10))
    assert not fusion.fusable(FuseRequest("m", _request().ranks, (("image", nested),)))


def test_ranks_are_read_from_the_rrf_explanation() -> None:
    hit = {
        "_id": "a",
        "_explanation": {
            "value": 0.032,
            "description": "rrf score: [0.032] computed for initial ranks [2, 0, 1] with "
            "rankConstant: [60] as sum of [1 / (rank + rankConstant)] for each query",
            "details": [],
        },
    }
    assert fusion.es_ranks(hit, ("labels", "text", "image")) == {"labels": 2, "image": 1}
    nested = {"_explanation": {"description": "x", "details": [hit["_explanation"]]}}
    assert fusion.es_ranks(nested, ("labels", "text", "image")) == {"labels": 2, "image": 1}
    assert fusion.es_ranks({"_id": "b"}, ("labels",)) == {}


def test_a_server_without_rank_features_gets_no_label_rank_field() -> None:
    from es_visual.core.documents import VisualSpec

    spec = VisualSpec(model="m", dims=3)
    with_field = mappings.mapping_body("elasticsearch", spec)
    assert with_field["_meta"][mappings.LABEL_RANK_META] is True
    assert "label_rank" in with_field["properties"]["visual"]["properties"]
    without = mappings.mapping_body("elasticsearch", spec, label_rank=False)
    assert mappings.LABEL_RANK_META not in without["_meta"]
    assert "label_rank" not in without["properties"]["visual"]["properties"]
