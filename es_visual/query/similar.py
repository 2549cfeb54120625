"""What ``Search.similar_to`` was given, before it is resolved to a vector.

One frozen dataclass per kind of query, so that each carries exactly its own
fields and ``query.execute`` resolves them with one exhaustive ``match`` (a kind
added here and forgotten there is a type error). ``kind`` names the kind in
messages and as the text search's ranking name; ``default_target`` is what it
compares when ``on(...)`` is not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, TypeAlias

from es_visual.core import schema

if TYPE_CHECKING:
    from PIL import Image

# A vector target (es_visual.core.schema.TARGETS), or "any": each the index holds.
OnTarget: TypeAlias = schema.VectorTarget | Literal["any"]
SimilarKind: TypeAlias = Literal["image", "text", "vector", "asset", "region", "face"]
BBox: TypeAlias = tuple[float, float, float, float]
# A query picture: a file, its bytes, or a decoded picture.
ImageSource: TypeAlias = "Path | bytes | Image.Image"


@dataclass(frozen=True)
class ByImage:
    """A picture; on faces, ``face`` picks which of its faces (None: the only one)."""

    image: ImageSource
    face: int | None = None
    kind: ClassVar[Literal["image"]] = "image"
    default_target: ClassVar[OnTarget] = "scene"


@dataclass(frozen=True)
class ByText:
    """Words, embedded by the index's model (a CLIP text tower)."""

    text: str
    kind: ClassVar[Literal["text"]] = "text"
    default_target: ClassVar[OnTarget] = "scene"


@dataclass(frozen=True)
class ByVector:
    """A vector already made, in the space of the target it searches."""

    vector: tuple[float, ...]
    kind: ClassVar[Literal["vector"]] = "vector"
    default_target: ClassVar[OnTarget] = "scene"


@dataclass(frozen=True)
class ByAsset:
    """A stored asset's scene vector ("find similar"); the asset is left out of its hits."""

    asset: str
    kind: ClassVar[Literal["asset"]] = "asset"
    default_target: ClassVar[OnTarget] = "scene"


@dataclass(frozen=True)
class ByRegion:
    """A normalized box of a stored asset: its stored region's vector, or its crop's."""

    asset: str
    bbox: BBox
    kind: ClassVar[Literal["region"]] = "region"
    # A crop may match a whole picture, a detected region or a video frame alike, and
    # an index ingested without a detector has no regions at all: search them all.
    default_target: ClassVar[OnTarget] = "any"


@dataclass(frozen=True)
class ByFace:
    """Face number ``face`` of a stored asset."""

    asset: str
    face: int
    kind: ClassVar[Literal["face"]] = "face"
    default_target: ClassVar[OnTarget] = "faces"


SimilarTo: TypeAlias = ByImage | ByText | ByVector | ByAsset | ByRegion | ByFace

__all__ = [
    "BBox",
    "ByAsset",
    "ByFace",
    "ByImage",
    "ByRegion",
    "ByText",
    "ByVector",
    "ImageSource",
    "OnTarget",
    "SimilarKind",
    "SimilarTo",
]
