"""The ``visual`` object: every field es-visual writes into a user's document, in one place.

es-visual never touches a user's own fields; everything it writes lives under one
object, ``visual``, so a document stays the user's document with our analysis beside
it. Every layer names a field through this module (``schema.MEDIA_TYPE_FIELD``, not
``"visual.media_type"``), so a field is renamed or added here and the cluster
mapping (``backends/cluster/mappings.py``), the embedded store, the DSL's built-in
names (``query/fieldmap.py``) and the front ends follow. ``docs/architecture.md``
describes the object; the records below (``VisualDoc``, ``RegionDoc``, ...) say what
each part carries and its type.

Vector targets are the four places a picture's vector lives: ``scene`` (one per
document) and the nested lists ``regions``, ``faces`` and ``frames`` (one vector per
child). Besides them, ``text_vector`` holds the meaning of the document's own text
(caption, title, ...: the field map's text fields), embedded by the offline sentence
model; a text search ranks it by kNN (``query.meaning``), as target ``text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias, TypedDict

ROOT = "visual"

# --- vector targets -----------------------------------------------------------------

VectorTarget: TypeAlias = Literal["scene", "regions", "faces", "frames"]
ChildTarget: TypeAlias = Literal["regions", "faces", "frames"]
TARGETS: tuple[VectorTarget, ...] = ("scene", "regions", "faces", "frames")
CHILD_TARGETS: tuple[ChildTarget, ...] = ("regions", "faces", "frames")
# What a kNN clause of the IR may search: a picture's targets, or the document's text
# vector (``text``: one per document, like ``scene``, in the sentence model's space).
KnnTarget: TypeAlias = Literal["scene", "regions", "faces", "frames", "text"]
TEXT_TARGET: Literal["text"] = "text"
KNN_TARGETS: tuple[KnnTarget, ...] = (*TARGETS, TEXT_TARGET)

# The targets whose vectors come from the scene embedder, and from the face embedder: a
# query vector is compared only with vectors of its own model's space.
SCENE_SPACE_TARGETS: tuple[VectorTarget, ...] = ("scene", "regions", "frames")
FACE_SPACE_TARGETS: tuple[VectorTarget, ...] = ("faces",)

# --- field paths (dotted, as the engines and the DSL's field map name them) -----------

MODEL_FIELD = "visual.model"  # "name@version" of the scene embedder that wrote the vectors
PIPELINE_FIELD = "visual.pipeline"  # the ingest preset's name
CONTENT_HASH_FIELD = "visual.content_hash"  # sha256 of the media bytes
MEDIA_TYPE_FIELD = "visual.media_type"  # "image" | "video"
WIDTH_FIELD = "visual.width"
HEIGHT_FIELD = "visual.height"
DURATION_FIELD = "visual.duration"  # seconds, videos only
INDEXED_AT_FIELD = "visual.indexed_at"  # ISO date of the last ingest
PATH_FIELD = "visual.path"  # where the media was read from: returned, never searched
FILENAME_FIELD = "visual.filename"  # the file's own name and size: the UI sorts by them
BYTES_FIELD = "visual.bytes"
FORMAT_FIELD = "visual.format"  # the decoder's format name (JPEG, PNG, mp4 ...)
ERROR_FIELD = "visual.error"  # why the last ingest failed; absent when it succeeded
# What a manifest line last set (ingest.runner): applied again only when it changes.
METADATA_HASH_FIELD = "visual.metadata_hash"
METADATA_FIELDS_FIELD = "visual.metadata_fields"
# Duplicates (es_visual.duplicates): perceptual hash and its 32x32 thumb.
PHASH_FIELD = "visual.phash"
PHASH_THUMB_FIELD = "visual.phash_thumb"
PERSONS_FIELD = "visual.persons"  # ids of the persons its faces were clustered into
# Concepts the scene model saw (es_visual.core.labels has the why of their shape).
LABELS_FIELD = "visual.labels"
LABEL_SCORES_FIELD = "visual.label_scores"
LABEL_RANK_FIELD = "visual.label_rank"
# The meaning of the document's own text (query.meaning): the sentence model's vector of
# the joined text fields; the hash of that text, the model's tag and which fields were
# joined (comma-separated, in order), so that a later run re-embeds only a text (or model,
# or field list) that changed, and a search uses only vectors of the fields it ranks.
TEXT_VECTOR_FIELD = "visual.text_vector"
TEXT_HASH_FIELD = "visual.text_hash"
TEXT_MODEL_FIELD = "visual.text_model"
TEXT_FIELDS_FIELD = "visual.text_fields"
TEXT_DIMS = 384  # all-MiniLM-L6-v2 (models.sentence)

# The vectors.
SCENE_FIELD = "visual.scene"
REGIONS_FIELD = "visual.regions"
FACES_FIELD = "visual.faces"
FRAMES_FIELD = "visual.frames"

# Fields of the children (each nested list's items).
REGION_KIND_FIELD = "visual.regions.kind"  # "object" | "face"
REGION_LABEL_FIELD = "visual.regions.label"
REGION_SCORE_FIELD = "visual.regions.score"
FRAME_T_FIELD = "visual.frames.t"
FRAME_LABELS_FIELD = "visual.frames.labels"
FRAME_LABEL_SCORES_FIELD = "visual.frames.label_scores"

# Where each nested target's children live, and the field of their vectors.
NESTED_PATHS: dict[str, str] = {
    "regions": REGIONS_FIELD,
    "faces": FACES_FIELD,
    "frames": FRAMES_FIELD,
}
VECTOR_FIELDS: dict[str, str] = {
    "scene": SCENE_FIELD,
    **{t: f"{p}.vector" for t, p in NESTED_PATHS.items()},
}
# Every kNN target's vector field: the picture's, and the text vector.
KNN_FIELDS: dict[str, str] = {**VECTOR_FIELDS, TEXT_TARGET: TEXT_VECTOR_FIELD}
# What a hit reports it matched, per target (``core.results.Matched.kind``).
MATCH_KINDS: dict[str, str] = {
    "scene": "scene",
    "regions": "region",
    "faces": "face",
    "frames": "frame",
}


def field(key: str) -> str:
    """The dotted path of ``key`` inside ``visual`` (``"t"`` of a frame: ``frames.t``)."""
    return f"{ROOT}.{key}"


def key(path: str) -> str:
    """``path`` relative to ``visual`` (``visual.media_type`` -> ``media_type``)."""
    return path[len(ROOT) + 1 :] if path.startswith(ROOT + ".") else path


def is_visual(path: str) -> bool:
    """Whether ``path`` is es-visual's (under ``visual``), not one of the user's fields."""
    return path == ROOT or path.startswith(ROOT + ".")


# --- typed records of what a document carries -----------------------------------------
# Documents are plain dicts on the wire; these say which keys the ``visual`` object and
# its children may hold, and their types. Every key is optional: a document written
# before a field existed, or by hand, lacks it, and readers take that into account.


class RegionDoc(TypedDict, total=False):
    kind: str  # "object" | "face"
    label: str
    score: float
    bbox: list[float]  # x0, y0, x1, y1 in [0, 1] of the picture
    t: float  # seconds into a video
    vector: list[float]


class FaceDoc(TypedDict, total=False):
    person: str  # the person id (es_visual.people)
    score: float
    bbox: list[float]
    t: float
    vector: list[float]  # in the face model's space (VisualSpec.face_model)


class FrameDoc(TypedDict, total=False):
    t: float
    vector: list[float]
    phash: str  # a video's duplicates are matched frame by frame
    labels: list[str]
    label_scores: list[float]


class VisualDoc(TypedDict, total=False):
    model: str
    pipeline: str
    content_hash: str
    media_type: str
    width: int
    height: int
    duration: float
    indexed_at: str
    path: str
    filename: str
    bytes: int
    format: str
    error: str
    metadata_hash: str
    metadata_fields: list[str]
    phash: str
    phash_thumb: str
    persons: list[str]
    labels: list[str]
    label_scores: list[float]
    label_rank: dict[str, float]
    scene: list[float]
    regions: list[RegionDoc]
    faces: list[FaceDoc]
    frames: list[FrameDoc]
    text_vector: list[float]
    text_hash: str
    text_model: str
    text_fields: str


def visual_of(source: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``visual`` object of a document's source; ``{}`` when it has none (a
    user's document never ingested, a hit whose source left it out)."""
    visual = (source or {}).get(ROOT)
    return visual if isinstance(visual, dict) else {}


__all__ = [
    "CHILD_TARGETS",
    "FACE_SPACE_TARGETS",
    "KNN_FIELDS",
    "KNN_TARGETS",
    "MATCH_KINDS",
    "NESTED_PATHS",
    "ROOT",
    "SCENE_SPACE_TARGETS",
    "TARGETS",
    "TEXT_TARGET",
    "VECTOR_FIELDS",
    "ChildTarget",
    "FaceDoc",
    "FrameDoc",
    "KnnTarget",
    "RegionDoc",
    "VectorTarget",
    "VisualDoc",
    "field",
    "is_visual",
    "key",
    "visual_of",
]
