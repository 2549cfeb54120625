"""The meaning of a document's own text, stored: ``visual.text_vector``.

A text search ranks the user's text (caption, title, ...: the field map's text
fields) by meaning (``query.meaning``). It does so by kNN over one stored vector per
document: the offline sentence model's (``models.sentence``) normalized embedding of
``meaning.document_text(source, fields)``, written

* at ingest, after the pictures are embedded, in one model call per chunk (the runner
  calls ``text_changes`` with each document's text: its stored text fields with the
  manifest line's on top), also for unchanged media whose manifest line changed;
* by ``backfill_text_vectors`` (``es-visual labels --backfill``, an up-to-date
  ``es-visual reindex``) for documents written before, from their stored text: no
  media is read.

Beside the vector, ``visual.text_hash`` (of the embedded text), ``visual.text_model``
(the model's tag) and ``visual.text_fields`` (the fields joined, ``fields_key``) let a
later run tell a vector that is still right from one to make again, and a search use
only vectors of the very fields it ranks. A document without text gets no vector, and
loses one it had. No sentence model installed: logged once, the documents keep what
they have.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from es_visual.core import ir, schema
from es_visual.core.batching import batched
from es_visual.core.documents import DocUpdate, value_at
from es_visual.core.errors import ModelUnavailableError
from es_visual.query.meaning import document_text, fields_key

if TYPE_CHECKING:
    from es_visual.backends.base import Backend

log = logging.getLogger(__name__)
_warned: list[str] = []

VECTOR_KEY = schema.key(schema.TEXT_VECTOR_FIELD)
HASH_KEY = schema.key(schema.TEXT_HASH_FIELD)
MODEL_KEY = schema.key(schema.TEXT_MODEL_FIELD)
FIELDS_KEY = schema.key(schema.TEXT_FIELDS_FIELD)
# What a run reads of a stored document to know whether its vector is up to date.
STATE_FIELDS = (schema.TEXT_HASH_FIELD, schema.TEXT_MODEL_FIELD, schema.TEXT_FIELDS_FIELD)
# The ``visual`` change that removes a vector (its text is gone).
REMOVED: dict[str, Any] = {VECTOR_KEY: None, HASH_KEY: None, MODEL_KEY: None, FIELDS_KEY: None}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def merged_text(
    stored: Mapping[str, Any] | None,
    metadata: Mapping[str, Any],
    fields: Sequence[str],
    removed: Sequence[str] = (),
) -> str:
    """The text a document will hold once written: each field from ``metadata`` (what
    is being written) where it gives one, else from ``stored``, unless that field (or
    its top-level object) is among ``removed`` (a manifest line's former fields)."""
    gone = set(removed)
    joined: dict[str, Any] = {}
    for name in fields:
        value = value_at(metadata, name)
        if value is None and name not in gone and name.split(".", 1)[0] not in gone:
            value = value_at(stored, name)
        joined[name] = value
    return document_text(joined, fields)


def text_changes(
    docs: Sequence[tuple[str, Mapping[str, Any] | None]], fields: Sequence[str]
) -> list[dict[str, Any]]:
    """For each (text of ``fields``, stored ``visual``): the ``visual`` keys to write;
    ``{}`` when the stored vector is still right (or there is none and no text),
    ``REMOVED`` when the text is gone. The new texts are embedded in one model call;
    without the sentence model every change is ``{}`` (logged once)."""
    from es_visual.models.sentence import TAG

    key = fields_key(fields)
    out: list[dict[str, Any]] = [{} for _ in docs]
    todo: list[tuple[int, str, str]] = []
    for i, (text, visual) in enumerate(docs):
        visual = visual or {}
        if not text:
            if visual.get(HASH_KEY) or visual.get(VECTOR_KEY):
                out[i] = dict(REMOVED)
            continue
        digest = text_hash(text)
        if (visual.get(HASH_KEY), visual.get(MODEL_KEY), visual.get(FIELDS_KEY)) != (
            digest,
            TAG,
            key,
        ):
            todo.append((i, text, digest))
    if not todo:
        return out
    vectors = _embed([text for _, text, _ in todo])
    if vectors is None:
        return out
    for (i, _, digest), vector in zip(todo, vectors, strict=True):
        vec = [float(v) for v in vector]
        out[i] = {VECTOR_KEY: vec, HASH_KEY: digest, MODEL_KEY: TAG, FIELDS_KEY: key}
    return out


def _embed(texts: list[str]) -> Any:
    from es_visual.models.sentence import get_sentence_embedder

    try:
        return get_sentence_embedder().embed(texts)
    except ModelUnavailableError as exc:
        if not _warned:
            _warned.append(str(exc))
            log.warning("no text vectors (text searches rank captions more slowly): %s", exc)
        return None


# --- backfill: documents written before text vectors existed, or whose text changed -----


@dataclass
class TextBackfillReport:
    seen: int = 0
    written: int = 0  # vectors made (or removed, the text being gone)
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "written": self.written,
            "failed": self.failed,
            "errors": self.errors[:20],
        }


def backfill_text_vectors(
    backend: Backend,
    index: str,
    fields: Sequence[str],
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> TextBackfillReport:
    """Give every document of ``index`` with text in ``fields`` an up-to-date text
    vector, from its stored text (no media is read); a document whose text is gone
    loses its vector. Idempotent: an up-to-date document is read, not written."""
    report = TextBackfillReport()
    if not fields:
        return report
    wanted = ir.or_(*(ir.Exists(f) for f in fields), ir.Exists(schema.TEXT_HASH_FIELD))
    read = [*fields, *STATE_FIELDS]
    docs = backend.iter_docs(index, filter=wanted, fields=read, batch_size=batch_size)
    for batch in batched(docs, batch_size):
        report.seen += len(batch)
        texts = [(document_text(doc, fields), schema.visual_of(doc)) for _, doc in batch]
        changes = text_changes(texts, fields)
        updates = [
            DocUpdate(doc_id, {schema.ROOT: change}, upsert=False)
            for (doc_id, _), change in zip(batch, changes, strict=True)
            if change
        ]
        if updates:
            result = backend.bulk_update(index, updates)
            report.written += result.written
            report.failed += len(result.errors)
            report.errors.extend(f"{e.id}: {e.reason}" for e in result.errors)
        if progress:
            progress(len(batch))
    backend.refresh(index)
    return report
