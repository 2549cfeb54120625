"""Concept labels on a document (`visual.labels`): their shape, reading and merging.

What a document carries (written by ingest, or by ``es-visual labels --backfill``
from the vectors already stored)::

    visual.labels         keyword[]  concept names, best first ("tabby", "tiger cat")
    visual.label_scores   float[]    the probability of each, same order (not indexed)
    visual.frames[i].labels / .label_scores   the same for each sampled video frame

For a video, ``visual.labels`` is every frame's labels merged (each concept at its
best frame's score), so ``labels:tabby`` finds a video with a cat anywhere in it,
and the frames say where.

Why flat lists and not a nested ``{name, score}`` object: a keyword list is
filtered (``labels:tabby``) and aggregated by every backend as it is, with no
nested query (the embedded store's filters do not reach into lists of objects,
and a cluster's would need a ``nested`` wrapper); lists are replaced whole by a
partial update, so a re-ingest never leaves a stale label behind (an object keyed
by label, such as ``rank_features``, would merge old keys with new). The scores
are read from the source to rank and to explain; they are never filtered on.

For the clusters to rank by labels themselves, the cluster backends also write
``visual.label_rank``, a ``rank_features`` field derived from the two lists on every
write (``rank_features``): a list of one-key objects ``{label: probability}``, so that a
partial update replaces it whole like the lists (an object would merge old keys with
new). A ``rank_feature`` query with the ``linear`` function scores a document by the
probability as Lucene stores it, 9 significant bits (``feature_value``), so every
backend scores ``concept_score`` with those stored values and ranks alike.

``MAPPINGS`` is exactly what the ``visual`` mapping of an Elasticsearch or
OpenSearch index gains (the same for both engines).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from es_visual.core.schema import FRAME_LABELS_FIELD as FRAME_LABELS_FIELD
from es_visual.core.schema import LABEL_RANK_FIELD as LABEL_RANK_FIELD
from es_visual.core.schema import LABEL_SCORES_FIELD as LABEL_SCORES_FIELD
from es_visual.core.schema import LABELS_FIELD as LABELS_FIELD
from es_visual.core.schema import key

# The paths are the schema's (es_visual.core.schema); the keys are what a ``visual``
# object and each of its frames hold.
SCORES_FIELD = LABEL_SCORES_FIELD
RANK_FIELD = LABEL_RANK_FIELD
LABELS = key(LABELS_FIELD)
SCORES = key(SCORES_FIELD)
RANK = key(RANK_FIELD)

# How many labels a picture or frame keeps, and the least probability worth keeping:
# a confident picture keeps 1-3, an ambiguous one up to TOP_K alternatives. Unlikely
# labels still rank a text search (weight x probability): what ImageNet has no class
# for is often "nearly" one of its classes (12 / 0.005 over 8 / 0.02: search-by-text
# recall@3 0.844 -> 0.858 on the tuning set of benchmarks/text_search.py).
TOP_K = 12
MIN_SCORE = 0.005

# What the ``visual`` mapping gains, on Elasticsearch and OpenSearch alike.
_KEYWORD = {"type": "keyword"}
_SCORES = {"type": "float", "index": False}
# The tone concepts read off the pixels at ingest (models.tone_concepts), kept apart so a
# backfill from vectors can put them back among the labels: never searched, only read.
TONE = "tone"
_STORED = {"type": "object", "enabled": False}
MAPPINGS: dict[str, Any] = {
    LABELS: _KEYWORD,
    SCORES: _SCORES,
    RANK: {"type": "rank_features"},
    TONE: _STORED,
    "frames": {
        "type": "nested",
        "properties": {LABELS: _KEYWORD, SCORES: _SCORES, TONE: _STORED},
    },
}

Pairs = list[tuple[str, float]]


def tone_field(pairs: Sequence[tuple[str, float]]) -> dict[str, list[Any]]:
    """The ``tone`` object of a ``visual`` object or a frame."""
    return {"names": [n for n, _ in pairs], "scores": [float(s) for _, s in pairs]}


def read_tone(obj: Mapping[str, Any] | None) -> Pairs:
    """The tone pairs stored in a ``visual`` object or frame (``tone_field``)."""
    tone = obj.get(TONE) if isinstance(obj, Mapping) else None
    if not isinstance(tone, Mapping):
        return []
    names, scores = tone.get("names"), tone.get("scores")
    if not isinstance(names, list) or not isinstance(scores, list):
        return []
    return [
        (n, float(s))
        for n, s in zip(names, scores, strict=False)
        if isinstance(n, str) and isinstance(s, int | float)
    ]


def label_fields(pairs: Sequence[tuple[str, float]]) -> dict[str, list[Any]]:
    """``{"labels": [...], "label_scores": [...]}`` for a ``visual`` object or a frame."""
    return {LABELS: [name for name, _ in pairs], SCORES: [float(s) for _, s in pairs]}


def feature_name(label: str) -> str:
    """A label as a feature of ``visual.label_rank``: a dot would split the query's field
    path (``visual.label_rank.<feature>``), so dots (and the escape) are escaped."""
    return label.replace("%", "%25").replace(".", "%2E")


def feature_value(score: float) -> float:
    """``score`` as a ``rank_features`` field stores it: a float32 keeping its top 17
    bits (Lucene ``FeatureField``: 9 significant bits, truncated)."""
    if not score > 0.0:
        return 0.0
    (bits,) = struct.unpack("<I", struct.pack("<f", min(float(score), 3.0e38)))
    (value,) = struct.unpack("<f", struct.pack("<I", (bits >> 15) << 15))
    return float(value)


def rank_features(pairs: Sequence[tuple[str, float]]) -> list[dict[str, float]]:
    """The ``visual.label_rank`` value for a document's labels (positive scores only:
    Lucene refuses a feature of 0)."""
    out: dict[str, float] = {}
    for name, score in pairs:
        if feature_value(score) > 0.0:
            key = feature_name(name)
            out[key] = max(out.get(key, 0.0), float(score))
    return [{k: v} for k, v in out.items()]


def read_pairs(obj: Mapping[str, Any] | None) -> Pairs:
    """The (name, score) pairs of a ``visual`` object or frame; tolerant of a missing or
    shorter scores list (a document written by hand): a label without a score counts 1."""
    if not isinstance(obj, Mapping):
        return []
    names = obj.get(LABELS)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        return []
    scores = obj.get(SCORES)
    scores = scores if isinstance(scores, list) else []
    out: Pairs = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        score = scores[i] if i < len(scores) else 1.0
        out.append((name, float(score) if isinstance(score, int | float) else 1.0))
    return out


def merge_pairs(groups: Iterable[Sequence[tuple[str, float]]], *, k: int = TOP_K) -> Pairs:
    """Several frames' labels as one list: each name at its best score, best ``k`` first
    (ties by name, so the result never depends on the order of the frames)."""
    best: dict[str, float] = {}
    for pairs in groups:
        for name, score in pairs:
            if score > best.get(name, -1.0):
                best[name] = score
    return sorted(best.items(), key=lambda p: (-p[1], p[0]))[:k]


def concept_score(pairs: Sequence[tuple[str, float]], weights: Mapping[str, float]) -> float:
    """How strongly labelled pairs match a query's weighted concepts: the sum of
    weight x probability over the concepts they share (one definition for every
    backend, so each ranks the same: the probability as a cluster stores it,
    ``feature_value``). A label listed twice counts once, at its best."""
    best: dict[str, float] = {}
    for name, score in pairs:
        if name in weights:
            best[name] = max(best.get(name, 0.0), feature_value(score))
    return float(sum(weights[name] * value for name, value in best.items()))
