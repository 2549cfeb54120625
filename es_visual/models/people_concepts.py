"""Concepts the faces give (``person``, ``people``, ``couple``, ``portrait``): ImageNet has none.

ImageNet-1k has no class for a person (its only people are a groom, a scuba diver and a
ballplayer), yet people are what most photos show and what users most often type ("a
group of people", "someone at a computer", "kids at the beach"). The ingest already
finds the faces (``visual.faces``: the detector's score and box of each), and they say
it plainly, so a picture or video frame with faces gets these labels beside the scene
model's, in the same ``visual.labels`` with a probability-like score:

* ``person``: at least one face; the best face's detector score.
* ``couple``: exactly two faces; their mean score.
* ``people``: a group, three faces or more; their mean score. The two never overlap: a
  document ranks by the sum over the concepts it shares with the query, and a couple
  also labelled ``people`` would outrank every group for "people walking".
* ``portrait``: one or two faces, the largest filling the picture; its score times a
  ramp from ``PORTRAIT_SIDE`` (0) to ``PORTRAIT_SIDE + PORTRAIT_RAMP`` (1) of the face
  box's side (the square root of its area, as a share of the picture).

A query is matched to them (``models.concepts``) as to an ImageNet class, by WordNet's
lemmas and definition, and also by the everyday words for people in a photo ("friends",
"kids", "selfie"), each on its own; ``person`` and ``people`` sit under WordNet's kind
person.n.01, so "someone" reaches them; and a face concept counts ``WEIGHT`` of a scene
label in a ranking (see there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from es_visual.models.vocabulary import Vocabulary

PERSON, PEOPLE, COUPLE, PORTRAIT = "person", "people", "couple", "portrait"
# (name, lemmas, definition), the name first among the lemmas as a vocabulary's are.
_CONCEPTS = (
    (PERSON, "person, individual, someone, somebody, human", "a human being"),
    (
        PEOPLE,
        "people, group of people",
        "any group of human beings (men or women or children) collectively",
    ),
    (COUPLE, "couple, pair, two people", "two people who are together"),
    (PORTRAIT, "portrait, portrait photograph", "a photograph of a person's face"),
)
# The everyday words for them, each matched on its own (``ConceptMatcher(aliases=)``):
# folded into the lemmas they would blur the concept's vector until no word is near it.
ALIASES: dict[str, tuple[str, ...]] = {
    PERSON: ("man", "woman", "child", "boy", "girl", "baby", "face"),
    PEOPLE: ("crowd", "friends", "family", "kids", "team", "guests", "group photo"),
    COUPLE: ("husband and wife", "mother and daughter", "father and son"),
    PORTRAIT: ("selfie", "headshot", "close-up of a face", "profile picture"),
}
# What a face concept the query names counts for, against a scene label's 1. A face is
# found with near certainty (scores about 0.9) where the scene model spreads its
# probability over a thousand classes (a computer in a cluttered room: 0.09), so at full
# weight "someone at a computer" would rank every photo of people above the computer. At
# 0.1 a scene label the query names outweighs the faces from a probability of about 0.1
# up: people are in most photos, so the other things a query names decide and the faces
# refine; a query about people alone ("a group of people") is ranked by the faces.
WEIGHT = 0.1
# The WordNet kind each is a member of, as an ImageNet class is of the kinds above it
# (``models.hierarchy``): "someone", "a human" name the kind person.n.01, which then
# stands for the face concepts as for the groom and the scuba diver.
KIND_OF = {PERSON: "n00007846", PEOPLE: "n00007846", COUPLE: "n00007846"}
# Faces that make a group (``people``); two are a ``couple``.
GROUP_FACES = 3
# The face side (sqrt of its box's area share) where a portrait starts, and the span to
# full: a face a tenth of the picture's side is a snapshot, a quarter a portrait.
PORTRAIT_SIDE = 0.1
PORTRAIT_RAMP = 0.15


def people_vocabulary() -> Vocabulary:
    """The face concepts as a vocabulary."""
    return Vocabulary.of("faces", _CONCEPTS)


def face_labels(faces: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """The face concepts of one picture or frame, from its faces (each with ``score`` and
    ``bbox`` in [0, 1]), best first, rounded to three decimals like the scene labels."""
    scores: list[float] = []
    sides: list[float] = []
    for face in faces:
        score = face.get("score")
        if not isinstance(score, int | float) or not score > 0:
            continue
        scores.append(min(float(score), 1.0))
        sides.append(_side(face.get("bbox")))
    if not scores:
        return []
    pairs = [(PERSON, max(scores))]
    n = len(scores)
    if n >= GROUP_FACES:
        pairs.append((PEOPLE, sum(scores) / n))
    elif n == 2:
        pairs.append((COUPLE, sum(scores) / 2))
    if n <= 2:
        best = max(range(n), key=lambda i: sides[i])
        ramp = (sides[best] - PORTRAIT_SIDE) / PORTRAIT_RAMP
        pairs.append((PORTRAIT, scores[best] * max(0.0, min(1.0, ramp))))
    out = [(name, round(score, 3)) for name, score in pairs if round(score, 3) > 0]
    return sorted(out, key=lambda p: (-p[1], p[0]))


def _side(bbox: Any) -> float:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return 0.0
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return 0.0
    return math.sqrt(max(0.0, x1 - x0) * max(0.0, y1 - y0))
