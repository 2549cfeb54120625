"""The inverted terms answer every filter exactly as the JSON scan does."""

from __future__ import annotations

import random

import numpy as np
import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.backends.embedded.sql import compile_filter
from es_visual.backends.embedded.terms import MAX_TERM_CHARS, TermsEvaluator, doc_terms
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.ir import (
    And,
    Exists,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    Not,
    Or,
    Prefix,
    Range,
    SearchRequest,
    Term,
    Terms,
    VectorQuery,
)

LONG = "x" * (MAX_TERM_CHARS + 5)

DOCS = {
    "a": {"tags": ["cat", "pet", "cat"], "width": 800, "flag": True, "acl": {"read": ["g:1"]},
          "n": 1, "title": "A Red Cat"},
    "b": {"tags": "dog", "width": 1024.5, "flag": False, "n": 1.0, "acl": {"read": "g:2"}},
    "c": {"width": "800", "tags": [], "n": [1, 2, [3]], "deep": {"x": {"y": 5}}},
    "d": {"tags": [None], "visual": {"error": None, "media_type": "video"}, "n": True},
    "e": {"tags": [{"k": "cat"}], "deep": [{"x": {"y": 5}}], "n": 2**70, "note": LONG},
    "f": {"a.b": 1, "a": {"b": 2}, "weird key": "cat", "n": -3, "tags": ["Cat", "dog"]},
    "g": {"n": None, "flag": 1, "note": "short", "width": 0},
    # Region children (query.nested): labels and kinds are indexed, other fields scanned.
    "h": {"visual": {"regions": [{"kind": "object", "label": "dog", "score": 0.9},
                                 {"kind": "face", "score": 0.5}]}},
    "i": {"visual": {"regions": [{"label": "cat", "kind": "object"}, {"label": None},
                                 {"label": ["x", "dog"], "score": None}], "faces": [{"score": 2}]}},
}  # fmt: skip

NODES = [
    MatchAll(),
    MatchNone(),
    Term("tags", "cat"),
    Term("tags", "Cat"),
    Term("tags", "dog"),
    Term("tags", "k"),
    Term("tags.k", "cat"),
    Term("width", 800),
    Term("width", "800"),
    Term("width", 800.0),
    Term("flag", True),
    Term("flag", 1),
    Term("flag", False),
    Term("n", 1),
    Term("n", 2),
    Term("n", 3),
    Term("n", float(2**70)),
    Term("a.b", 1),
    Term("a.b", 2),
    Term("deep.x.y", 5),
    Term("acl.read", "g:1"),
    Term("acl.read", "g:2"),
    Term("note", LONG),
    Term("note", "short"),
    Term("visual.media_type", "video"),
    Term("visual.media_type", "image"),
    Terms("tags", ("cat", "dog")),
    Terms("tags", ()),
    Terms("n", (1, True, "1")),
    Terms("note", (LONG, "short")),
    Range("width", gte=800),
    Range("width", gt=800, lt=2000),
    Range("n", lte=1),
    Range("n", gt=-5, lt=0),
    Range("n", gte=1e20),
    Range("width", gte="7"),
    Range("tags", gte="c", lt="d"),
    Range("width"),
    Exists("tags"),
    Exists("deep"),
    Prefix("tags", "c"),
    Match("title", "red cat"),
    Ids(("a", "c", "zz")),
    Term("_id", "b"),
    Terms("_id", ("b", "g")),
    Prefix("_id", "a"),
    Not(Term("tags", "cat")),
    Not(Exists("tags")),
    And((Term("tags", "cat"), Not(Term("flag", True)))),
    And((Term("acl.read", "g:1"), Match("title", "cat"))),
    And((Range("n", gte=1), Prefix("tags", "d"))),
    Or((Term("tags", "dog"), Range("width", lt=900), Exists("deep"))),
    Or((And((Term("flag", False), Exists("tags"))), Not(Ids(("a", "b", "c"))))),
    And(()),
    Or(()),
    Not(And((Term("n", 1), Not(Term("tags", "dog"))))),
    Term("visual.regions.label", "dog"),
    Term("visual.regions.label", "x"),
    Terms("visual.regions.label", ("cat", "bird")),
    Term("visual.regions.kind", "face"),
    Range("visual.regions.score", gte=0.6),
    Term("visual.regions.score", 0.5),
    Term("visual.faces.score", 2),
    Exists("visual.regions.label"),
    Exists("visual.regions.score"),
    Prefix("visual.regions.label", "d"),
    Not(Term("visual.regions.label", "dog")),
    And((Term("visual.regions.label", "dog"), Term("visual.regions.kind", "face"))),
    Or((Term("visual.regions.label", "cat"), Term("tags", "dog"))),
]


def _scan(store, node) -> list[int]:
    where, params = compile_filter(node)
    rows = store.conn().execute(f"SELECT d.rid FROM docs AS d WHERE {where} ORDER BY 1", params)
    return [r[0] for r in rows]


def _terms(handle, node) -> list[int]:
    all_rids = lambda: handle.all_rids(handle.store.generation())  # noqa: E731
    return TermsEvaluator(handle.store.conn(), all_rids).evaluate(node).tolist()


@pytest.fixture()
def backend(tmp_path):
    b = EmbeddedBackend(tmp_path)
    assert b.bulk_update("m", [DocUpdate(k, v) for k, v in DOCS.items()]).ok
    yield b
    b.close()


def _check_all(b: EmbeddedBackend) -> None:
    h = b._open("m", create=False)
    for node in NODES:
        assert _terms(h, node) == _scan(h.store, node), node


def test_every_node_matches_the_json_scan(backend) -> None:
    _check_all(backend)


def test_updates_and_deletes_keep_terms_exact(backend) -> None:
    assert backend.bulk_update(
        "m",
        [
            DocUpdate("a", {"tags": "dog", "acl": {"write": ["x"]}}),  # merged: acl.read stays
            DocUpdate("b", {"width": None}),
            DocUpdate("new", {"tags": ["cat"], "n": 1}, upsert=True),
        ],
    ).ok
    assert backend.delete("m", ["c", "g"]) == 2
    _check_all(backend)


def test_store_written_before_terms_is_backfilled(tmp_path) -> None:
    b = EmbeddedBackend(tmp_path)
    assert b.bulk_update("m", [DocUpdate(k, v) for k, v in DOCS.items()]).ok
    conn = b._open("m", create=False).store.conn()
    conn.execute("DELETE FROM doc_terms")
    conn.execute("DELETE FROM meta WHERE key = 'terms'")
    b.close()
    b = EmbeddedBackend(tmp_path)
    _check_all(b)
    b.close()


def test_doc_terms_walks_objects_and_lists_only() -> None:
    terms = doc_terms({"a": {"b": [1, "x", None, [2], {"c": 3}]}, "bad.key": 1, "t": True})
    assert terms == {("a.b", 1), ("a.b", "x"), ("t", 1)}


def test_random_filters_match_the_scan(tmp_path) -> None:
    rng = random.Random(7)
    b = EmbeddedBackend(tmp_path)
    docs = []
    for i in range(300):
        doc = {
            "k": rng.choice(["a", "b", "c", ["a", "c"], None]),
            "v": rng.choice([1, 2.5, "2", 3]),
        }
        if rng.random() < 0.5:
            doc["o"] = {"p": rng.randint(0, 4)}
        docs.append(DocUpdate(f"d{i}", doc))
    assert b.bulk_update("m", docs).ok
    h = b._open("m", create=False)

    def leaf():
        return rng.choice(
            [
                Term("k", rng.choice("abc")),
                Terms("k", tuple(rng.sample("abcd", 2))),
                Range("v", gte=rng.choice([1, 2, 3])),
                Term("o.p", rng.randint(0, 4)),
                Exists("o"),
                Prefix("k", "a"),
            ]
        )

    def tree(depth):
        if depth == 0 or rng.random() < 0.3:
            return leaf()
        kind = rng.choice([And, Or, Not])
        if kind is Not:
            return Not(tree(depth - 1))
        return kind(tuple(tree(depth - 1) for _ in range(rng.randint(1, 3))))

    for _ in range(200):
        node = tree(3)
        assert _terms(h, node) == _scan(h.store, node), node
    b.close()


def test_vector_search_with_terms_filter_is_exact(tmp_path) -> None:
    rng = np.random.default_rng(0)
    b = EmbeddedBackend(tmp_path)
    b.ensure_index("m", VisualSpec(model="t@1", dims=8))
    vecs = rng.normal(size=(200, 8)).astype(np.float32)
    b.bulk_update(
        "m",
        [
            DocUpdate(f"d{i}", {"g": i % 7, "visual": {"scene": vecs[i].tolist()}})
            for i in range(200)
        ],
    )
    q = rng.normal(size=8).astype(np.float32)
    res = b.search(
        SearchRequest("m", filter=Term("g", 3), size=10, vector=VectorQuery(tuple(q.tolist())))
    )
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sel = np.arange(200)[np.arange(200) % 7 == 3]
    best = sel[np.argsort(-(unit[sel] @ (q / np.linalg.norm(q))))][:10]
    assert [h.id for h in res.hits] == [f"d{i}" for i in best]
    b.close()


def test_top_docs_keeps_every_row_that_can_matter() -> None:
    from es_visual.backends.embedded.knn import top_docs

    rng = np.random.default_rng(3)
    doc_rids = rng.integers(0, 50, 2000)  # many rows per document
    scores = np.round(rng.random(2000), 2)  # many ties
    pos = np.arange(2000)
    for need in (1, 5, 11, 40):
        kept_pos, kept = top_docs(pos, scores, doc_rids, need)

        def best(p, s, need=need):
            out: dict[int, float] = {}
            for r, v in zip(doc_rids[p], s, strict=True):
                out[int(r)] = max(out.get(int(r), -1.0), float(v))
            return sorted(out.items(), key=lambda x: (-x[1], x[0]))[:need]

        assert best(kept_pos, kept) == best(pos, scores)


def test_ann_scores_are_exact_cosines(tmp_path) -> None:
    from es_visual.backends.embedded.vectors import VectorConfig

    rng = np.random.default_rng(4)
    cfg = VectorConfig(exact_max_vectors=10, exact_max_fraction=0.0, ann_min_vectors=500)
    b = EmbeddedBackend(tmp_path, vectors=cfg)
    b.ensure_index("m", VisualSpec(model="t@1", dims=16))
    vecs = rng.normal(size=(1500, 16)).astype(np.float32)
    b.bulk_update(
        "m", [DocUpdate(f"d{i}", {"visual": {"scene": v.tolist()}}) for i, v in enumerate(vecs)]
    )
    h = b._open("m", create=False)
    q = rng.normal(size=16).astype(np.float32)
    res = b.search(SearchRequest("m", size=10, vector=VectorQuery(tuple(q.tolist()))))
    assert h.targets["scene"].ivf is not None  # the ANN path ran
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q)
    for hit in res.hits:
        assert hit.score == pytest.approx(float(unit[int(hit.id[1:])] @ qn), abs=2e-6)
    scores = [hit.score for hit in res.hits]
    assert scores == sorted(scores, reverse=True)
    b.close()
