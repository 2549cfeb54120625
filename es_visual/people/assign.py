"""Faces into persons as they are ingested: an incremental nearest-neighbour vote.

For each new face, the faces already stored that are the same person by the face
model's calibrated threshold (a kNN search on ``visual.faces`` through the
backend, so every store does it alike) and the faces assigned earlier in this
run (not yet searchable on a cluster until its refresh) vote with their
similarity for their person; the face joins the person with the most votes, or
starts a new one. Two faces of one picture (or of one video frame) are never the
same person. A face that is too small to tell who it is (under ``min_side``
pixels) joins nobody: its descriptor is mostly blur, and small faces are most of
the false matches measured (docs/faces.md).

Why a vote over neighbours, not each person's centroid: persons grow in every
direction (ages, lighting, profile); a new face close to a few of a person's
faces belongs with them even when it is far from their average. Why not merge
two persons when one face is close to both: that chains look-alikes together;
merging stays a user's decision (``es-visual people merge``), or a re-clustering.

Re-ingesting an asset finds its own earlier faces (same vectors), so its persons
keep their ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from es_visual.backends.base import Backend
from es_visual.core import schema
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import EsVisualError
from es_visual.core.ir import SearchRequest, VectorQuery
from es_visual.core.vectors import l2_normalize
from es_visual.people.registry import PeopleRegistry, new_person_id

log = logging.getLogger(__name__)

NEIGHBOURS = 10  # stored faces that vote for each new face
MIN_FACE_SIDE = 40  # pixels: smaller faces are searched by likeness but join no person


@dataclass(frozen=True)
class Neighbour:
    person: str
    score: float


def choose(neighbours: Iterable[Neighbour], taken: set[str]) -> str | None:
    """The person most of the faces near a new one belong to (summed similarity, then
    the single best one), leaving out persons already in the same picture."""
    votes: dict[str, list[float]] = {}
    for n in neighbours:
        if n.person in taken:
            continue
        total = votes.setdefault(n.person, [0.0, 0.0])
        total[0] += n.score
        total[1] = max(total[1], n.score)
    if not votes:
        return None
    return max(votes.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))[0]


class PersonAssigner:
    """``assigner(updates)``: the same updates, each face given a ``person`` and each
    document ``visual.persons``; call it on every written batch, in order."""

    def __init__(
        self,
        backend: Backend,
        index: str,
        *,
        face_model: str,
        threshold: float,
        registry: PeopleRegistry | None = None,
        min_side: int = MIN_FACE_SIDE,
        new_id: Callable[[], str] = new_person_id,
    ) -> None:
        self.backend, self.index = backend, index
        self.face_model, self.threshold = face_model, threshold
        self.registry, self.min_side, self.new_id = registry, min_side, new_id
        self._vectors: list[np.ndarray] = []  # faces assigned in this run
        self._persons: list[str] = []
        self._docs: set[str] = set()
        self._canonical: dict[str, str] = {}
        self._search_ok = True

    def __call__(self, updates: Sequence[DocUpdate]) -> list[DocUpdate]:
        return [self._assign(u) for u in updates]

    def _assign(self, update: DocUpdate) -> DocUpdate:
        visual = update.doc.get(schema.ROOT)
        if not isinstance(visual, dict) or not isinstance(visual.get("faces"), list):
            return update  # a failure record: its stored faces and persons stay as they were
        faces = [dict(f) if isinstance(f, dict) else f for f in visual["faces"]]
        width, height = visual.get("width"), visual.get("height")
        taken: dict[Any, set[str]] = {}  # frame time (None for a photo) -> persons in it
        order = sorted(
            (i for i, f in enumerate(faces) if isinstance(f, dict) and f.get("vector")),
            key=lambda i: -float(faces[i].get("score") or 0.0),
        )
        for i in order:
            face = faces[i]
            face.pop("person", None)
            if not _big_enough(face.get("bbox"), width, height, self.min_side):
                continue
            vector = l2_normalize(face["vector"])
            at = taken.setdefault(face.get("t"), set())
            person = choose(self._neighbours(vector, update.id), at) or self.new_id()
            person = self._canonical_id(person)
            face["person"] = person
            at.add(person)
            self._vectors.append(vector)
            self._persons.append(person)
        self._docs.add(update.id)
        persons = sorted({f["person"] for f in faces if isinstance(f, dict) and f.get("person")})
        doc = {**update.doc, schema.ROOT: {**visual, "faces": faces, "persons": persons}}
        return DocUpdate(update.id, doc, upsert=update.upsert)

    def _neighbours(self, vector: np.ndarray, doc_id: str) -> list[Neighbour]:
        found: list[Neighbour] = []
        if self._vectors:
            scores = np.stack(self._vectors) @ vector
            for j in np.flatnonzero(scores >= self.threshold):
                found.append(Neighbour(self._persons[j], float(scores[j])))
        return found + self._stored_neighbours(vector)

    def _stored_neighbours(self, vector: np.ndarray) -> list[Neighbour]:
        if not self._search_ok:
            return []
        request = SearchRequest(
            index=self.index,
            vector=VectorQuery(
                vector=tuple(float(x) for x in vector),
                target="faces",
                k=NEIGHBOURS,
                num_candidates=max(100, 10 * NEIGHBOURS),
                min_similarity=self.threshold,
                model=self.face_model,
            ),
            size=NEIGHBOURS,
            fields=(schema.FACES_FIELD,),
        )
        try:
            result = self.backend.search(request)
        except EsVisualError as exc:
            # An index whose faces cannot be searched yet (a new cluster index before its
            # first refresh, say): persons form from this run's faces alone.
            log.warning("person clustering sees only this run's faces: %s", exc)
            self._search_ok = False
            return []
        out: list[Neighbour] = []
        for hit in result.hits:
            if hit.id in self._docs:
                continue  # already counted from this run's own faces
            stored = schema.visual_of(hit.source).get("faces") or []
            for child in hit.children:
                if child.index is None or not 0 <= child.index < len(stored):
                    continue
                person = (
                    stored[child.index].get("person")
                    if isinstance(stored[child.index], dict)
                    else None
                )
                if isinstance(person, str) and child.score >= self.threshold:
                    out.append(Neighbour(self._canonical_id(person), child.score))
        return out

    def _canonical_id(self, person: str) -> str:
        if self.registry is None:
            return person
        if person not in self._canonical:
            self._canonical[person] = self.registry.canonical(self.index, person)
        return self._canonical[person]


def _big_enough(bbox: Any, width: Any, height: Any, min_side: int) -> bool:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return False
    if not isinstance(width, int | float) or not isinstance(height, int | float):
        return True  # size unknown: let it join
    x0, y0, x1, y1 = (float(v) for v in bbox)
    return max((x1 - x0) * width, (y1 - y0) * height) >= min_side
