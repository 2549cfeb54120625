"""What an ingest does to each asset: the configuration behind a preset.

A ``PipelineConfig`` is what ``ingest_pipelines/<name>.yaml`` turns into. The
hooks let detectors (faces, objects) add children to an image's analysis
without the image analyzer knowing about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.ingest.analyze import Analysis

# hook(analysis, full_resolution_image): may append to analysis.visual["faces"] /
# ["regions"] and queue region crops in analysis.crops.
ImageHook = Callable[["Analysis", "Image.Image"], None]


@dataclass
class PipelineConfig:
    name: str = "offline"
    model: str = "mobilenet-v2"
    max_pixels: int = 64_000_000
    # Longest side of a picture waiting for a model that has no resize of its own
    # (Embedder.prepare_image); a JPEG is decoded no smaller than this when no hook
    # (face detection) needs every pixel.
    max_side: int = 512
    image_hooks: list[ImageHook] = field(default_factory=list)
    # Settings of optional stages (video sampling, faces, objects), by stage name.
    options: dict[str, Any] = field(default_factory=dict)
