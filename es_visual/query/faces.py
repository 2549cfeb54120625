"""Faces in searches: the same-person rule, and searching faces by a photo.

Every face search runs through here, whichever backend answers it:

* **Threshold.** A face model has a calibrated cosine at and above which two faces
  are the same person (``models.faces.SAME_PERSON``; benchmarks/face_calibration.py).
  A face search with no ``min_score`` uses it, so by default a user sees that
  person and not look-alikes; a lower ``min_score`` widens the search to similar
  faces.
* **Labels.** Every matched face says ``same_person`` (True at or above the
  threshold, False below: "similar") and which ``person`` it was clustered into.
* **By a photo.** ``similar_to(image=...)`` on faces detects the faces of the
  picture (with the index's face model): one is searched directly; several need
  ``query_face(n)`` (``AmbiguousFaceError`` lists them); none is ``NoFaceError``.
  Detection is cached by the picture's pixels, so a UI that draws the query's
  boxes and then searches by one of them detects once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from es_visual.core import schema
from es_visual.core.errors import AmbiguousFaceError, ModelMismatchError, NoFaceError, QueryError
from es_visual.core.results import Hit, Matched, SearchResult
from es_visual.core.segments import video_segments

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.models.faces import Face

_CACHE_SIZE = 16  # query pictures whose faces are remembered (a few users' uploads)
_cache: OrderedDict[tuple[str, str], list[Face]] = OrderedDict()
_cache_lock = threading.Lock()


def same_person_threshold(face_model: str | None) -> float | None:
    """The calibrated same-person cosine of a face model tag, None when unknown."""
    from es_visual.models.faces import same_person_threshold as threshold

    return threshold(face_model)


def query_faces(image: Image.Image, face_model: str | None) -> list[Face]:
    """The faces in a query picture, most confident first, found by the face model the
    index was built with (``face_model`` is its ``name@version``)."""
    from es_visual.models.faces import get_face_model

    model = get_face_model()
    if face_model is not None and model.tag != face_model:
        raise ModelMismatchError(
            f"the index's faces were made by {face_model}; this installation's face model is "
            f"{model.tag}: a face search by a picture needs the index's face model"
        )
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    key = (model.tag, hashlib.sha256(rgb.tobytes() + repr(rgb.size).encode()).hexdigest())
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return list(_cache[key])
    found = model.detect(rgb)
    with _cache_lock:
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return list(found)


def describe(faces: Sequence[Face]) -> list[dict[str, Any]]:
    """The faces as plain dicts (index, bbox, score), for errors, the UI and the API."""
    return [
        {"index": i, "bbox": [round(v, 4) for v in f.bbox], "score": round(f.score, 3)}
        for i, f in enumerate(faces)
    ]


def pick(faces: Sequence[Face], choice: int | None) -> Face:
    """The face to search by: the only one, or ``choice``; else a clear error."""
    if not faces:
        raise NoFaceError(
            "no face was found in the picture: use a photo where a face is clearly visible "
            "(at least ~40 pixels across), or search the whole picture instead of faces"
        )
    if choice is None:
        if len(faces) > 1:
            raise AmbiguousFaceError(describe(faces))
        return faces[0]
    if not 0 <= choice < len(faces):
        raise QueryError(
            f"the picture has {len(faces)} face(s), numbered 0 to {len(faces) - 1}; "
            f"there is no face #{choice}"
        )
    return faces[choice]


def annotate(result: SearchResult, threshold: float | None) -> SearchResult:
    """Face hits labelled same person / similar and with their person; a video's hit
    gets timeline segments from its faces' times when the backend gave none."""
    hits = tuple(_annotate_hit(h, threshold) for h in result.hits)
    return replace(result, hits=hits)


def _annotate_hit(hit: Hit, threshold: float | None) -> Hit:
    visual = schema.visual_of(hit.source)
    stored = visual.get("faces") or []
    children = tuple(_label(c, threshold, stored) for c in hit.children)
    matched = _label(hit.matched, threshold, stored) if hit.matched is not None else None
    segments = hit.segments
    if not segments and visual.get("media_type") == "video":
        # A backend that leaves a face hit's segments out: the same bars, from its faces.
        segments = tuple(video_segments([(c.t, c.score) for c in children], threshold, visual))
    return replace(hit, matched=matched, children=children, segments=segments)


def _label(m: Matched, threshold: float | None, stored: Sequence[Any]) -> Matched:
    if m.kind != "face":
        return m
    person = None
    if m.index is not None and 0 <= m.index < len(stored) and isinstance(stored[m.index], Mapping):
        value = stored[m.index].get("person")
        person = value if isinstance(value, str) else None
    same = None if threshold is None else m.score >= threshold
    return replace(m, same_person=same, person=person)
