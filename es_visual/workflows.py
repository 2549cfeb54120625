"""The one place that wires the ingest stages to a backend.

The CLI and the web UI both call these; nothing below imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from es_visual.backends.base import Backend, VisualSpec
from es_visual.config import Settings
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import ModelMismatchError
from es_visual.core.ir import Ids
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.report import Failure, IngestReport
from es_visual.ingest.runner import STATE_FIELDS, run_ingest
from es_visual.ingest.sources import Asset, SourceError
from es_visual.models.base import Embedder
from es_visual.models.runtime import available_cpus
from es_visual.people.registry import PeopleRegistry


def load_pipeline(settings: Settings, name: str | None = None) -> PipelineConfig:
    """The named preset (``ingest_pipelines/<name>.yaml``) when presets are available,
    else a plain scene-only pipeline with the configured model."""
    name = name or settings.pipeline
    try:
        from es_visual.ingest.presets import load_preset
    except ImportError:
        return PipelineConfig(name=name, model=settings.model, max_pixels=settings.max_pixels)
    return load_preset(name, settings)


FACE_MODEL = "dlib-resnet@v1"


def spec_for(embedder: Embedder, face_dims: int | None = None) -> VisualSpec:
    """The ``visual`` mapping an index needs for this embedder (and faces, if any)."""
    return VisualSpec(
        model=embedder.tag,
        dims=embedder.dims,
        face_model=FACE_MODEL if face_dims else None,
        face_dims=face_dims or None,
    )


def ensure_ready(
    backend: Backend, index: str, embedder: Embedder, face_dims: int | None = None
) -> str:
    """Create or extend the index for this embedder; refuse another model's index.

    Returns what it did: ``created``, ``extended`` (``visual`` added to an existing
    index, or faces added to it) or ``unchanged``."""
    spec = backend.visual_spec(index)
    if spec is not None and (spec.model != embedder.tag or spec.dims != embedder.dims):
        raise ModelMismatchError(
            f"index {index!r} holds vectors of {spec.model} ({spec.dims} dims); this run uses "
            f"{embedder.tag} ({embedder.dims} dims). Use `es-visual reindex --model "
            f"{embedder.name}` to move the index to the new model, or another --index."
        )
    wanted = spec_for(embedder, face_dims)
    if spec is not None and wanted.face_dims in (None, spec.face_dims):
        # Faces already there, or not asked for. ensure_index still adds the fields a
        # newer es-visual maps (visual.text_vector) to an index set up before them: a
        # write would otherwise give them a dynamic mapping that no vector fits.
        backend.ensure_index(index, spec)
        return "unchanged"
    exists = backend.index_exists(index)
    # Always through ensure_index: it also adds faces to an index set up without them.
    backend.ensure_index(index, wanted)
    return "extended" if exists else "created"


def text_fields_for(settings: Settings, backend: Backend, index: str) -> tuple[str, ...]:
    """The fields whose text gets a stored text vector at ingest: the text fields a text
    search of ``index`` ranks (``FieldMap.for_index``), so both speak of the same text."""
    from es_visual.query.fieldmap import FieldMap

    return FieldMap.for_index(settings, backend, index).text_fields


def person_assigner(
    backend: Backend, index: str, pipeline: PipelineConfig, people: PeopleRegistry | None
) -> Callable[[Sequence[DocUpdate]], Sequence[DocUpdate]] | None:
    """Faces clustered into persons as they are written (es_visual.people.assign), when
    the pipeline finds faces and its ``faces.people`` option is not false."""
    faces = pipeline.options.get("faces") or {}
    if not pipeline.options.get("face_dims") or faces.get("people") is False:
        return None
    from es_visual.people.assign import PersonAssigner
    from es_visual.query.faces import same_person_threshold

    threshold = same_person_threshold(FACE_MODEL)
    if threshold is None:
        return None
    return PersonAssigner(
        backend, index, face_model=FACE_MODEL, threshold=threshold, registry=people
    )


def ingest(
    backend: Backend,
    index: str,
    source: Iterable[Asset | SourceError],
    *,
    embedder: Embedder,
    pipeline: PipelineConfig,
    batch_size: int = 16,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    on_failure: Callable[[Failure], None] | None = None,
    acl_field: str | None = None,
    people: PeopleRegistry | None = None,
    text_fields: Sequence[str] | None = None,
) -> IngestReport:
    """Ingest ``source`` into ``index``; ``on_failure`` sees each per-item failure as
    soon as its chunk is done (the report lists them all at the end). With
    ``acl_field`` (the settings' ``acl_field``), an item whose ACL there is malformed
    is refused (es_visual/ingest/acl.py) and dotted metadata keys are nested.

    ``text_fields``: whose text gets a stored text vector (``ingest.text_vectors``);
    None: the default field map's (``text_fields_for`` gives a configured index's)."""
    ensure_ready(backend, index, embedder, face_dims=pipeline.options.get("face_dims"))
    if acl_field:
        from es_visual.ingest.acl import checked_assets

        source = checked_assets(source, acl_field)

    if text_fields is None:
        from es_visual.query.fieldmap import FieldMap

        text_fields = FieldMap.default().text_fields
    read = list(dict.fromkeys([*STATE_FIELDS, *text_fields]))

    def lookup(ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        docs = backend.iter_docs(index, filter=Ids(tuple(ids)), fields=read)
        return dict(docs)

    assign = person_assigner(backend, index, pipeline, people)

    def write(updates: Sequence[DocUpdate]):  # type: ignore[no-untyped-def]
        return backend.bulk_update(index, assign(updates) if assign else updates)

    report = run_ingest(
        source,
        embedder=embedder,
        config=pipeline,
        write=write,
        lookup=lookup,
        index=index,
        batch_size=batch_size,
        # Readers decode while the model runs; at least 2 so one slow file never idles it.
        workers=min(4, max(2, available_cpus())),
        force=force,
        progress=progress,
        on_failure=on_failure,
        text_fields=tuple(text_fields),
    )
    backend.refresh(index)
    return report
