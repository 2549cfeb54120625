"""A text search that the engine fuses (``query.engine_fusion``): the request es-visual
sends through ``FuseSearch``, and the explanation of each fused hit.

No engine built here fuses (rank-rrf and neural-search are not on Maven Central), so the
engine is played by ``_Fuser``: the embedded store ranks each list of the request and
``query.ranking.rrf`` fuses them, which is what the rrf retriever and the hybrid
query with an rrf pipeline compute. It reports ranks like Elasticsearch's explanation,
or none like OpenSearch's hybrid query; a real store, real MiniLM concept matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.ranking import FusedResult, FuseRequest, FuseSearch
from es_visual.models.labels import MOBILENET_TAG
from es_visual.query.ranking import rrf, run_rank
from es_visual.query.search import Search
from tests import offline_models

offline_models.require(offline_models.MINILM)

INDEX = "media"
DOCS = {
    "cat": {"caption": "my cat asleep", "labels": ["tabby"], "scores": [0.8]},
    "cat2": {"caption": "garden", "labels": ["tabby", "tiger cat"], "scores": [0.4, 0.3]},
    "mug": {"caption": "a cat mug", "labels": ["cup"], "scores": [0.9]},
    "secret": {"caption": "cat", "labels": ["tabby"], "scores": [0.99], "acl": ["user:bob"]},
}


class _Fuser:
    """The embedded store, fusing a ``FuseRequest`` as an rrf-capable engine does."""

    def __init__(self, store: EmbeddedBackend, *, report_ranks: bool) -> None:
        self.store, self.report_ranks = store, report_ranks
        self.requests: list[FuseRequest] = []

    def __getattr__(self, name: str):  # the rest of the Backend protocol
        return getattr(self.store, name)

    def can_fuse(self) -> bool:
        return True

    def fuse_search(self, request: FuseRequest) -> FusedResult | None:
        self.requests.append(request)
        lists = {name: run_rank(self.store, rr).hits for name, rr in request.ranks}
        lists.update({name: self.store.search(vr).hits for name, vr in request.vectors})
        fused = rrf(lists, request.size, k=request.k)
        ranks = {f.hit.id: {n: r for n, (r, _) in f.ranks.items()} for f in fused}
        hits = tuple(
            f.hit.__class__(id=f.hit.id, score=f.score, source=f.hit.source) for f in fused
        )
        return FusedResult(hits, ranks if self.report_ranks else {}, 1.0, "test")


@pytest.fixture
def store(tmp_path: Path):
    backend = EmbeddedBackend(tmp_path / "store")
    backend.ensure_index(INDEX, VisualSpec(model=MOBILENET_TAG, dims=2))
    updates = []
    for doc_id, d in DOCS.items():
        visual = {"model": MOBILENET_TAG, "labels": d["labels"], "label_scores": d["scores"]}
        doc = {"caption": d["caption"], "visual": visual, "acl": {"read": d.get("acl", ["public"])}}
        updates.append(DocUpdate(doc_id, doc, upsert=True))
    assert backend.bulk_update(INDEX, updates).ok
    yield backend
    backend.close()


@pytest.fixture
def without_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lists an engine can fuse only: the meaning of the user's text is ranked by
    es-visual (query.meaning), and when it finds something es-visual fuses everything."""
    from es_visual.query import hybrid

    monkeypatch.setattr(hybrid, "MEANING", False)


@pytest.mark.parametrize("report_ranks", [True, False])
def test_engine_fused_hits_match_and_explain_themselves(
    store, report_ranks, without_meaning
) -> None:
    fuser = _Fuser(store, report_ranks=report_ranks)
    assert isinstance(fuser, FuseSearch)
    search = Search(INDEX).as_user("alice").text("a kitty cat").limit(3)
    fused = search.execute(fuser)
    here = search.execute(store)  # es-visual's own fusion on the same store
    assert [h.id for h in fused.hits] == [h.id for h in here.hits]
    assert "secret" not in [h.id for h in fused.hits]
    (request,) = fuser.requests
    names = [n for n, _ in request.ranks]
    assert names[:2] == ["labels", "text"] and set(names) <= {"labels", "text", "concept_words"}
    assert request.window == 100
    assert all("acl.read" in str(rr.acl) for _, rr in request.ranks)  # ACL in every list
    for a, b in zip(fused.hits, here.hits, strict=True):
        assert [s.signal for s in a.signals] == [s.signal for s in b.signals]
        assert [s.detail for s in a.signals] == [s.detail for s in b.signals]
        expected = [s.rank for s in b.signals] if report_ranks else [0] * len(b.signals)
        assert [s.rank for s in a.signals] == expected


def test_the_meaning_of_the_users_text_is_fused_by_es_visual(store) -> None:
    fuser = _Fuser(store, report_ranks=True)
    search = Search(INDEX).as_user("alice").text("a kitty cat").limit(3)
    fused = search.execute(fuser)
    assert fuser.requests == []  # no engine ranks by meaning: es-visual fuses every list
    assert [h.id for h in fused.hits] == [h.id for h in search.execute(store).hits]
    assert "meaning" in {s.signal for h in fused.hits for s in h.signals}


def test_a_backend_that_cannot_fuse_is_not_asked(store) -> None:
    fuser = _Fuser(store, report_ranks=True)
    fuser.can_fuse = lambda: False  # type: ignore[method-assign]
    Search(INDEX).text("a kitty").limit(2).execute(fuser)
    assert fuser.requests == []
