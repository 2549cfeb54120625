"""Moving an index to another model: plan (count the work), then run (copy, embed, swap).

Two ways, as `es-visual reindex` offers them:

- alongside (the default): build ``<index>-<model-slug>`` with the source's user
  mapping and the new ``visual`` mapping, copy every document's user fields,
  embed its media (read again from ``visual.path``, or ``path_field``), then
  point the alias ``<index>`` at it in one atomic call. Queries keep working on
  the old vectors until the swap, and on the new ones right after.
- in place: same dims only; the index's model is switched first, then every
  document is re-embedded into the same index.

Both are resumable: the ingest runner skips documents that already carry the
new model and the same content hash, so a re-run after a crash continues where
the last one stopped. The alias is swapped only once every source document is
in the new index.

No user edit is lost alongside: every document's user fields are copied on every
run (a resumed run skips the embedding of unchanged media, not the copy), and
before the swap the source is blocked for writes while a final pass compares
each document's user fields with the copy, fixes what changed since, copies what
was added and deletes what was deleted. The block is lifted if anything fails;
the old index is left writable after the swap unless it was deleted by it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from es_visual.backends.base import Backend, as_admin
from es_visual.core import schema
from es_visual.core.batching import batched
from es_visual.core.documents import DocUpdate, ItemError, VisualSpec
from es_visual.core.errors import BackendError, ConfigError, ModelMismatchError
from es_visual.core.ir import Ids
from es_visual.ingest.labels import BackfillReport, backfill_index
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.report import IngestReport
from es_visual.ingest.runner import STATE_FIELDS
from es_visual.ingest.sources import Asset
from es_visual.models.base import Embedder
from es_visual.workflows import ingest, spec_for

PATH_FIELD = schema.PATH_FIELD
LOOKUP_BATCH = 200


@dataclass
class ReindexPlan:
    index: str  # the name queries use (becomes, or already is, an alias)
    source: str  # the concrete index read
    target: str  # the concrete index written (== source in place)
    old_model: str
    new_model: str
    in_place: bool
    documents: int = 0
    with_media: int = 0  # documents whose media can be read again
    to_embed: int = 0  # of those, not yet carrying the new model and hash
    without_media: int = 0  # copied with their user fields only
    replaces: list[str] = field(default_factory=list)  # what the alias swap takes away

    @property
    def up_to_date(self) -> bool:
        return self.old_model == self.new_model and self.source == self.target

    @property
    def replaces_original(self) -> bool:
        """The swap deletes the user's real index named ``index`` (its first reindex)."""
        return self.source == self.index and self.target != self.source

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "up_to_date": self.up_to_date,
            "replaces_original": self.replaces_original,
        }


@dataclass
class ReindexReport:
    plan: ReindexPlan
    ingest: IngestReport | None = None
    copied: int = 0  # user-field copies written (every document, every run)
    copy_errors: list[ItemError] = field(default_factory=list)
    # The final pass, with the source blocked for writes:
    edits_caught: int = 0  # documents edited in the source after they were copied
    added_late: IngestReport | None = None  # documents added to the source meanwhile
    deleted_late: int = 0  # documents deleted from the source meanwhile
    swapped: bool = False
    left: list[str] = field(default_factory=list)  # indexes the alias left (or deleted)
    labels: BackfillReport | None = None  # an up-to-date index: its labels backfilled

    @property
    def failed(self) -> int:
        late = self.added_late.failed if self.added_late else 0
        labels = self.labels.failed if self.labels else 0
        return len(self.copy_errors) + (self.ingest.failed if self.ingest else 0) + late + labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "ingest": self.ingest.to_dict() if self.ingest else None,
            "copied": self.copied,
            "copy_errors": [asdict(e) for e in self.copy_errors],
            "edits_caught": self.edits_caught,
            "added_late": self.added_late.to_dict() if self.added_late else None,
            "deleted_late": self.deleted_late,
            "swapped": self.swapped,
            "left": self.left,
            "labels": self.labels.to_dict() if self.labels else None,
        }


def model_slug(tag: str) -> str:
    """``clip@openai/clip-vit-base-patch32`` -> ``clip-openai-clip-vit-base-patch32``:
    a valid index-name suffix (lowercase, no ``/ @ :``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-")
    return slug[:120] or "model"


def plan_reindex(
    backend: Backend,
    index: str,
    embedder: Embedder,
    *,
    in_place: bool = False,
    path_field: str = PATH_FIELD,
) -> ReindexPlan:
    """What a reindex of ``index`` to ``embedder`` would do; reads, never writes."""
    source = _resolve(backend, index)
    if not _exists(backend, index):
        raise ConfigError(f"no such index {index!r}")
    spec = backend.visual_spec(source)
    if spec is None:
        if in_place:
            raise ConfigError(
                f"index {index!r} has no visual vectors yet: `es-visual ingest --from-index` "
                "adds them in place; drop --in-place to build a copy that holds them"
            )
        # An index that cannot take vectors in place (OpenSearch without index.knn):
        # copied into a new one that can, its media embedded on the way.
        spec = VisualSpec(model="", dims=embedder.dims)
    if in_place and spec.dims != embedder.dims:
        raise ModelMismatchError(
            f"--in-place needs the same dims: index {index!r} holds {spec.model} "
            f"({spec.dims} dims), {embedder.tag} makes {embedder.dims}; drop --in-place to "
            f"build {index}-{model_slug(embedder.tag)} alongside and swap the alias"
        )
    target = (
        source if in_place or spec.model == embedder.tag else index + "-" + model_slug(embedder.tag)
    )
    if target == source and not in_place and spec.model != embedder.tag:
        raise ConfigError(f"{target!r} is the index being reindexed; choose another --index")
    plan = ReindexPlan(index, source, target, spec.model, embedder.tag, in_place)
    if plan.up_to_date:
        plan.documents = backend.stats(source).documents
        return plan
    fields = [path_field, schema.CONTENT_HASH_FIELD]
    for batch in batched(backend.iter_docs(source, fields=fields), LOOKUP_BATCH):
        done = _done_in_target(backend, target, [i for i, _ in batch], embedder.tag)
        for doc_id, doc in batch:
            plan.documents += 1
            if not _media_path(doc, path_field):
                plan.without_media += 1
                continue
            plan.with_media += 1
            stored = done.get(doc_id)
            hash_ = schema.visual_of(doc).get("content_hash")
            if stored is None or (stored.get("content_hash") != hash_ and not in_place):
                plan.to_embed += 1
    if target != source:
        plan.replaces = _replaced_by_swap(backend, index, target)
    return plan


def run_reindex(
    backend: Backend,
    plan: ReindexPlan,
    embedder: Embedder,
    pipeline: PipelineConfig,
    *,
    path_field: str = PATH_FIELD,
    base_dir: Path | None = None,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    replace_original: bool = False,
) -> ReindexReport:
    """Carry out ``plan``; see the module docstring. Raises ``BackendError`` (and swaps
    nothing) if documents are missing from the new index at the end.

    The first reindex of a real index ends by deleting it (an alias cannot share its
    name); that needs ``replace_original=True``, asked for before any work is done."""
    report = ReindexReport(plan)
    if plan.up_to_date:
        # Nothing to embed; documents ingested before labels existed get theirs from
        # the stored vectors (and, on a cluster, the field the engine ranks them by).
        from es_visual.models.labels import has_labeler

        if has_labeler(plan.new_model):
            report.labels = backfill_index(backend, plan.source, progress=progress)
        return report
    if plan.replaces_original and not replace_original:
        raise ConfigError(
            f"{plan.index!r} is a real index, not an alias: to switch searches to "
            f"{plan.target!r} atomically it is deleted once every document is copied there. "
            "Allow that with --replace-original (keep a snapshot if in doubt), or use "
            "--in-place (same dims only)"
        )
    spec = spec_for(embedder, pipeline.options.get("face_dims"))
    admin = as_admin(backend)
    if plan.in_place:
        admin.set_visual_spec(plan.source, spec)
    else:
        admin.create_index_like(plan.source, plan.target, spec)

    def copy(docs: list[DocUpdate]) -> None:
        result = backend.bulk_update(plan.target, docs)
        report.copied += result.written
        report.copy_errors.extend(result.errors)

    def assets(ids: Sequence[str] | None = None) -> Iterator[Asset]:
        pending: list[DocUpdate] = []
        docs = backend.iter_docs(plan.source, filter=Ids(tuple(ids))) if ids else None
        for doc_id, doc in docs if docs is not None else backend.iter_docs(plan.source):
            path = _media_path(doc, path_field)
            if not plan.in_place:
                # Every run copies the user fields, embedded or not: a resumed run
                # skips unchanged media, never the user's edits.
                pending.append(DocUpdate(doc_id, _user_fields(doc)))
                if len(pending) >= LOOKUP_BATCH:
                    copy(pending)
                    pending = []
            if not path:
                if progress:
                    progress(1)
                continue
            media = Path(path).expanduser()
            if not media.is_absolute() and base_dir is not None:
                media = Path(base_dir) / media
            yield Asset(doc_id, media, {}, origin=f"{plan.source}/{doc_id}")
        if pending:
            copy(pending)

    def embed(items: Iterator[Asset]) -> IngestReport:
        return ingest(
            backend,
            plan.target,
            items,
            embedder=embedder,
            pipeline=pipeline,
            batch_size=batch_size,
            progress=progress,
        )

    report.ingest = embed(assets())
    backend.refresh(plan.target)
    if plan.target == plan.source:
        return report
    admin.block_writes(plan.source, True)
    try:
        backend.refresh(plan.source)
        added = _final_pass(backend, plan, report)
        if added:
            report.added_late = embed(assets(added))
        backend.refresh(plan.target)
        source_count = backend.stats(plan.source).documents
        target_count = backend.stats(plan.target).documents
        if target_count != source_count or report.copy_errors:
            raise BackendError(
                f"{plan.target!r} holds {target_count} of the {source_count} documents of "
                f"{plan.source!r} ({len(report.copy_errors)} copy error(s)); the alias was "
                "not swapped. Run the same command again to continue"
            )
        report.left = admin.swap_alias(plan.index, plan.target)
        report.swapped = True
    finally:
        if not (report.swapped and plan.replaces_original):  # else the swap deleted it
            admin.block_writes(plan.source, False)
    return report


def _user_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != schema.ROOT}


def _final_pass(backend: Backend, plan: ReindexPlan, report: ReindexReport) -> list[str]:
    """With the source blocked for writes: make the target's user fields equal the
    source's (edits made after a document was copied), delete from the target what
    left the source, and return the ids the source gained (to copy and embed)."""
    seen: set[str] = set()
    added: list[str] = []
    for batch in batched(backend.iter_docs(plan.source), LOOKUP_BATCH):
        ids = [doc_id for doc_id, _ in batch]
        seen.update(ids)
        copied = dict(backend.iter_docs(plan.target, filter=Ids(tuple(ids))))
        fixes = []
        for doc_id, doc in batch:
            if doc_id not in copied:
                added.append(doc_id)
                continue
            user, old = _user_fields(doc), _user_fields(copied[doc_id])
            if user != old:
                # The whole user part again, its old keys removed first: lists and
                # removed fields come out exactly as in the source.
                fixes.append(DocUpdate(doc_id, user, upsert=False, unset=tuple(old)))
                report.edits_caught += 1
        if fixes:
            result = backend.bulk_update(plan.target, fixes)
            report.copy_errors.extend(result.errors)
    stale = [i for i, _ in backend.iter_docs(plan.target, fields=[]) if i not in seen]
    if stale:
        report.deleted_late = backend.delete(plan.target, stale)
    return added


def _done_in_target(
    backend: Backend, target: str, ids: Sequence[str], model: str
) -> dict[str, dict[str, Any]]:
    """Documents of ``ids`` already embedded into ``target`` with ``model`` (no error)."""
    if not _exists(backend, target):
        return {}
    out = {}
    for doc_id, doc in backend.iter_docs(target, filter=Ids(tuple(ids)), fields=STATE_FIELDS):
        visual = schema.visual_of(doc)
        if visual.get("model") == model and not visual.get("error"):
            out[doc_id] = visual
    return out


def _replaced_by_swap(backend: Backend, index: str, target: str) -> list[str]:
    source = _resolve(backend, index)
    return [] if source == target else [source]


def _media_path(doc: dict[str, Any], dotted: str) -> str | None:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None


def _resolve(backend: Backend, index: str) -> str:
    return as_admin(backend).resolve_index(index) if _exists(backend, index) else index


def _exists(backend: Backend, index: str) -> bool:
    return backend.index_exists(index)
