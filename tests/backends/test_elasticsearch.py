"""The Elasticsearch backend against real servers: Elasticsearch 9.x and 8.x (started by
tests/live_engines.py) and noida-db (the Elasticsearch 8.15 API, an extra).

What noida-db cannot do (nested fields, so nested kNN) is skipped there with that reason;
nested kNN runs on the real engines here and in tests/integration.
"""

from __future__ import annotations

import pytest

from es_visual.core import ir
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import BackendUnavailableError, ModelMismatchError

SPEC = VisualSpec(model="test@1", dims=3)


@pytest.fixture(params=["noida-db", "elasticsearch", "elasticsearch8"])
def cluster_url(request: pytest.FixtureRequest) -> str:
    """This module's clusters: the Elasticsearch family only (OpenSearch has its own
    rules for extending an index: tests/integration/test_opensearch_without_knn.py)."""
    from live_backends import BACKEND_OF, open_cluster

    if request.param == "noida-db":
        url = request.getfixturevalue("noida_url")
    else:
        url = request.getfixturevalue("live_engine_url")(request.param)
        open_cluster(request.param, url).close()  # the 2-shard index template
    BACKEND_OF[url] = "elasticsearch"
    return url


PUBLIC = ir.Terms("acl.read", ("public",))
ALICE = ir.Terms("acl.read", ("user:alice", "public"))

# id -> (scene vector, tags, acl.read)
DOCS = {
    "cat1": ([1.0, 0.0, 0.0], ["cat"], ["public"]),
    "cat2": ([0.9, 0.1, 0.0], ["cat"], ["user:alice"]),
    "dog1": ([0.8, 0.0, 0.2], ["dog"], ["public"]),
    "car1": ([0.0, 1.0, 0.0], ["car"], ["public"]),
    "far1": ([-1.0, 0.0, 0.0], ["cat"], ["public"]),
}


def _user_index(backend, index: str) -> None:
    """An index as a user already has it: their own mapping, _meta and documents."""
    backend.client.indices.create(
        index=index,
        body={
            "mappings": {
                "_meta": {"owner": "photo-team"},
                "properties": {
                    "title": {"type": "text"},
                    "tags": {"type": "keyword"},
                    "acl": {"properties": {"read": {"type": "keyword"}}},
                    "file_path": {"type": "keyword"},
                },
            }
        },
    )
    for doc_id, (_, tags, acl) in DOCS.items():
        backend.client.index(
            index=index,
            id=doc_id,
            body={"title": f"photo {doc_id}", "tags": tags, "acl": {"read": acl},
                  "file_path": f"/photos/{doc_id}.jpg"},
        )  # fmt: skip
    backend.refresh(index)


@pytest.fixture
def media(es_backend, index_name: str) -> str:
    """A user's index extended with visual vectors on every document."""
    _user_index(es_backend, index_name)
    es_backend.ensure_index(index_name, SPEC)
    updates = [
        DocUpdate(i, {"visual": {"model": SPEC.model, "scene": v, "media_type": "image"}})
        for i, (v, _, _) in DOCS.items()
    ]
    result = es_backend.bulk_update(index_name, updates)
    assert result.ok and result.written == len(DOCS)
    es_backend.refresh(index_name)
    return index_name


def _knn(index: str, **kw) -> ir.SearchRequest:
    vector = ir.VectorQuery(vector=(1.0, 0.0, 0.0), **kw)
    return ir.SearchRequest(index=index, vector=vector, size=kw.get("k", 10))


def test_extending_an_existing_index_keeps_user_fields_docs_and_meta(es_backend, index_name):
    _user_index(es_backend, index_name)
    assert es_backend.visual_spec(index_name) is None
    es_backend.ensure_index(index_name, SPEC)
    es_backend.ensure_index(index_name, SPEC)  # idempotent
    assert es_backend.visual_spec(index_name) == SPEC
    mapping = es_backend._get_mapping(index_name)
    assert mapping["_meta"]["owner"] == "photo-team"  # the user's _meta survives
    types = es_backend.field_types(index_name)
    assert types["title"] == "text" and types["acl.read"] == "keyword"
    assert types["visual.scene"] == "dense_vector"
    assert types["visual.frames"] == "nested" and types["visual.frames.t"] == "float"
    assert types["visual.path"] == "keyword"
    assert es_backend.stats(index_name).documents == len(DOCS)
    doc = es_backend.get(index_name, "cat1")
    assert doc is not None and doc["file_path"] == "/photos/cat1.jpg"


def test_creating_a_new_index(es_backend, index_name):
    es_backend.ensure_index(index_name, SPEC)
    assert es_backend.visual_spec(index_name) == SPEC
    assert es_backend.field_types(index_name)["visual.indexed_at"] == "date"


def test_bulk_partial_update_keeps_user_fields(es_backend, media):
    doc = es_backend.get(media, "dog1", with_vectors=True)
    assert doc["title"] == "photo dog1" and doc["tags"] == ["dog"]
    assert doc["visual"]["scene"] == [0.8, 0.0, 0.2]
    assert "scene" not in es_backend.get(media, "dog1")["visual"]  # vectors only when asked
    # A second partial update merges into visual, replacing only what it names.
    es_backend.bulk_update(media, [DocUpdate("dog1", {"visual": {"error": "decode failed"}})])
    es_backend.refresh(media)
    doc = es_backend.get(media, "dog1", with_vectors=True)
    assert doc["visual"]["error"] == "decode failed"
    assert doc["visual"]["scene"] == [0.8, 0.0, 0.2] and doc["file_path"] == "/photos/dog1.jpg"
    assert es_backend.stats(media).with_errors == 1


def test_bulk_reports_every_failed_item(es_backend, media):
    result = es_backend.bulk_update(
        media,
        [
            DocUpdate("cat1", {"visual": {"width": 640}}),
            DocUpdate("missing", {"visual": {"width": 1}}, upsert=False),
            DocUpdate("dog1", {"visual": {"width": "not a number"}}),
        ],
    )
    assert result.written == 1
    assert {e.id for e in result.errors} == {"missing", "dog1"}
    missing = next(e for e in result.errors if e.id == "missing")
    assert missing.status == 404 and not missing.retryable


def test_scene_knn_with_dsl_filter_and_acl(es_backend, media):
    # As anonymous (public only): cat2 is alice's, so it is never a hit.
    request = ir.SearchRequest(
        index=media,
        filter=ir.Term("tags", "cat"),
        acl=PUBLIC,
        vector=ir.VectorQuery(vector=(1.0, 0.0, 0.0), k=2),
        size=2,
    )
    result = es_backend.search(request)
    assert [h.id for h in result.hits] == ["cat1", "far1"]  # the best 2 the caller may read
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-3)  # cosine, not (1+cos)/2
    assert result.hits[1].score == pytest.approx(-1.0, abs=1e-3)
    assert result.hits[0].matched.kind == "scene"
    assert "scene" not in result.hits[0].source["visual"]
    as_alice = es_backend.search(
        ir.SearchRequest(index=media, filter=ir.Term("tags", "cat"), acl=ALICE,
                         vector=ir.VectorQuery(vector=(1.0, 0.0, 0.0), k=2), size=2)
    )  # fmt: skip
    assert [h.id for h in as_alice.hits] == ["cat1", "cat2"]
    assert as_alice.hits[1].score == pytest.approx(0.9939, abs=1e-3)


def test_similarity_threshold_in_cosine_units(es_backend, media):
    result = es_backend.search(_knn(media, k=5, min_similarity=0.9))
    assert [h.id for h in result.hits] == ["cat1", "cat2", "dog1"]
    assert all(h.score >= 0.9 for h in result.hits)


def test_find_similar_excludes_its_own_asset(es_backend, media):
    result = es_backend.search(_knn(media, k=2, exclude_ids=("cat1",)))
    assert [h.id for h in result.hits] == ["cat2", "dog1"]


def test_search_after_paging_visits_every_readable_doc_once(es_backend, media):
    seen: list[str] = []
    after = None
    for _ in range(5):
        result = es_backend.search(
            ir.SearchRequest(index=media, acl=PUBLIC, sort=(ir.Sort("tags"),), size=2, after=after)
        )
        assert result.total == 4
        seen += [h.id for h in result.hits]
        if result.next_cursor is None:
            break
        from es_visual.core.cursor import decode_cursor

        after = decode_cursor(result.next_cursor)
    assert sorted(seen) == ["car1", "cat1", "dog1", "far1"] and len(seen) == 4
    assert seen[0] == "car1"  # sorted by tags: car < cat < dog


def test_aggregations_count_only_readable_docs(es_backend, media):
    result = es_backend.search(
        ir.SearchRequest(index=media, acl=PUBLIC, aggregations=("tags",), size=0)
    )
    assert dict(result.aggregations["tags"]) == {"cat": 2, "dog": 1, "car": 1}


def test_get_with_acl_reads_forbidden_like_missing(es_backend, media):
    assert es_backend.get(media, "cat2", acl=ALICE) is not None
    assert es_backend.get(media, "cat2", acl=PUBLIC) is None
    assert es_backend.get(media, "nope", acl=PUBLIC) is None
    assert es_backend.get(media, "cat1", acl=ir.MatchNone()) is None
    assert es_backend.get("no-such-index", "cat1") is None


def test_iter_docs_delete_and_stats(es_backend, media):
    ids = [i for i, _ in es_backend.iter_docs(media, batch_size=2)]
    assert sorted(ids) == sorted(DOCS)
    cats = dict(es_backend.iter_docs(media, filter=ir.Term("tags", "cat"), fields=["title"]))
    assert set(cats) == {"cat1", "cat2", "far1"} and cats["cat1"] == {"title": "photo cat1"}
    stats = es_backend.stats(media)
    assert (stats.documents, stats.with_visual, stats.spec) == (5, 5, SPEC)
    assert es_backend.delete(media, ["far1", "never-there"]) == 1
    es_backend.refresh(media)
    assert es_backend.stats(media).documents == 4


def test_dims_or_model_mismatch_is_refused(es_backend, media):
    with pytest.raises(ModelMismatchError, match="3 dims"):
        es_backend.ensure_index(media, VisualSpec(model="test@1", dims=4))
    with pytest.raises(ModelMismatchError, match="reindex"):
        es_backend.ensure_index(media, VisualSpec(model="other@2", dims=3))
    with pytest.raises(ModelMismatchError, match="other@2"):
        es_backend.search(_knn(media, model="other@2"))
    es_backend.ensure_index(media, VisualSpec("test@1", 3, face_model="f@1", face_dims=2))
    assert es_backend.field_types(media)["visual.faces.vector"] == "dense_vector"


def test_unreachable_url_is_one_clear_error():
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend
    from tests.backends.conftest import _free_port

    url = f"http://127.0.0.1:{_free_port()}"
    backend = ElasticsearchBackend(f"http://elastic:secret@{url[7:]}", timeout=2)
    with pytest.raises(BackendUnavailableError) as info:
        backend.ensure_index("media", SPEC)
    message = str(info.value)
    assert url in message and "creating" not in message and "\n" not in message
    assert "secret" not in message  # credentials never printed
    with pytest.raises(BackendUnavailableError, match="bulk update"):
        backend.bulk_update("media", [DocUpdate("a", {"x": 1})])
