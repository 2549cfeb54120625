"""Open an image safely: one RGB picture, the right way up, or a ``MediaError`` saying why not.

Everything a user's folder can hold goes through here: phone photos with EXIF
rotation, CMYK JPEGs from print workflows, 16-bit scans, palette PNGs with
transparency, animated GIFs, multipage TIFFs, truncated uploads, text files
named ``.jpg`` and decompression bombs. Pillow's own exceptions never escape.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from es_visual.core.errors import MediaError
from es_visual.media.crops import crop_normalized, thumbnail
from es_visual.media.hashing import content_hash
from es_visual.media.sniff import describe_unknown, read_head, sniff_bytes, sniff_media_type

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LoadedImage",
    "content_hash",
    "crop_normalized",
    "open_image",
    "sniff_media_type",
    "thumbnail",
    "to_rgb",
]

# 64 MP: larger than any camera or phone photo (a 61 MP full-frame sensor fits), far
# below what a bomb claims. Decoding one RGB image of this size takes ~190 MB.
DEFAULT_MAX_PIXELS = 64_000_000

_WHITE = (255, 255, 255)

# Pillow only warns between its own limit (~89 MP) and twice that. Every such picture is
# over ours too: as an error, open_image turns it into the same clear per-item message
# instead of a Python warning on the console.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded picture: ``image`` is RGB, upright; ``width``/``height`` are its size."""

    image: Image.Image
    width: int
    height: int
    format: str | None
    n_frames: int = 1


def open_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
) -> LoadedImage:
    """Decode the first frame of an image file or buffer into an upright RGB picture.

    The pixel count is checked from the header before anything is decoded;
    over ``max_pixels`` is refused. Raises ``MediaError`` (with a reason a user
    can act on) for anything that is not a complete, readable image.

    ``max_side``: the caller will shrink the picture to this long side anyway, so a
    JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, several
    times cheaper than decoding in full and then resizing) as long as its long side
    stays >= ``max_side``. ``width``/``height`` still give the full size.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    label = None if isinstance(source, bytes | bytearray | memoryview) else str(source)
    head = read_head(source, 200)
    if not head:
        raise MediaError("the file is empty (0 bytes)", path=label)
    kind = sniff_bytes(head)
    if kind == "video":
        raise MediaError("this is a video, not an image", path=label)

    _allow_in_pillow(max_pixels)
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    try:
        with Image.open(fp) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise MediaError(_too_large(width, height, max_pixels), path=label)
            if max_side and im.format == "JPEG" and max(width, height) >= 2 * max_side:
                shrink = max_side / max(width, height)
                im.draft(None, (math.ceil(width * shrink), math.ceil(height * shrink)))
            im.load()
            n_frames = _frame_count(im)
            upright = _upright(im)
            rgb = to_rgb(upright)
            if rgb is im:
                rgb = im.copy()  # closing the file below would destroy im's pixels
            fmt = im.format
            if upright.size == im.size[::-1] != im.size:  # EXIF rotated by 90 degrees
                width, height = height, width
    except MediaError:
        raise
    except UnidentifiedImageError as exc:
        reason = describe_unknown(head) if kind is None else _unsupported(head)
        raise MediaError(reason, path=label) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own net (its limit is never below ours) caught it inside Image.open.
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f" ({int(claimed.group(1)) / 1e6:.1f} megapixels)" if claimed else ""
        raise MediaError(
            f"the image is too large{size}, over the limit of {max_pixels / 1e6:.1f} "
            "megapixels (max_pixels); this protects against decompression bombs",
            path=label,
        ) from exc
    except MemoryError as exc:
        raise MediaError("not enough memory to decode this image", path=label) from exc
    except FileNotFoundError as exc:
        raise MediaError("the file does not exist", path=label) from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error...
        raise MediaError(_decode_failure(exc), path=label) from exc
    return LoadedImage(image=rgb, width=width, height=height, format=fmt, n_frames=n_frames)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparency is composited on white.

    16-bit and 32-bit integer pictures are scaled down (not clipped), so a
    16-bit scan looks like itself instead of a white sheet.
    """
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        # A palette with a transparent index must become RGBA first or that colour shows.
        palette = getattr(image, "palette", None)
        if "transparency" not in image.info and getattr(palette, "mode", "RGB") != "RGBA":
            return image.convert("RGB")
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("PA", "LA", "La", "RGBa"):
        image, mode = image.convert("RGBA"), "RGBA"
    if mode == "RGBA":
        background = Image.new("RGB", image.size, _WHITE)
        background.paste(image, mask=image.getchannel("A"))
        return background
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_scale_to_uint8(image)).convert("RGB")
    return image.convert("RGB")  # 1, L, CMYK, YCbCr, RGBX, HSV; LAB raises -> MediaError


def _scale_to_uint8(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I;16"):
        data = np.asarray(image).astype(np.float32)
        return np.clip(np.rint(data / 257.0), 0, 255).astype(np.uint8)
    data = np.asarray(image.convert("F") if image.mode != "F" else image, dtype=np.float64)
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 0.0
    low = float(finite.min()) if finite.size else 0.0
    if image.mode == "F" and low >= 0.0 and top <= 1.0:
        scaled = data * 255.0  # float images in [0, 1]
    elif low >= 0.0 and top <= 255.0:
        scaled = data
    elif low >= 0.0 and top <= 65535.0:
        scaled = data / 257.0  # 16-bit samples stored in a 32-bit mode
    else:
        scaled = (data - low) * (255.0 / max(top - low, 1e-12))
    return np.clip(np.nan_to_num(np.rint(scaled)), 0, 255).astype(np.uint8)


def _upright(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        # A broken EXIF block must not cost the picture: keep it as stored.
        return im


def _frame_count(im: Image.Image) -> int:
    try:
        return int(getattr(im, "n_frames", 1))
    except Exception:
        # Counting walks every frame; a damaged later frame does not spoil the first.
        return 1


def _allow_in_pillow(max_pixels: int) -> None:
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that, inside
    # Image.open, before our own check runs. Ours is the limit; only ever raise
    # Pillow's to match a caller who explicitly allows more, never lower it.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and limit < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"the image is too large: {width}x{height} = {width * height / 1e6:.1f} megapixels, "
        f"over the limit of {max_pixels / 1e6:.1f} megapixels (max_pixels); "
        "this protects against decompression bombs"
    )


def _unsupported(head: bytes) -> str:
    if head[4:8] == b"ftyp":
        return "HEIC/AVIF images are not supported by this installation; convert to JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return (
            "this TIFF's pixel format (e.g. floating-point colour) cannot be read, or the "
            "file is damaged; convert it to an 8- or 16-bit TIFF, PNG or JPEG"
        )
    return "the image format is not supported or the file is damaged"


def _decode_failure(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text or isinstance(exc, EOFError):
        return f"the file is truncated or incomplete (an interrupted copy or upload?): {text}"
    if "conversion" in text and "not supported" in text:
        return f"the colour mode of this image is not supported: {text}"
    return f"the image is damaged and cannot be decoded: {text}"
