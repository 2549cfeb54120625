"""Vector search on the embedded store: filter before ranking, exact and ANN paths,
nested targets, cutoff, exclusions, paging, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.backends.embedded.vectors import VectorConfig
from es_visual.core.cursor import decode_cursor
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import ModelMismatchError, QueryError
from es_visual.core.ir import Ids, MatchAll, Not, SearchRequest, Term, VectorQuery, and_

DIMS = 16
MODEL = "toy@1"


def clustered(rng: np.random.Generator, n: int, dims: int = DIMS, clusters: int = 20):
    centers = rng.normal(size=(clusters, dims))
    labels = rng.integers(0, clusters, n)
    return (centers[labels] + 0.35 * rng.normal(size=(n, dims))).astype(np.float32)


def make_docs(n: int, seed: int = 0, dims: int = DIMS) -> tuple[list[DocUpdate], np.ndarray]:
    rng = np.random.default_rng(seed)
    vecs = clustered(rng, n, dims)
    updates = []
    for i in range(n):
        doc = {
            "n": i,
            "rare": i % 100 == 0,  # 1%
            "bucket": f"b{i % 10}",  # 10% each
            "tags": ["even", "x"] if i % 2 == 0 else ["odd"],
            "visual": {"scene": vecs[i].tolist(), "media_type": "image"},
        }
        updates.append(DocUpdate(f"doc{i:05d}", doc))
    return updates, vecs


def brute_force(vecs: np.ndarray, ids: list[str], q: np.ndarray, k: int) -> list[tuple[str, float]]:
    m = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q)
    scores = np.round((m @ qn).astype(np.float64), 6)
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:k]
    return [(ids[i], float(scores[i])) for i in order]


N = 3000


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    # Small thresholds so that both paths run on a small set: ANN above 500 selected vectors.
    cfg = VectorConfig(exact_max_vectors=500, exact_max_fraction=0.0, ann_min_vectors=1000)
    path = tmp_path_factory.mktemp("store")
    backend = EmbeddedBackend(path, vectors=cfg)
    backend.ensure_index("m", VisualSpec(MODEL, DIMS))
    updates, vecs = make_docs(N)
    assert backend.bulk_update("m", updates).ok
    yield backend, updates, vecs, path, cfg
    backend.close()


def _search(backend, q, filter=MatchAll(), size=10, **kw):
    vq = VectorQuery(tuple(q.tolist()), model=MODEL, **kw)
    return backend.search(SearchRequest("m", filter=filter, vector=vq, size=size))


def _expected(updates, vecs, q, k, pred):
    keep = [i for i, u in enumerate(updates) if pred(u.doc)]
    return brute_force(vecs[keep], [updates[i].id for i in keep], q, k)


@pytest.mark.parametrize(
    ("filter", "pred"),
    [
        (Term("rare", True), lambda d: d["rare"]),  # 1%: exact path
        (Term("bucket", "b3"), lambda d: d["bucket"] == "b3"),  # 10% = 300 vectors: exact
        (Term("n", 7), lambda d: d["n"] == 7),  # one document
    ],
)
def test_selective_filter_is_applied_before_ranking_and_exact(loaded, filter, pred) -> None:
    backend, updates, vecs, *_ = loaded
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.normal(size=DIMS).astype(np.float32)
        result = _search(backend, q, filter, size=10)
        expected = _expected(updates, vecs, q, 10, pred)
        assert [h.id for h in result.hits] == [e[0] for e in expected]
        assert [h.score for h in result.hits] == pytest.approx([e[1] for e in expected], abs=1e-5)


def test_ann_path_recall_is_high_at_every_wide_selectivity(loaded) -> None:
    backend, updates, vecs, *_ = loaded
    rng = np.random.default_rng(2)
    cases = [
        (MatchAll(), lambda d: True),
        (Term("tags", "even"), lambda d: d["n"] % 2 == 0),  # 50% through a list field
        (Not(Term("bucket", "b1")), lambda d: d["bucket"] != "b1"),
    ]
    tv = backend._indexes["m"].targets["scene"]
    for filter, pred in cases:
        found = total = 0
        for _ in range(20):
            q = rng.normal(size=DIMS).astype(np.float32)
            result = _search(backend, q, filter, size=10)
            assert all(pred(h.source) for h in result.hits)
            expected = {e[0] for e in _expected(updates, vecs, q, 10, pred)}
            found += len(expected & {h.id for h in result.hits})
            total += len(expected)
        assert tv.ivf is not None  # the ANN path really ran
        assert found / total >= 0.95, (filter, found / total)


def test_min_similarity_and_exclude_ids(loaded) -> None:
    backend, updates, vecs, *_ = loaded
    q = vecs[5]
    result = _search(backend, q, size=50, min_similarity=0.9, exclude_ids=("doc00005",))
    assert result.hits and all(h.score >= 0.9 for h in result.hits)
    assert "doc00005" not in {h.id for h in result.hits}
    expected = [e for e in _expected(updates, vecs, q, N, lambda d: d["n"] != 5) if e[1] >= 0.9][
        :50
    ]
    assert {h.id for h in result.hits} >= {e[0] for e in expected[:10]}
    # Itself, when not excluded, is the best hit with similarity 1.
    top = _search(backend, q, size=1).hits[0]
    assert top.id == "doc00005" and top.score == pytest.approx(1.0)


@pytest.mark.parametrize("filter", [Term("bucket", "b2"), MatchAll()])
def test_vector_paging_has_no_duplicates_or_gaps(loaded, filter) -> None:
    backend, *_ = loaded
    q = np.random.default_rng(3).normal(size=DIMS).astype(np.float32)
    vq = VectorQuery(tuple(q.tolist()), model=MODEL)
    one = backend.search(SearchRequest("m", filter=filter, vector=vq, size=40)).hits
    seen, after = [], None
    for _ in range(4):
        page = backend.search(SearchRequest("m", filter=filter, vector=vq, size=10, after=after))
        seen += [h.id for h in page.hits]
        after = decode_cursor(page.next_cursor)
    assert len(seen) == len(set(seen)) == 40
    assert seen == [h.id for h in one]


def test_delete_and_update_are_seen_by_the_next_search(tmp_path: Path) -> None:
    cfg = VectorConfig(exact_max_vectors=50, exact_max_fraction=0.0, ann_min_vectors=200)
    backend = EmbeddedBackend(tmp_path, vectors=cfg)
    backend.ensure_index("m", VisualSpec(MODEL, DIMS))
    updates, vecs = make_docs(400)
    backend.bulk_update("m", updates)
    q = vecs[10]
    assert _search(backend, q, size=1).hits[0].id == "doc00010"
    assert backend.delete("m", ["doc00010", "nope"]) == 1
    assert "doc00010" not in {h.id for h in _search(backend, q, size=20).hits}
    # Moving another document's vector onto q makes it the best match.
    backend.bulk_update("m", [DocUpdate("doc00300", {"visual": {"scene": q.tolist()}})])
    assert _search(backend, q, size=1).hits[0].id == "doc00300"
    backend.close()


def test_results_survive_close_and_reopen_with_and_without_cache(tmp_path: Path) -> None:
    cfg = VectorConfig(exact_max_vectors=50, exact_max_fraction=0.0, ann_min_vectors=200)
    backend = EmbeddedBackend(tmp_path, vectors=cfg)
    backend.ensure_index("m", VisualSpec(MODEL, DIMS))
    updates, vecs = make_docs(1000)
    backend.bulk_update("m", updates[:800])
    backend.refresh("m")  # saves the vector cache
    backend.bulk_update("m", updates[800:])  # newer than the cache
    backend.delete("m", ["doc00001"])
    queries = [vecs[i] + 0.1 for i in (1, 2, 900)]
    before = [[(h.id, h.score) for h in _search(backend, q).hits] for q in queries]
    backend.close()
    assert list((tmp_path / "m.vectors" / "scene").glob("*.json"))

    again = EmbeddedBackend(tmp_path, vectors=cfg)
    after = [[(h.id, h.score) for h in _search(again, q).hits] for q in queries]
    assert after == before
    assert "doc00001" not in {i for page in after for i, _ in page}
    again.close()
    # A damaged cache is ignored and rebuilt from SQLite.
    for f in (tmp_path / "m.vectors" / "scene").rglob("matrix.npy"):
        f.write_bytes(b"garbage")
    third = EmbeddedBackend(tmp_path, vectors=cfg)
    assert [[(h.id, h.score) for h in _search(third, q).hits] for q in queries] == before
    third.close()


def test_nested_targets_rank_by_best_child_with_segments(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    backend.ensure_index("m", VisualSpec(MODEL, 4, face_model="face@1", face_dims=3))
    q = [1.0, 0.0, 0.0, 0.0]
    far = [0.0, 1.0, 0.0, 0.0]
    near = [0.95, 0.31, 0.0, 0.0]
    frames = [far, q, near, far, far, near, q, far]
    backend.bulk_update(
        "m",
        [
            DocUpdate(
                "video",
                {
                    "title": "clip",
                    "visual": {
                        "duration": 4.0,
                        "frames": [{"t": i * 0.5, "vector": v} for i, v in enumerate(frames)],
                        "regions": [
                            {"label": "dog", "bbox": [0, 0, 0.5, 0.5], "vector": far},
                            {"label": "cat", "bbox": [0.5, 0.5, 1, 1], "vector": near},
                        ],
                        "faces": [{"bbox": [0, 0, 0.1, 0.1], "vector": [0, 0, 1]}],
                    },
                },
            ),
            DocUpdate("other", {"visual": {"frames": [{"t": 0.0, "vector": far}]}}),
        ],
    )
    res = backend.search(
        SearchRequest("m", vector=VectorQuery(tuple(q), "frames", min_similarity=0.9, model=MODEL))
    )
    assert [h.id for h in res.hits] == ["video"]
    hit = res.hits[0]
    assert hit.matched.kind == "frame" and hit.matched.t in (0.5, 3.0)
    assert hit.score == pytest.approx(1.0)
    assert sorted(c.index for c in hit.children) == [1, 2, 5, 6]
    # Frames 1-2 and 5-6 match; each run ends one sampling step after its last frame.
    assert [(s.start, s.end) for s in hit.segments] == [(0.5, 1.5), (2.5, 3.5)]
    assert hit.source["title"] == "clip" and "vector" not in hit.source["visual"]["frames"][0]

    res = backend.search(SearchRequest("m", vector=VectorQuery(tuple(q), "regions")))
    best = res.hits[0].matched
    assert (best.kind, best.index, best.label, best.bbox) == ("region", 1, "cat", (0.5, 0.5, 1, 1))
    res = backend.search(SearchRequest("m", vector=VectorQuery((0, 0, 1.0), "faces")))
    assert res.hits[0].matched.kind == "face" and res.hits[0].score == pytest.approx(1.0)

    # Replacing the frames replaces all their vectors.
    backend.bulk_update(
        "m", [DocUpdate("video", {"visual": {"frames": [{"t": 0, "vector": far}]}})]
    )
    res = backend.search(
        SearchRequest("m", vector=VectorQuery(tuple(q), "frames", min_similarity=0.9))
    )
    assert res.hits == ()
    assert backend.stats("m").vectors["frames"] == 2
    backend.close()


def test_model_and_dims_mismatch_are_refused(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    backend.ensure_index("m", VisualSpec(MODEL, 4))
    backend.ensure_index("m", VisualSpec(MODEL, 4))  # same spec: fine
    with pytest.raises(ModelMismatchError, match="toy@1"):
        backend.ensure_index("m", VisualSpec("other@2", 4))
    with pytest.raises(ModelMismatchError, match="8 dims"):
        backend.ensure_index("m", VisualSpec(MODEL, 8))
    backend.bulk_update("m", [DocUpdate("a", {"visual": {"scene": [1, 0, 0, 0]}})])
    with pytest.raises(ModelMismatchError, match="other@2"):
        backend.search(SearchRequest("m", vector=VectorQuery((1, 0, 0, 0), model="other@2")))
    with pytest.raises(ModelMismatchError, match=r"3 dims.*4-dim"):
        backend.search(SearchRequest("m", vector=VectorQuery((1, 0, 0))))
    with pytest.raises(QueryError):
        backend.search(SearchRequest("m", vector=VectorQuery((0, 0, 0, 0))))
    with pytest.raises(QueryError, match="face"):
        backend.search(SearchRequest("m", vector=VectorQuery((1, 0, 0, 0), "faces")))
    backend.close()


def test_aggregations_over_vector_hits_and_acl(loaded) -> None:
    backend, updates, vecs, *_ = loaded
    q = vecs[0]
    acl = Ids(tuple(u.id for u in updates[:30]))
    vq = VectorQuery(tuple(q.tolist()), model=MODEL)
    res = backend.search(SearchRequest("m", vector=vq, acl=acl, size=30, aggregations=("tags",)))
    assert {h.id for h in res.hits} == set(acl.values)
    assert dict(res.aggregations["tags"]) == {"even": 15, "x": 15, "odd": 15}
    res = backend.search(
        SearchRequest("m", vector=vq, filter=and_(Term("tags", "odd"), acl), fields=("n",))
    )
    assert all(set(h.source) == {"n"} and h.source["n"] % 2 for h in res.hits)
