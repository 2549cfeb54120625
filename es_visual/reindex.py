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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from es_visual.backends.base import Backend
from es_visual.documents import DocUpdate, ItemError
from es_visual.errors import BackendError, ConfigError, ModelMismatchError
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.report import IngestReport
from es_visual.ingest.runner import STATE_FIELDS
from es_visual.ingest.sources import Asset
from es_visual.models.base import Embedder
from es_visual.query.ir import Ids
from es_visual.workflows import ingest, spec_for

PATH_FIELD = "visual.path"
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
    copied: int = 0  # documents without media, copied with their user fields
    copy_errors: list[ItemError] = field(default_factory=list)
    swapped: bool = False
    left: list[str] = field(default_factory=list)  # indexes the alias left (or deleted)

    @property
    def failed(self) -> int:
        return len(self.copy_errors) + (self.ingest.failed if self.ingest else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "ingest": self.ingest.to_dict() if self.ingest else None,
            "copied": self.copied,
            "copy_errors": [asdict(e) for e in self.copy_errors],
            "swapped": self.swapped,
            "left": self.left,
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
    spec = backend.visual_spec(source)
    if spec is None:
        raise ConfigError(
            f"index {index!r} has no visual vectors yet: there is nothing to reindex; "
            "run `es-visual ingest` with the model you want"
        )
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
    fields = [path_field, "visual.content_hash"]
    for batch in _batches(backend.iter_docs(source, fields=fields), LOOKUP_BATCH):
        done = _done_in_target(backend, target, [i for i, _ in batch], embedder.tag)
        for doc_id, doc in batch:
            plan.documents += 1
            if not _media_path(doc, path_field):
                plan.without_media += 1
                continue
            plan.with_media += 1
            stored = done.get(doc_id)
            hash_ = (doc.get("visual") or {}).get("content_hash")
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
        return report
    if plan.replaces_original and not replace_original:
        raise ConfigError(
            f"{plan.index!r} is a real index, not an alias: to switch searches to "
            f"{plan.target!r} atomically it is deleted once every document is copied there. "
            "Allow that with --replace-original (keep a snapshot if in doubt), or use "
            "--in-place (same dims only)"
        )
    spec = spec_for(embedder, pipeline.options.get("face_dims"))
    if plan.in_place:
        _call(backend, "set_visual_spec", plan.source, spec)
    else:
        _call(backend, "create_index_like", plan.source, plan.target, spec)

    def copy(docs: list[DocUpdate]) -> None:
        result = backend.bulk_update(plan.target, docs)
        report.copied += result.written
        report.copy_errors.extend(result.errors)
        if progress:
            progress(len(docs))

    def assets() -> Iterator[Asset]:
        pending: list[DocUpdate] = []
        for doc_id, doc in backend.iter_docs(plan.source):
            path = _media_path(doc, path_field)
            user = {k: v for k, v in doc.items() if k != "visual"}
            if not path:
                if not plan.in_place:
                    pending.append(DocUpdate(doc_id, user))
                    if len(pending) >= LOOKUP_BATCH:
                        copy(pending)
                        pending = []
                elif progress:
                    progress(1)
                continue
            media = Path(path).expanduser()
            if not media.is_absolute() and base_dir is not None:
                media = Path(base_dir) / media
            metadata = {} if plan.in_place else user
            yield Asset(doc_id, media, metadata, origin=f"{plan.source}/{doc_id}")
        if pending:
            copy(pending)

    report.ingest = ingest(
        backend,
        plan.target,
        assets(),
        embedder=embedder,
        pipeline=pipeline,
        batch_size=batch_size,
        progress=progress,
    )
    backend.refresh(plan.target)
    if plan.target == plan.source:
        return report
    source_count = backend.stats(plan.source).documents
    target_count = backend.stats(plan.target).documents
    if target_count < source_count or report.copy_errors:
        raise BackendError(
            f"{plan.target!r} holds {target_count} of the {source_count} documents of "
            f"{plan.source!r} ({len(report.copy_errors)} copy error(s)); the alias was not "
            "swapped. Run the same command again to continue"
        )
    report.left = _call(backend, "swap_alias", plan.index, plan.target)
    report.swapped = True
    return report


def _done_in_target(
    backend: Backend, target: str, ids: Sequence[str], model: str
) -> dict[str, dict[str, Any]]:
    """Documents of ``ids`` already embedded into ``target`` with ``model`` (no error)."""
    if not _exists(backend, target):
        return {}
    out = {}
    for doc_id, doc in backend.iter_docs(target, filter=Ids(tuple(ids)), fields=STATE_FIELDS):
        visual = doc.get("visual") or {}
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
    resolve = getattr(backend, "resolve_index", None)
    return resolve(index) if resolve is not None and _exists(backend, index) else index


def _exists(backend: Backend, index: str) -> bool:
    exists = getattr(backend, "index_exists", None)
    return bool(exists(index)) if exists is not None else backend.visual_spec(index) is not None


def _call(backend: Backend, method: str, *args: Any) -> Any:
    fn = getattr(backend, method, None)
    if fn is None:
        raise BackendError(f"the {backend.name} backend cannot reindex (no {method})")
    return fn(*args)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
