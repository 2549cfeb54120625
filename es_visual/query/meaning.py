"""The user's own text ranked by meaning: "man taking pictures" finds the caption "camera sample".

BM25 (``ranking.TextRank``) needs the query's words in the caption; people describe
their pictures in other words than they search with ("Grandpa's 90th" for
"grandparents with the family"). This ranking embeds the query with the offline
sentence model (``models.sentence``) and orders the documents by the cosine
similarity of their text fields (joined: ``document_text``), those at
``MIN_SIMILARITY`` or more.

Each document's text is embedded once, when it is written (``ingest.text_vectors``:
``visual.text_vector``), so a query is one kNN clause over that field, run by the
engine (or the embedded store's vector index) with the search's filter AND the ACL
inside it, like every kNN here: every document of the index competes, however many,
and one the caller may not read never comes back.

A vector counts where this model made it (``visual.text_model``), whichever text fields
it joined (``visual.text_fields``, kept to tell when to make it again): ingest and
backfill embed the text fields of the index's field map, which a search ranks too, but
on a cluster index es-visual created, the first ingest runs before the user's fields are
mapped and embeds the configured defaults, while a later search names every text field
of the mapping; insisting on the same list would send such an index back to the scan
below. Documents written before text vectors existed get theirs from ``es-visual labels
--backfill`` (or an up-to-date ``es-visual reindex``), from their stored text. Only an
index with no text vector at all (never backfilled) is ranked the old way: its documents
with text are read back, at most ``SCAN_LIMIT`` of them, and embedded at query time
(``SentenceEmbedder.embed_cached``); above that limit only the first ``SCAN_LIMIT`` are
ranked. An index where only some documents have a vector ranks those: backfill it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from es_visual.core import ir, schema
from es_visual.core.documents import value_at
from es_visual.core.results import Hit

# How many documents with text the fallback scan (an index with no text vectors) ranks
# at most, and the least similarity that counts (below it MiniLM pairs unrelated
# sentences).
SCAN_LIMIT = 2000
MIN_SIMILARITY = 0.35
# In a fused ranking a hit of this list counts in proportion to how far its similarity
# is above MIN_SIMILARITY, fully from FULL_SIMILARITY up (``share``): a caption 0.37 near
# the query ("my balcony" for "at the beach") is what MiniLM gives unrelated sentences,
# and at full weight its first place would outrank the pictures that show the beach.
FULL_SIMILARITY = 0.55
# ... and never less than this share: among weak matches the nearer still ranks first.
MIN_SHARE = 0.1
# The most candidates a kNN clause may ask for (Elasticsearch's and OpenSearch's limit).
MAX_CANDIDATES = 10_000


def share(similarity: float | None) -> float:
    """What a hit found by meaning at ``similarity`` counts for in a fusion, in
    [``MIN_SHARE``, 1]."""
    if similarity is None:
        return 1.0
    ramp = (similarity - MIN_SIMILARITY) / (FULL_SIMILARITY - MIN_SIMILARITY)
    return min(1.0, max(MIN_SHARE, ramp))


def document_text(source: dict[str, Any] | None, fields: Sequence[str]) -> str:
    """The values of ``fields`` in ``source``, joined (lists joined by commas)."""
    parts = []
    for field in fields:
        value = value_at(source, field)
        values = value if isinstance(value, list) else [value]
        words = ", ".join(v.strip() for v in values if isinstance(v, str) and v.strip())
        if words:
            parts.append(words)
    return ". ".join(parts)


def fields_key(fields: Sequence[str]) -> str:
    """``visual.text_fields`` of a vector made from ``fields``: their names, in order (the
    text joins them in that order)."""
    return ",".join(fields)


def rank_by_meaning(
    backend: Any,
    index: str,
    text: str,
    fields: Sequence[str],
    *,
    filter: ir.Node,
    acl: ir.Node,
    size: int,
    source_fields: tuple[str, ...] | None = None,
) -> list[Hit]:
    """Documents whose ``fields`` mean what ``text`` says, best first (ties by id): a kNN
    over their stored text vectors, or the fallback scan on an index that has none."""
    from es_visual.models.sentence import TAG, get_sentence_embedder

    if not fields:
        return []
    wanted = None if source_fields is None else tuple(dict.fromkeys((*source_fields, *fields)))
    has_text = ir.or_(*(ir.Exists(f) for f in fields))
    model = get_sentence_embedder()
    query = model.embed_cached([text])[0]
    if not _maps_text_vectors(backend, index):
        return _scan(backend, index, query, fields, has_text, filter, acl, size, wanted)
    # Only vectors of this model (any fields: see the module docstring).
    made_alike = ir.Term(schema.TEXT_MODEL_FIELD, TAG)
    scoped = ir.and_(made_alike, filter)
    vector = ir.VectorQuery(
        vector=tuple(float(v) for v in query),
        target=schema.TEXT_TARGET,
        k=size,
        num_candidates=min(MAX_CANDIDATES, max(100, 2 * size)),
        min_similarity=MIN_SIMILARITY,
    )
    request = ir.SearchRequest(
        index=index, filter=scoped, acl=acl, vector=vector, size=size, fields=wanted
    )
    hits = backend.search(request).hits
    if hits or _has_text_vectors(backend, index, made_alike):
        # Scores rounded as the scan's were (the engines' cosines differ in the 7th digit);
        # where the picture matched says nothing of a text.
        scored = [
            replace(h, score=round(float(h.score or 0.0), 6), sort=None, matched=None) for h in hits
        ]
        scored.sort(key=lambda h: (-(h.score or 0.0), h.id))
        return scored[:size]
    return _scan(backend, index, query, fields, has_text, filter, acl, size, wanted)


def _maps_text_vectors(backend: Any, index: str) -> bool:
    """Whether a kNN over ``visual.text_vector`` can run on ``index``: it is set up for
    vectors, and on a store that reads its mapping (a cluster) the field is mapped (an
    index set up by an older es-visual gains it with ``es-visual init`` or an ingest)."""
    from es_visual.query.fieldmap import MappingReader

    if backend.cached_spec(index) is None:
        return False
    if isinstance(backend, MappingReader):
        return schema.TEXT_VECTOR_FIELD in backend.field_types(index)
    return True


def _has_text_vectors(backend: Any, index: str, made_alike: ir.Node) -> bool:
    """Whether any document of ``index`` has a text vector ``made_alike`` (told by its
    keywords, which every engine filters on). Asked only when the kNN found nothing."""
    request = ir.SearchRequest(index=index, filter=made_alike, size=1, fields=())
    return bool(backend.search(request).hits)


def _scan(
    backend: Any,
    index: str,
    query: Any,
    fields: Sequence[str],
    has_text: ir.Node,
    filter: ir.Node,
    acl: ir.Node,
    size: int,
    wanted: tuple[str, ...] | None,
) -> list[Hit]:
    """The fallback of an index without text vectors: read back at most ``SCAN_LIMIT``
    documents with text and embed their text now."""
    from es_visual.models.sentence import get_sentence_embedder

    request = ir.SearchRequest(
        index=index,
        filter=ir.and_(has_text, filter),
        acl=acl,
        size=SCAN_LIMIT,
        fields=wanted,
    )
    hits = [h for h in backend.search(request).hits if document_text(h.source, fields)]
    if not hits:
        return []
    model = get_sentence_embedder()
    vectors = model.embed_cached([document_text(h.source, fields) for h in hits])
    similarity = vectors @ query
    scored = [
        replace(h, score=round(float(s), 6), sort=None)
        for h, s in zip(hits, similarity, strict=True)
        if s >= MIN_SIMILARITY
    ]
    scored.sort(key=lambda h: (-(h.score or 0.0), h.id))
    return scored[:size]
