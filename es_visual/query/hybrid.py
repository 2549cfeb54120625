"""Running a ``text()`` search: several rankings of the same words, one fused list.

The signals, each a ranked list of the documents the caller may read (the filter,
``media`` and the ACL restrict every one of them):

* ``labels``: the query's concepts (``models.concepts``: the offline sentence model
  matches the words to the scene model's ImageNet classes) against each
  document's ``visual.labels``. Needs an index whose model labels its pictures.
* ``text``: BM25 over the field map's text fields (caption, title, ...).
* ``concept_words``: BM25 over the same fields for the names of the query's best
  concepts ("man taking pictures" -> "reflex camera" -> the caption "camera sample").
* ``meaning``: the same fields ranked by what they mean (``query.meaning``: a kNN of
  the query's sentence-model vector over each document's stored text vector).
* ``clip``: the query embedded by the index's model, when it has a text tower.
* the picture of ``similar_to(...)``, when the search has one (named after its
  kind: ``image``, ``asset``, ...).

They are fused by reciprocal rank (``ranking.rrf``); each hit says which signals
found it and why (``FusedHit.signals``): the labels it carries that the query
matched, the fields that hold its words, the CLIP similarity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from es_visual.core import labels as schema
from es_visual.core.documents import value_at
from es_visual.core.errors import ModelUnavailableError, QueryError
from es_visual.core.results import Hit, Matched, SearchResult, Segment
from es_visual.core.schema import (
    DURATION_FIELD,
    FRAME_LABEL_SCORES_FIELD,
    FRAME_LABELS_FIELD,
    FRAME_T_FIELD,
    MEDIA_TYPE_FIELD,
    visual_of,
)
from es_visual.query.meaning import share as meaning_share
from es_visual.query.ranking import (
    LabelRank,
    RankRequest,
    TextRank,
    concept_text,
    query_phrases,
    query_words,
    rrf,
    run_rank,
)

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.models.base import Embedder
    from es_visual.models.concepts import Concept
    from es_visual.query.search import Search

log = logging.getLogger(__name__)

# How deep each list goes before fusion (Elasticsearch's rrf rank_window_size).
RANK_WINDOW = 100
# The user's text is also searched for the names of the query's best EXPAND_CONCEPTS
# concepts, as its own list ("concept_words"): "man taking pictures" finds the caption
# "camera sample" through the concept "reflex camera". 0 turns it off.
EXPAND_CONCEPTS = 3
# Whether the user's text is also ranked by meaning (``query.meaning``).
MEANING = True
# Model names whose embedders have a text tower (known without loading them).
TEXT_MODELS = frozenset({"clip"})
# Fields a labels ranking needs back when the caller asked for only some.
_LABEL_SOURCE = (
    schema.LABELS_FIELD,
    schema.SCORES_FIELD,
    MEDIA_TYPE_FIELD,
    DURATION_FIELD,
    FRAME_T_FIELD,
    FRAME_LABELS_FIELD,
    FRAME_LABEL_SCORES_FIELD,
)


@dataclass(frozen=True)
class SignalMatch:
    """One signal's part in a fused hit: where it ranked the document, and why."""

    signal: str
    rank: int
    score: float | None
    detail: str = ""
    # what the place counted for: the fused score is the sum of share / (k + rank)
    share: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"signal": self.signal, "rank": self.rank, "score": self.score}
        if self.detail:
            out["detail"] = self.detail
        if self.share != 1.0:
            out["share"] = round(self.share, 4)
        return out


@dataclass(frozen=True)
class FusedHit(Hit):
    """A hit of a text search: ``score`` is the fused (reciprocal rank) score."""

    signals: tuple[SignalMatch, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["signals"] = [s.to_dict() for s in self.signals]
        return out


@dataclass(frozen=True)
class TextPlan:
    """What a text search will ask, before any backend is called (``plan_text``)."""

    words: tuple[str, ...]
    text_fields: tuple[str, ...]
    concepts: tuple[Concept, ...]
    clip: bool
    notes: tuple[str, ...] = ()
    # the names of the best concepts, as words to look for in the user's text
    concept_words: tuple[str, ...] = ()


def plan_text(search: Search, backend: Backend, *, embedder: Embedder | None = None) -> TextPlan:
    """Which signals a text search can use on this index, and the query's concepts."""
    text = search.text_query
    assert text is not None
    spec = backend.cached_spec(search.index)
    notes: list[str] = []
    concepts: list[Concept] = []
    if spec is not None:
        from es_visual.models.labels import has_labeler

        if has_labeler(spec.model):
            try:
                from es_visual.models.concepts import get_concept_matcher

                about = concept_text(text)
                concepts = get_concept_matcher().match(about, parts=query_phrases(about))
            except ModelUnavailableError as exc:
                notes.append(f"no concept search: {exc}")
    clip = spec is not None and _has_text_tower(spec.model, embedder)
    fields = search.field_map.text_fields
    words = query_words(text)
    expansion: dict[str, None] = {}
    # a kind's members share its weight: the kind's name stands for them all
    names = dict.fromkeys(c.via or c.name for c in concepts)
    for name in list(names)[:EXPAND_CONCEPTS]:
        expansion.update(dict.fromkeys(w for w in query_words(name) if w not in words))
    return TextPlan(words, fields, tuple(concepts), clip, tuple(notes), tuple(expansion))


def execute_text(
    search: Search,
    backend: Backend,
    *,
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> SearchResult:
    """Run the text search ``search`` (see the module docstring)."""
    from es_visual.query.engine_fusion import fuse_by_engine
    from es_visual.query.execute import execute

    started = time.perf_counter()
    _check(search)
    plan = plan_text(search, backend, embedder=embedder)
    window = max(search.size, RANK_WINDOW)
    filter_node, acl = search.filter_node(now=now), search.acl
    fields = search._s.fields  # the builder's own state, read-only
    # The meaning of the user's text is a kNN list the engines' fusion (engine_fusion)
    # does not hold: when it found something, es-visual fuses every list itself, so
    # each backend ranks alike.
    meaning: list[Hit] = []
    if plan.text_fields and MEANING:
        meaning = _by_meaning(search, backend, plan, filter_node, acl, window, fields)
    if not meaning:
        native = fuse_by_engine(
            search,
            backend,
            plan,
            window=window,
            label_fields=_LABEL_SOURCE,
            embedder=embedder,
            now=now,
        )
        if native is not None:  # the engine fused the same lists (query.engine_fusion)
            return native
    lists: dict[str, Sequence[Hit]] = {}
    weights = {c.name: c.weight for c in plan.concepts}
    if weights:
        wanted = None if fields is None else tuple(dict.fromkeys((*fields, *_LABEL_SOURCE)))
        request = RankRequest(
            search.index, LabelRank(tuple(weights.items())), filter_node, acl, window, wanted
        )
        lists["labels"] = run_rank(backend, request).hits
    if plan.text_fields and plan.words:
        request = RankRequest(
            search.index, TextRank(plan.text_fields, plan.words), filter_node, acl, window, fields
        )
        lists["text"] = run_rank(backend, request).hits
    if plan.text_fields and plan.concept_words:
        rank = TextRank(plan.text_fields, plan.concept_words)
        request = RankRequest(search.index, rank, filter_node, acl, window, fields)
        lists["concept_words"] = run_rank(backend, request).hits
    if meaning:
        lists["meaning"] = meaning
    plain = search.text(None).limit(min(window, 10_000))
    if plan.clip:
        try:
            clip = plain.similar_to(text=search.text_query)
            lists["clip"] = execute(clip, backend, embedder=embedder, now=now).hits
        except ModelUnavailableError as exc:
            if lists:
                log.warning("text search without CLIP: %s", exc)
            else:
                raise
    if search.similar is not None:
        lists[search.similar.kind] = execute(plain, backend, embedder=embedder, now=now).hits
    if not lists:
        raise QueryError(_no_signal(search, plan))
    fused = rrf(lists, search.size, weight=_share)
    hits = tuple(_hit(f.hit, f.score, f.ranks, weights, plan) for f in fused)
    return SearchResult(hits=hits, took_ms=(time.perf_counter() - started) * 1000)


def _share(signal: str, hit: Hit) -> float:
    """A hit's share of its place in the fusion: the meaning list's by its similarity."""
    return meaning_share(hit.score) if signal == "meaning" else 1.0


def _by_meaning(
    search: Search,
    backend: Backend,
    plan: TextPlan,
    filter_node: Any,
    acl: Any,
    window: int,
    fields: tuple[str, ...] | None,
) -> list[Hit]:
    from es_visual.query.meaning import rank_by_meaning

    text = search.text_query or ""
    try:
        return rank_by_meaning(
            backend,
            search.index,
            text,
            plan.text_fields,
            filter=filter_node,
            acl=acl,
            size=window,
            source_fields=fields,
        )
    except ModelUnavailableError as exc:
        log.warning("text search without the meaning of the user's text: %s", exc)
        return []


def _check(search: Search) -> None:
    state = search._s
    if any(s.field != "_score" for s in state.sort):
        raise QueryError("a text search is ranked by relevance: it cannot be sorted by a field")
    if state.after:
        raise QueryError("a text search returns its best hits in one page: raise limit()")


def _has_text_tower(model: str, embedder: Embedder | None) -> bool:
    if embedder is not None and embedder.tag == model:
        return bool(embedder.supports_text)
    return model.partition("@")[0] in TEXT_MODELS


def _no_signal(search: Search, plan: TextPlan) -> str:
    why = list(plan.notes)
    if not plan.text_fields:
        why.append("no text fields are configured (text_fields)")
    if not plan.concepts and not plan.notes:
        why.append("no concept of the scene model is near these words")
    return f"nothing can rank {search.text_query!r} on index {search.index!r}: " + "; ".join(
        why or ["the index has no labels, no text fields and no text-image model"]
    )


def _hit(
    hit: Hit,
    score: float,
    ranks: dict[str, tuple[int, Hit]],
    weights: dict[str, float],
    plan: TextPlan,
) -> FusedHit:
    signals = []
    matched: Matched | None = None
    children: Sequence[Matched] = ()
    segments: Sequence[Segment] = ()
    for name, (rank, found) in ranks.items():
        if name == "labels":
            detail = _label_detail(found.source, weights)
        elif name == "text":
            detail = ", ".join(_fields_with_words(found.source, plan, plan.words))
        elif name == "meaning":
            detail = f"{', '.join(plan.text_fields)} ~ {found.score:.2f}" if found.score else ""
        elif name == "concept_words":
            detail = ", ".join(_fields_with_words(found.source, plan, plan.concept_words))
        else:
            detail = ""
            if matched is None:  # a vector signal knows where in the picture it matched
                matched, children, segments = found.matched, found.children, found.segments
        signals.append(SignalMatch(name, rank, found.score, detail, _share(name, found)))
    source = hit.source
    if matched is None and "labels" in ranks:
        matched, children, segments = _label_frames(ranks["labels"][1].source, weights)
        source = ranks["labels"][1].source if hit.source is None else hit.source
    return FusedHit(
        id=hit.id,
        score=score,
        source=source,
        matched=matched,
        children=tuple(children),
        segments=tuple(segments),
        signals=tuple(signals),
    )


def _label_detail(source: dict[str, Any], weights: dict[str, float]) -> str:
    pairs = schema.read_pairs(visual_of(source))
    hits = sorted(((n, s) for n, s in pairs if n in weights), key=lambda p: -weights[p[0]] * p[1])
    return ", ".join(f"{name} {score:.2f}" for name, score in hits[:3])


def _fields_with_words(
    source: dict[str, Any] | None, plan: TextPlan, wanted: tuple[str, ...] | None = None
) -> list[str]:
    """The text fields of ``source`` holding any of ``wanted`` (the query's words)."""
    wanted = plan.words if wanted is None else wanted
    out = []
    for field in plan.text_fields:
        value = value_at(source, field)
        values = value if isinstance(value, list) else [value]
        words: set[str] = set()
        for v in values:
            if isinstance(v, str):
                words.update(query_words(v))
        if words & set(wanted):
            out.append(field)
    return out


def _label_frames(
    source: dict[str, Any], weights: dict[str, float]
) -> tuple[Matched | None, list[Matched], list[Segment]]:
    """For a video found by its labels: the frames whose labels match, and their runs."""
    from es_visual.core.segments import merge_segments

    visual = visual_of(source)
    frames = [f for f in visual.get("frames") or [] if isinstance(f, dict)]
    if not frames:
        return None, [], []
    points = []
    children = []
    for i, frame in enumerate(frames):
        t = frame.get("t")
        score = schema.concept_score(schema.read_pairs(frame), weights)
        if score > 0 and isinstance(t, int | float):
            points.append((float(t), score))
            children.append(Matched(kind="frame", score=round(score, 6), index=i, t=float(t)))
    if not children:
        return None, [], []
    children.sort(key=lambda m: (-m.score, m.t or 0.0))
    times = [float(f["t"]) for f in frames if isinstance(f.get("t"), int | float)]
    duration = visual.get("duration")
    segments = merge_segments(
        points,
        duration=float(duration) if isinstance(duration, int | float) else None,
        times=times,
    )
    return children[0], children, segments
