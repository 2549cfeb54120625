"""Which vector targets a preset fills, and what to say when a search finds a target empty.

A search ``--on regions`` over an index ingested with the default preset compares
nothing: that preset stores no region vectors. ``empty_target_note`` says so, and
names the presets that would add them (read from the preset files, so a user's own
preset that detects objects is named too). ``vector_origins`` tells ``stats`` which
presets made the vectors an index holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from es_visual.core import schema
from es_visual.core.errors import ConfigError

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.config import Settings

TARGETS = schema.TARGETS
# What each target holds, in a user's words.
WHAT: dict[str, str] = {
    "scene": "scene vectors (whole pictures)",
    "regions": "region vectors (detected objects, or faces kept as regions)",
    "faces": "face vectors",
    "frames": "video frame vectors",
}


def targets_of(preset: dict[str, Any]) -> set[str]:
    """The targets a validated preset (``presets.read_preset``) writes vectors to. Frames
    come from videos under any preset."""
    out = {"scene", "frames"}
    faces = preset.get("faces") or {}
    objects = preset.get("objects") or {}
    if faces.get("enabled"):
        out.add("faces")
    if objects.get("enabled") or (faces.get("enabled") and faces.get("as_regions")):
        out.add("regions")
    return out


def presets_adding(target: str, settings: Settings | None = None) -> list[str]:
    """The names of the presets found (``presets.list_presets``) that write ``target``;
    a preset file that does not read is left out."""
    from es_visual.ingest.presets import list_presets, read_preset

    names = []
    for name, path in sorted(list_presets(settings).items()):
        try:
            preset = read_preset(path)
        except ConfigError:
            continue
        if target in targets_of(preset):
            names.append(name)
    return names


def empty_target_note(
    backend: Backend, index: str, target: str, settings: Settings | None = None
) -> str | None:
    """Why a search on ``target`` of ``index`` can find nothing, when the index holds no
    vectors of it (None when it holds some, or the target is not a vector target)."""
    if target not in WHAT:
        return None
    counts = backend.stats(index).vectors
    if counts.get(target, 0) > 0:
        return None
    if target == "frames":
        return f"index {index!r} holds no {WHAT[target]}: no video has been ingested into it"
    message = f"index {index!r} holds no {WHAT[target]}"
    names = presets_adding(target, settings)
    if "objects" in names:  # the offline one first: `full` needs a CLIP checkpoint
        names = ["objects", *(n for n in names if n != "objects")]
    if names:
        message += (
            f"; ingest with a preset that adds them ({', '.join(names)}): "
            f"`es-visual ingest --pipeline {names[0]} ...`"
        )
        if target == "regions":
            message += " (object detection needs the detect extra and YOLO weights)"
    return message


@runtime_checkable
class VectorOrigins(Protocol):
    """A store that counts, per target, the documents holding its vectors by pipeline in
    one read (the embedded store: its vectors live apart from the documents)."""

    def vector_origins(self, index: str) -> dict[str, dict[str, int]]: ...


# A child field every child of the target has once written (what a cluster can ask
# ``exists`` of); the scene is the vector field itself.
_PRESENT = schema.VECTOR_FIELDS


def vector_origins(
    backend: Backend, index: str, counts: dict[str, int] | None = None
) -> dict[str, dict[str, int]]:
    """Target -> pipeline (``visual.pipeline``, the preset's name) -> documents holding
    vectors of that target. On a cluster: one terms aggregation per target over the
    documents where that vector field exists (``nested`` for the children), for the
    targets that ``counts`` (``IndexStats.vectors``; read when not given) says hold some:
    a nested query on a path the mapping lacks is an error there."""
    if isinstance(backend, VectorOrigins):
        return backend.vector_origins(index)
    from es_visual.core import ir

    if counts is None:
        counts = backend.stats(index).vectors
    out: dict[str, dict[str, int]] = {}
    for target, field in _PRESENT.items():
        if not counts.get(target):
            continue
        request = ir.SearchRequest(
            index=index, filter=ir.Exists(field), size=1, aggregations=(schema.PIPELINE_FIELD,),
            aggregation_size=100,
        )  # fmt: skip
        buckets = backend.search(request).aggregations.get(schema.PIPELINE_FIELD) or []
        if buckets:
            out[target] = {str(k): int(n) for k, n in buckets}
    return out


__all__ = [
    "TARGETS",
    "WHAT",
    "VectorOrigins",
    "empty_target_note",
    "presets_adding",
    "targets_of",
    "vector_origins",
]
