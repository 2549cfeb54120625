"""Cut a region out of a picture by a normalized box, and make thumbnails."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image

from es_visual.core.errors import MediaError

# Boxes come from detectors and browsers as floats; 1.0000001 or -1e-9 is
# rounding, not a mistake, and is clamped. Anything further out is refused.
_SLACK = 1e-3


def crop_normalized(image: Image.Image, bbox: Sequence[float]) -> Image.Image:
    """The part of ``image`` inside ``bbox = (x0, y0, x1, y1)``, each in [0, 1].

    The box is widened to whole pixels (never to nothing: at least 1x1).
    Raises ``MediaError`` for a box that is malformed, outside the image or empty.
    """
    x0, y0, x1, y1 = validate_bbox(bbox)
    width, height = image.size
    left = min(math.floor(x0 * width), width - 1)
    top = min(math.floor(y0 * height), height - 1)
    right = max(math.ceil(x1 * width), left + 1)
    bottom = max(math.ceil(y1 * height), top + 1)
    return image.crop((left, top, right, bottom))


def validate_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """``bbox`` as four floats in [0, 1] with x0 < x1 and y0 < y1, or ``MediaError``."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError) as exc:
        raise MediaError(f"a box must be four numbers (x0, y0, x1, y1), got {bbox!r}") from exc
    if len(values) != 4:
        raise MediaError(f"a box must be four numbers (x0, y0, x1, y1), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise MediaError(f"a box must be finite numbers, got {tuple(values)}")
    for v in values:
        if v < -_SLACK or v > 1 + _SLACK:
            raise MediaError(
                f"box {tuple(values)} is outside the image: coordinates are fractions "
                "of the width and height, between 0 and 1"
            )
    x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in values)
    if x1 <= x0 or y1 <= y0:
        raise MediaError(
            f"box {tuple(values)} is empty: it needs x0 < x1 and y0 < y1 (x0, y0 is the "
            "top-left corner)"
        )
    return x0, y0, x1, y1


def thumbnail(image: Image.Image, max_side: int) -> Image.Image:
    """A copy whose longer side is at most ``max_side`` pixels; never enlarged."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    copy = image.copy()
    # reducing_gap: a cheap box reduction first, then a proper resample; sharp and fast.
    copy.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return copy
