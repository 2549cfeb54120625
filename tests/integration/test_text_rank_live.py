"""Text search ranked by the engines themselves, the same as by the embedded store.

The clusters implement ``RankSearch``: labels are ranked by ``rank_feature`` queries on
``visual.label_rank`` (no candidate cap, no script), BM25 by ``multi_match`` per word
under ``dfs_query_then_fetch``. The documents are ingested once into the embedded store
(MobileNetV2, real photos and a video) and copied, vectors and labels included, into
each live engine; every ranking, and the fused text search with its explanations, must
come out the same on both (within float32 rounding of the scores).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from live_backends import open_cluster
from live_engines import ENGINES

from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.documents import DocUpdate
from es_visual.core.ranking import LabelRank, RankRequest, RankSearch, TextRank
from es_visual.query.acl import AclPolicy
from es_visual.query.ranking import query_words, run_rank
from es_visual.query.search import Search
from tests import offline_models

offline_models.require(offline_models.TIMM, offline_models.MINILM)

PUBLIC = {"read": ["public"]}
DOCS = {
    "cat.png": ("chelsea.png", {"caption": "Chelsea the cat on the rug", "acl": PUBLIC}),
    "coffee.png": ("coffee.png", {"caption": "Morning coffee break", "acl": PUBLIC}),
    "bike.png": ("motorcycle_left.png", {"caption": "a red bike", "acl": PUBLIC}),
    "rocket.jpg": ("rocket.jpg", {"caption": "Launch day, coffee first", "acl": PUBLIC}),
    "astronaut.png": ("astronaut.png", {"caption": "a portrait", "acl": PUBLIC}),
    "secret-cat.png": (
        "chelsea.png",
        {"caption": "the cat, private", "acl": {"read": ["user:bob"]}},
    ),
}
QUERIES = ("a kitty", "a cup of coffee", "a parked scooter", "a cat and a coffee")
INDEX = "media"
POLICY = AclPolicy()


def acl_filter(user: str) -> ir.Node:
    return POLICY.filter_for(user)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.demo import skimage_data_dir, write_slideshow
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest

    root = tmp_path_factory.mktemp("rank")
    data = skimage_data_dir()
    lines = [
        json.dumps({"id": i, "path": str(data / name), **meta}) for i, (name, meta) in DOCS.items()
    ]
    video = write_slideshow(root / "clip.mp4", [data / "coffee.png", data / "chelsea.png"])
    lines.append(json.dumps({"id": "clip.mp4", "path": str(video), "acl": {"read": ["public"]}}))
    manifest = root / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = EmbeddedBackend(root / "data")
    report = ingest(
        store, INDEX, iter_manifest(manifest), embedder=get_embedder("mobilenet-v2"),
        pipeline=PipelineConfig(),
    )  # fmt: skip
    assert not report.failures, report.failures
    yield store
    store.close()


@pytest.fixture(params=sorted(ENGINES))
def cluster(request: pytest.FixtureRequest, live_engine_url, embedded) -> Iterator[tuple[Any, str]]:
    """(a cluster backend, an index there holding the embedded store's documents)."""
    backend = open_cluster(request.param, live_engine_url(request.param))
    index = f"rank-{uuid.uuid4().hex[:8]}"
    spec = embedded.visual_spec(INDEX)
    backend.ensure_index(index, spec)
    docs = list(embedded.iter_docs(INDEX, with_vectors=True))
    result = backend.bulk_update(index, [DocUpdate(i, d, upsert=True) for i, d in docs])
    assert result.ok, result.errors
    backend.refresh(index)
    yield backend, index
    with contextlib.suppress(Exception):  # cleanup only
        backend.client.indices.delete(index=index)
    backend.close()


def _concepts(text: str) -> tuple[tuple[str, float], ...]:
    from es_visual.models.concepts import get_concept_matcher

    return tuple((c.name, c.weight) for c in get_concept_matcher().match(text))


def _ranked(backend: Any, index: str, rank: LabelRank | TextRank, acl: ir.Node) -> list:
    result = run_rank(backend, RankRequest(index, rank, acl=acl, size=50))
    return [(h.id, h.score) for h in result.hits]


def _same(a: list, b: list, *, factor: float = 1.0) -> None:
    assert [i for i, _ in a] == [i for i, _ in b]
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert x == pytest.approx(y * factor, rel=1e-5)


# Elasticsearch and OpenSearch 2.x keep BM25's (k1 + 1) factor (Lucene's
# LegacyBM25Similarity); OpenSearch 3 and the embedded store leave it out, as Lucene 8+
# does. A constant factor: the same ranking.
BM25_FACTORS = (1.0, 2.2)


def test_the_engine_ranks_labels_and_words_as_the_embedded_store(embedded, cluster) -> None:
    backend, index = cluster
    # Where the server has rank_features the engine ranks labels; elsewhere (the
    # Elasticsearch built from Maven artifacts has no mapper-extras) the backend does.
    assert isinstance(backend, RankSearch)
    assert backend.ranks_labels(index) == backend.server_extensions().rank_features
    alice = acl_filter("alice")
    for text in QUERIES:
        rank = LabelRank(_concepts(text))
        native = _ranked(backend, index, rank, alice)
        _same(native, _ranked(embedded, INDEX, rank, alice))
        assert native and "secret-cat.png" not in [i for i, _ in native]
        words = TextRank(("caption",), query_words(text))
        here, there = _ranked(backend, index, words, alice), _ranked(embedded, INDEX, words, alice)
        factor = min(BM25_FACTORS, key=lambda f: abs(here[0][1] - f * there[0][1])) if here else 1
        _same(here, there, factor=factor)
    bob = acl_filter("bob")
    kitty = LabelRank(_concepts("a kitty"))
    assert "secret-cat.png" in [i for i, _ in _ranked(backend, index, kitty, bob)]


def test_fused_text_search_and_its_explanations_match(embedded, cluster) -> None:
    backend, index = cluster
    for text in QUERIES:
        here = Search(index).as_user("alice").text(text).limit(5).execute(backend)
        there = Search(INDEX).as_user("alice").text(text).limit(5).execute(embedded)
        assert [h.id for h in here.hits] == [h.id for h in there.hits], text
        for a, b in zip(here.hits, there.hits, strict=True):
            assert [(s.signal, s.rank, s.detail) for s in a.signals] == [
                (s.signal, s.rank, s.detail) for s in b.signals
            ]
            assert a.signals, "each hit says which signals found it"


def test_an_index_labelled_before_label_rank_is_ranked_then_completed(embedded, cluster) -> None:
    backend, index = cluster
    if not backend.server_extensions().rank_features:
        pytest.skip(f"{backend.server.label} here has no rank_features (no mapper-extras module)")
    mapping = backend._get_mapping(index)
    meta = {k: v for k, v in mapping["_meta"].items() if k != "es_visual_label_rank"}
    backend.client.indices.put_mapping(index=index, body={"_meta": meta})
    backend._forget(index)
    assert not backend.ranks_labels(index)
    rank = LabelRank(_concepts("a kitty"))
    public = POLICY.anonymous()
    expected = _ranked(embedded, INDEX, rank, public)
    _same(_ranked(backend, index, rank, public), expected)  # read and ranked here
    assert backend.complete_label_ranks(index) == sum(
        1 for _, d in embedded.iter_docs(INDEX) if d["visual"].get(schema.LABELS)
    )
    assert backend.ranks_labels(index)
    _same(_ranked(backend, index, rank, public), expected)


# --- the meaning of the user's text: a kNN over visual.text_vector on the engine ------------

MEANING_QUERIES = ("a kitten", "coffee in the morning", "a motorbike", "a space launch", "cat")
# The text fields ingest embedded (the default field map's), which a search ranks.
TEXT_FIELDS = ("caption", "title", "description")


def _by_meaning(backend: Any, index: str, text: str, acl: ir.Node, node: ir.Node = ir.MatchAll()):
    from es_visual.query.meaning import rank_by_meaning

    hits = rank_by_meaning(
        backend, index, text, TEXT_FIELDS, filter=node, acl=acl, size=20, source_fields=()
    )
    return [(h.id, h.score) for h in hits]


def _no_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old read-back-and-embed path must not run where the index has text vectors."""
    from es_visual.query import meaning

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the fallback scan ran on an index with text vectors")

    monkeypatch.setattr(meaning, "_scan", refuse)


def test_captions_by_meaning_are_a_knn_with_the_acl_inside(embedded, cluster, monkeypatch) -> None:
    """The engine's kNN over the stored text vectors ranks as the embedded store does;
    the ACL and the filter are inside the kNN clause: the document nearest the query
    that alice may not read never comes back, bob's does."""
    backend, index = cluster
    assert backend.field_types(index)["visual.text_vector"] in ("dense_vector", "knn_vector")
    _no_scan(monkeypatch)
    for user in ("alice", "bob"):
        acl = acl_filter(user)
        for text in MEANING_QUERIES:
            here, there = (
                _by_meaning(backend, index, text, acl),
                _by_meaning(embedded, INDEX, text, acl),
            )
            assert [i for i, _ in here] == [i for i, _ in there], (user, text)
            for (_, x), (_, y) in zip(here, there, strict=True):
                assert x == pytest.approx(y, abs=1e-5)
    private = "the cat, private"
    assert "secret-cat.png" not in [
        i for i, _ in _by_meaning(backend, index, private, acl_filter("alice"))
    ]
    assert _by_meaning(backend, index, private, acl_filter("bob"))[0][0] == "secret-cat.png"
    coffee = ir.Match("caption", "coffee")  # a filter on the user's own text
    only = _by_meaning(backend, index, "coffee in the morning", acl_filter("alice"), coffee)
    assert only and {i for i, _ in only} <= {"coffee.png", "rocket.jpg"}
    there = _by_meaning(embedded, INDEX, "coffee in the morning", acl_filter("alice"), coffee)
    assert [i for i, _ in only] == [i for i, _ in there]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_an_index_set_up_before_text_vectors_is_extended_then_backfilled(
    engine: str, embedded: Any, live_engine_url: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index whose mapping predates ``visual.text_vector``: text searches rank its
    captions the old way; ``ensure_ready`` (init, ingest) adds the field in place, the
    backfill embeds the stored captions, and the kNN then ranks as the scan did."""
    from es_visual.backends.cluster import mappings
    from es_visual.ingest.labels import backfill_index
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ensure_ready

    backend = open_cluster(engine, live_engine_url(engine))
    index = f"old-{uuid.uuid4().hex[:8]}"
    spec = embedded.visual_spec(INDEX)
    body = mappings.mapping_body(backend.engine, spec, label_rank=backend._rank_features())
    visual = body["properties"]["visual"]["properties"]
    for key in [k for k in visual if k.startswith("text_")]:
        del visual[key]
    create = {"mappings": body, "settings": mappings.index_settings(backend.engine)}
    backend.client.indices.create(index=index, body=create)
    try:
        old = []
        for doc_id, doc in embedded.iter_docs(INDEX, with_vectors=True):
            visual_doc = {k: v for k, v in doc["visual"].items() if not k.startswith("text_")}
            old.append(DocUpdate(doc_id, {**doc, "visual": visual_doc}, upsert=True))
        assert backend.bulk_update(index, old).ok
        backend.refresh(index)
        alice = acl_filter("alice")
        expected = {t: _by_meaning(embedded, INDEX, t, alice) for t in MEANING_QUERIES}
        for text in MEANING_QUERIES:  # the fallback scan: the field is not mapped yet
            assert [i for i, _ in _by_meaning(backend, index, text, alice)] == [
                i for i, _ in expected[text]
            ]
        assert ensure_ready(backend, index, get_embedder("mobilenet-v2")) == "unchanged"
        assert "visual.text_vector" in backend.field_types(index)
        report = backfill_index(backend, index, text_fields=TEXT_FIELDS)
        assert report.text_vectors == sum(1 for m in DOCS.values() if m[1].get("caption"))
        _no_scan(monkeypatch)
        for text in MEANING_QUERIES:
            here = _by_meaning(backend, index, text, alice)
            assert [i for i, _ in here] == [i for i, _ in expected[text]], text
    finally:
        with contextlib.suppress(Exception):  # cleanup only
            backend.client.indices.delete(index=index)
        backend.close()
