"""Stage 1 of ingest: turn one asset's file into an ``Analysis``.

An analysis holds every ``visual`` field that does not need the scene model
(media type, size, hash, faces with their own vectors, region boxes, frame
times) plus the pictures the scene model still has to embed, each tagged with
the slot its vector goes into. Keeping the model out of this stage lets the
runner decode many assets in threads while the model works on whole batches.

Analyzers for other media types register in ``ANALYZERS`` by media type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from es_visual.core.errors import MediaError
from es_visual.ingest.sources import Asset

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.ingest.pipeline import PipelineConfig

# ("scene",) or (child list, index): ("regions", 3), ("frames", 0).
Slot = tuple[str] | tuple[str, int]


@dataclass
class Analysis:
    asset: Asset
    visual: dict[str, Any]
    crops: list[tuple[Slot, Image.Image]] = field(default_factory=list)
    # What a step left out on purpose (the item is still written): the report lists them.
    notes: list[str] = field(default_factory=list)
    # The tone concepts (models.tone_concepts) of the scene and of each frame, read off
    # the pictures as they are embedded; ingest.labels writes them with the labels.
    tones: dict[Slot, list[tuple[str, float]]] = field(default_factory=dict)

    def place(self, slot: Slot, vector: list[float]) -> None:
        """Put an embedded vector where ``slot`` says."""
        if slot == ("scene",):
            self.visual["scene"] = vector
        else:
            name, index = slot  # type: ignore[misc]
            self.visual[name][index]["vector"] = vector


Analyzer = Callable[[Asset, "PipelineConfig", dict[str, Any]], Analysis]
ANALYZERS: dict[str, Analyzer] = {}


def register(media_type: str) -> Callable[[Analyzer], Analyzer]:
    def wrap(fn: Analyzer) -> Analyzer:
        ANALYZERS[media_type] = fn
        return fn

    return wrap


def analyze(asset: Asset, config: PipelineConfig, base: dict[str, Any]) -> Analysis:
    """``base`` holds the fields already known (content_hash, path, model...)."""
    from es_visual.ingest.sources import VIDEO_EXTENSIONS
    from es_visual.media.image import sniff_media_type
    from es_visual.media.sniff import describe_unknown, probe_media_type

    media_type = sniff_media_type(asset.path)
    if media_type is None:
        # Formats without a signature above: ask the decoders (PyAV only for a file named
        # as a video: FFmpeg also "reads" subtitles and playlists, by name).
        video_too = asset.path.suffix.lower() in VIDEO_EXTENSIONS
        media_type = probe_media_type(asset.path, video_too=video_too)
    if media_type is None:
        with open(asset.path, "rb") as fh:
            head = fh.read(512)
        raise MediaError(describe_unknown(head), path=str(asset.path))
    analyzer = ANALYZERS.get(media_type)
    if analyzer is None:
        raise MediaError(f"{media_type} files are not supported yet", path=str(asset.path))
    return analyzer(asset, config, base)


@register("image")
def analyze_image(asset: Asset, config: PipelineConfig, base: dict[str, Any]) -> Analysis:
    from es_visual.media.image import open_image

    # Hooks (face detection) want every pixel; the scene alone only needs max_side.
    draft = None if config.image_hooks else config.max_side
    loaded = open_image(asset.path, max_pixels=config.max_pixels, max_side=draft)
    image = loaded.image
    visual = {**base, "media_type": "image", "width": loaded.width, "height": loaded.height}
    visual.update(duplicate_fields(image, loaded.format))
    analysis = Analysis(asset=asset, visual=visual)
    # Queued as decoded: the runner fits every crop for the model right after analysis
    # (runner.fit_for_model), in one resize instead of a shrink here and another there.
    analysis.crops.append((("scene",), image))
    for hook in config.image_hooks:
        hook(analysis, image)
    return analysis


def duplicate_fields(image: Image.Image, fmt: str | None) -> dict[str, Any]:
    """What `es-visual dups` compares and ranks a picture by: its perceptual prints
    (phash, phash_thumb) and its file format, as Pillow names it."""
    from es_visual.media.phash import picture_print

    fields: dict[str, Any] = picture_print(image).to_visual()
    if fmt:
        fields["format"] = fmt.lower()
    return fields


# Analyzers of other media types register themselves on import.
from es_visual.ingest import analyze_video  # noqa: E402, F401
