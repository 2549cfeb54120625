"""One suite on every store: the embedded one and each live engine (tests/live_engines.py
starts them; ``OPENSEARCH_URL``, ``ES_URL``, ... point it at clusters of your own)."""

from __future__ import annotations

import pytest

from es_visual.core import ir
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import ModelMismatchError

SPEC = VisualSpec(model="live@1", dims=3)
PUBLIC = ir.Terms("acl.read", ("public",))


@pytest.fixture
def index(index_name):
    return index_name


def _docs() -> list[DocUpdate]:
    def frames(*pairs):
        return [{"t": t, "vector": v} for t, v in pairs]

    return [
        DocUpdate("img1", {"title": "cat", "tags": ["cat"], "acl": {"read": ["public"]},
                           "visual": {"model": SPEC.model, "media_type": "image",
                                      "scene": [1.0, 0.0, 0.0]}}),
        DocUpdate("img2", {"title": "secret cat", "tags": ["cat"], "acl": {"read": ["user:bob"]},
                           "visual": {"model": SPEC.model, "media_type": "image",
                                      "scene": [0.99, 0.1, 0.0]}}),
        DocUpdate("vid1", {"title": "clip", "tags": ["clip"], "acl": {"read": ["public"]},
                           "visual": {"model": SPEC.model, "media_type": "video", "duration": 4.0,
                                      "scene": [0.0, 1.0, 0.0],
                                      "frames": frames((0.0, [0.0, 1.0, 0.0]),
                                                       (1.0, [1.0, 0.05, 0.0]),
                                                       (2.0, [0.95, 0.1, 0.0]),
                                                       (3.0, [0.0, 0.0, 1.0]))}}),
        DocUpdate("vid2", {"title": "bob's clip", "tags": ["clip"], "acl": {"read": ["user:bob"]},
                           "visual": {"model": SPEC.model, "media_type": "video",
                                      "scene": [0.0, 1.0, 0.0],
                                      "frames": frames((0.0, [1.0, 0.0, 0.0]))}}),
    ]  # fmt: skip


@pytest.fixture
def media(backend, index):
    backend.ensure_index(index, SPEC)
    result = backend.bulk_update(index, _docs())
    assert result.ok, result.errors
    backend.refresh(index)
    return index


def test_scene_knn_filter_acl_and_threshold(backend, media):
    request = ir.SearchRequest(
        index=media, filter=ir.Term("tags", "cat"), acl=PUBLIC,
        vector=ir.VectorQuery((1.0, 0.0, 0.0), k=3, min_similarity=0.5), size=3,
    )  # fmt: skip
    hits = backend.search(request).hits
    assert [h.id for h in hits] == ["img1"]  # img2 is bob's
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert "scene" not in hits[0].source["visual"]


def test_nested_frames_knn_gives_the_timeline(backend, media):
    request = ir.SearchRequest(
        index=media, acl=PUBLIC,
        vector=ir.VectorQuery((1.0, 0.0, 0.0), target="frames", k=2, min_similarity=0.9),
        size=2,
    )  # fmt: skip
    (hit,) = backend.search(request).hits  # vid2 is bob's: never seen
    assert hit.id == "vid1" and hit.matched.kind == "frame" and hit.matched.t == 1.0
    assert [c.t for c in hit.children] == [1.0, 2.0]
    assert [(s.start, s.end) for s in hit.segments] == [(1.0, 3.0)]
    assert "frames" not in hit.source["visual"] or all(
        "vector" not in f for f in hit.source["visual"]["frames"]
    )


def test_extend_in_place_and_refuse_mismatch(backend, media):
    assert backend.visual_spec(media) == SPEC
    assert backend.get(media, "img2", acl=PUBLIC) is None
    assert backend.get(media, "img1", acl=PUBLIC)["title"] == "cat"
    with pytest.raises(ModelMismatchError):
        backend.ensure_index(media, VisualSpec(model="live@1", dims=4))
    assert sorted(i for i, _ in backend.iter_docs(media, batch_size=2)) == [
        "img1", "img2", "vid1", "vid2",
    ]  # fmt: skip
    stats = backend.stats(media)
    assert (stats.documents, stats.with_visual, stats.vectors["frames"]) == (4, 4, 5)
