"""Concept labels at ingest and for documents already ingested (backfill from vectors).

Labels are read off the scene vectors (``models.labels``), after the runner has
embedded a batch: one matrix product for every picture and frame of the batch.
A picture gets the labels of its scene vector; a video gets labels on each frame,
and its own ``visual.labels`` are the frames' merged (``labels.merge_pairs``).

The preset's ``labels`` section tunes it: ``labels: false`` turns it off,
``labels: {top: 12, min_score: 0.005}`` sets how many and how sure. Where the
faces were looked for, a picture or frame with faces also gets ``person``,
``couple``, ``people`` or ``portrait`` (``models.people_concepts``), since ImageNet has no
class for a person; they are read off the stored faces on a backfill too. A model
without a classification head (CLIP) writes no labels; a missing data file
(timm not installed) is logged once and the ingest goes on without labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.batching import batched
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import ModelUnavailableError
from es_visual.core.schema import ROOT, visual_of
from es_visual.models.tone_concepts import NAMES as TONE_NAMES

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.core.documents import VisualSpec
    from es_visual.ingest.analyze import Analysis, Slot
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.models.labels import Labeler

log = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True)
class LabelOptions:
    enabled: bool = True
    top: int = schema.TOP_K
    min_score: float = schema.MIN_SCORE

    @classmethod
    def from_config(cls, config: PipelineConfig) -> LabelOptions:
        raw = config.options.get("labels", True)
        if raw is False or raw is None:
            return cls(enabled=False)
        if not isinstance(raw, dict):
            return cls()
        return cls(
            enabled=bool(raw.get("enabled", True)),
            top=int(raw.get("top", schema.TOP_K)),
            min_score=float(raw.get("min_score", schema.MIN_SCORE)),
        )


def _labeler(model: str) -> Labeler | None:
    from es_visual.models.labels import labeler_for

    try:
        return labeler_for(model)
    except ModelUnavailableError as exc:
        if model not in _warned:
            _warned.add(model)
            log.warning("no concept labels for %s: %s", model, exc)
        return None


def label_visual(
    visual: dict[str, Any],
    labeler: Labeler,
    options: LabelOptions,
    tones: Mapping[Slot, schema.Pairs] | None = None,
) -> bool:
    """Write labels into one ``visual`` object from the vectors it holds (scene, frames),
    its faces and the ``tones`` read off its pictures at ingest (None, on a backfill: the
    tone labels it already has are kept, they need the pictures); False when it holds no
    scene vector to read them from."""
    from es_visual.models.labels import top_labels

    # Frames with a vector, and where each stands in the list (the tones' slots name it).
    indexed = [
        (j, f)
        for j, f in enumerate(visual.get("frames") or [])
        if isinstance(f, dict) and f.get("vector")
    ]
    frames = [f for _, f in indexed]
    scene = visual.get("scene")
    if not scene and not frames:
        return False
    vectors = [f["vector"] for f in frames] + ([scene] if scene else [])
    pairs = top_labels(labeler, np.asarray(vectors), k=options.top, min_score=options.min_score)
    people = _people_pairs(visual, frames)
    frame_tones = [_tones(frame, ("frames", j), tones) for j, frame in indexed]
    for i, (frame, frame_pairs) in enumerate(zip(frames, pairs, strict=False)):
        frame.update(schema.label_fields(_with(frame_pairs, people[i] + frame_tones[i])))
    doc_pairs = schema.merge_pairs(pairs, k=options.top) if frames else pairs[-1]
    doc_tones = _tones(visual, ("scene",), tones)
    if frames:
        doc_tones = schema.merge_pairs([*frame_tones, doc_tones], k=len(TONE_NAMES))
    extra = schema.merge_pairs(people.values()) + doc_tones
    visual.update(schema.label_fields(_with(doc_pairs, extra)))
    return True


def _tones(
    obj: dict[str, Any], slot: Slot, tones: Mapping[Slot, schema.Pairs] | None
) -> schema.Pairs:
    """The tone concepts of one picture or frame: read at ingest (and kept in its
    ``tone`` object), else those it kept (a backfill has vectors, not pixels)."""
    if tones is None:
        return schema.read_tone(obj)
    pairs = list(tones.get(slot, []))
    obj[schema.TONE] = schema.tone_field(pairs)
    return pairs


def _people_pairs(visual: dict[str, Any], frames: list[dict[str, Any]]) -> dict[int, schema.Pairs]:
    """The face concepts (``models.people_concepts``) of each frame by its position, or of
    the picture at position -1: a video's faces are stamped with their frame's time."""
    from es_visual.models.people_concepts import face_labels

    faces = [f for f in visual.get("faces") or [] if isinstance(f, dict)]
    if not frames:
        return {-1: face_labels(faces)}
    at: dict[float, int] = {}
    for i, frame in enumerate(frames):
        if isinstance(frame.get("t"), int | float):
            at.setdefault(round(float(frame["t"]), 3), i)
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for face in faces:
        t = face.get("t")
        frame_at = at.get(round(float(t), 3)) if isinstance(t, int | float) else None
        if frame_at is not None:
            by_frame.setdefault(frame_at, []).append(face)
    return {i: face_labels(fs) for i, fs in by_frame.items()} | {
        i: [] for i in range(len(frames)) if i not in by_frame
    }


def _with(scene: schema.Pairs, people: schema.Pairs) -> schema.Pairs:
    """Scene labels and face concepts as one list, best first: the face concepts are
    kept whatever the scene model's top-k (they come from another model)."""
    return sorted([*scene, *people], key=lambda p: (-p[1], p[0]))


def label_analyses(analyses: Sequence[Analysis], model: str, config: PipelineConfig) -> None:
    """Add labels to every analysis of an embedded batch (in place)."""
    options = LabelOptions.from_config(config)
    if not options.enabled or not analyses:
        return
    labeler = _labeler(model)
    if labeler is None:
        return
    for analysis in analyses:
        label_visual(analysis.visual, labeler, options, analysis.tones)


# --- backfill: documents ingested before labels existed ---------------------------------------


def to_label(spec: VisualSpec) -> ir.Node:
    """What a backfill labels without ``force``: documents without labels, and, where the
    index has faces, documents with faces labelled before faces gave concepts (no
    ``person`` among their labels). An index without faces has no ``visual.faces``
    mapping, and a cluster refuses a nested query on an unmapped path."""
    from es_visual.core.schema import FACES_FIELD
    from es_visual.models.people_concepts import PERSON

    unlabelled = ir.Not(ir.Exists(schema.LABELS_FIELD))
    if not spec.face_model:
        return unlabelled
    faces_unnamed = ir.and_(
        ir.Exists(f"{FACES_FIELD}.score"), ir.Not(ir.Term(schema.LABELS_FIELD, PERSON))
    )
    return ir.or_(unlabelled, faces_unnamed)


@dataclass
class BackfillReport:
    index: str
    model: str
    seen: int = 0
    labelled: int = 0
    failed: int = 0
    errors: list[str] | None = None
    label_ranks: int = 0  # documents given the engine's label ranks (``backfill_index``)
    text_vectors: int = 0  # documents given an up-to-date text vector (``backfill_index``)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "seen": self.seen,
            "labelled": self.labelled,
            "failed": self.failed,
            "label_ranks": self.label_ranks,
            "text_vectors": self.text_vectors,
            "errors": list(self.errors or [])[:20],
        }


def backfill_labels(
    backend: Backend,
    index: str,
    *,
    force: bool = False,
    batch_size: int = 200,
    options: LabelOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Label every document of ``index`` that has a scene vector and no labels yet, or faces
    but no face concepts (``to_label``; all of them with ``force``), from the stored
    vectors and faces: no media is opened. Idempotent."""
    from es_visual.core.errors import ConfigError

    spec = backend.visual_spec(index)
    if spec is None:
        raise ConfigError(f"index {index!r} has no visual vectors: nothing to label")
    labeler = _labeler(spec.model)
    if labeler is None:
        from es_visual.models.labels import has_labeler

        why = "" if has_labeler(spec.model) else " (it has no classification head)"
        raise ConfigError(f"vectors of {spec.model} cannot be labelled{why}")
    options = options or LabelOptions()
    report = BackfillReport(index=index, model=spec.model, errors=[])
    wanted: ir.Node = ir.MatchAll() if force else to_label(spec)
    for batch in batched(
        backend.iter_docs(index, filter=wanted, batch_size=batch_size, with_vectors=True),
        batch_size,
    ):
        updates = []
        for doc_id, doc in batch:
            visual = visual_of(doc)
            report.seen += 1
            if visual.get("model") != spec.model or not label_visual(visual, labeler, options):
                continue
            change: dict[str, Any] = {
                schema.LABELS: visual[schema.LABELS],
                schema.SCORES: visual[schema.SCORES],
            }
            if visual.get("frames"):
                # A partial update replaces a list whole: the frames go back with their vectors.
                change["frames"] = visual["frames"]
            updates.append(DocUpdate(doc_id, {ROOT: change}, upsert=False))
        if updates:
            result = backend.bulk_update(index, updates)
            report.labelled += result.written
            report.failed += len(result.errors)
            assert report.errors is not None
            report.errors.extend(f"{e.id}: {e.reason}" for e in result.errors)
        if progress:
            progress(len(batch))
    backend.refresh(index)
    return report


def backfill_index(
    backend: Backend,
    index: str,
    *,
    force: bool = False,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
    text_fields: Sequence[str] | None = None,
) -> BackfillReport:
    """The text vectors of ``text_fields`` (``ingest.text_vectors``; None: the default
    field map's) where missing or stale, then ``backfill_labels``, then, on a backend
    that ranks labels by a representation of its own (``LabelRanks``: the clusters),
    that representation for every labelled document still without it: what
    ``es-visual labels --backfill`` and an up-to-date ``es-visual reindex`` run. The
    text vectors come first: an index whose model cannot label still gets them."""
    from es_visual.core.ranking import LabelRanks
    from es_visual.ingest.text_vectors import backfill_text_vectors

    if text_fields is None:
        from es_visual.query.fieldmap import FieldMap

        text_fields = FieldMap.default().text_fields
    spec = backend.visual_spec(index)
    if spec is not None:
        backend.ensure_index(index, spec)  # the text vector's field, where the mapping lacks it
    texts = backfill_text_vectors(backend, index, text_fields, batch_size=batch_size)
    report = backfill_labels(backend, index, force=force, batch_size=batch_size, progress=progress)
    report.text_vectors = texts.written
    report.failed += texts.failed
    assert report.errors is not None
    report.errors.extend(texts.errors)
    if isinstance(backend, LabelRanks) and not backend.ranks_labels(index):
        report.label_ranks = backend.complete_label_ranks(index)
    return report
