"""The user's own text ranked by meaning: "man taking pictures" finds the caption "camera sample".

BM25 (``ranking.TextRank``) needs the query's words in the caption; people describe
their pictures in other words than they search with ("Grandpa's 90th" for
"grandparents with the family"). This ranking embeds the query and each document's
text fields (joined) with the offline sentence model (``models.sentence``) and orders
the documents by cosine similarity, those at ``MIN_SIMILARITY`` or more.

Nothing is stored: the documents that hold any text field (the filter and the ACL
applied by the backend, like every other list) are read back, at most
``SCAN_LIMIT`` of them, and their texts embedded once per process
(``SentenceEmbedder.embed_cached``). Below the limit every backend reads the same
documents and ranks them alike; above it only the first ``SCAN_LIMIT`` are ranked
(a stored text vector per document would lift that: not done yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from es_visual.core import ir
from es_visual.core.documents import value_at
from es_visual.core.results import Hit

# How many documents with text one query ranks at most, and the least similarity that
# counts (below it MiniLM pairs unrelated sentences).
SCAN_LIMIT = 2000
MIN_SIMILARITY = 0.35


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
    """Documents whose ``fields`` mean what ``text`` says, best first (ties by id)."""
    from es_visual.models.sentence import get_sentence_embedder

    if not fields:
        return []
    wanted = None if source_fields is None else tuple(dict.fromkeys((*source_fields, *fields)))
    request = ir.SearchRequest(
        index=index,
        filter=ir.and_(ir.or_(*(ir.Exists(f) for f in fields)), filter),
        acl=acl,
        size=SCAN_LIMIT,
        fields=wanted,
    )
    hits = [h for h in backend.search(request).hits if document_text(h.source, fields)]
    if not hits:
        return []
    model = get_sentence_embedder()
    vectors = model.embed_cached([document_text(h.source, fields) for h in hits])
    similarity = vectors @ model.embed_cached([text])[0]
    scored = [
        replace(h, score=round(float(s), 6), sort=None)
        for h, s in zip(hits, similarity, strict=True)
        if s >= MIN_SIMILARITY
    ]
    scored.sort(key=lambda h: (-(h.score or 0.0), h.id))
    return scored[:size]
