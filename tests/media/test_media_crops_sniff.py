"""Normalized crops, thumbnails, magic-byte sniffing and content hashes."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from es_visual.core.errors import MediaError
from es_visual.media.image import content_hash, crop_normalized, sniff_media_type, thumbnail


@pytest.fixture(scope="module")
def grid() -> Image.Image:
    # 200 x 100, each pixel's red = x, green = y: a crop's corner says where it came from.
    x, y = np.meshgrid(np.arange(200), np.arange(100))
    pixels = np.stack([x, y, np.zeros_like(x)], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


# --- crops ------------------------------------------------------------------------------


def test_crop_takes_the_box(grid: Image.Image) -> None:
    crop = crop_normalized(grid, (0.25, 0.5, 0.75, 1.0))
    assert crop.size == (100, 50)
    assert crop.getpixel((0, 0))[:2] == (50, 50)


def test_crop_of_the_whole_image(grid: Image.Image) -> None:
    assert crop_normalized(grid, [0, 0, 1, 1]).size == grid.size


def test_tiny_float_overshoot_is_clamped(grid: Image.Image) -> None:
    crop = crop_normalized(grid, (-1e-9, -0.0000001, 1.0000001, 1 + 1e-6))
    assert crop.size == grid.size


def test_tiny_box_keeps_at_least_one_pixel(grid: Image.Image) -> None:
    assert crop_normalized(grid, (0.5, 0.5, 0.5001, 0.5001)).size == (1, 1)
    assert crop_normalized(grid, (0.9999, 0.9999, 1.0, 1.0)).size == (1, 1)


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((0.5, 0.2, 0.5, 0.8), "empty"),
        ((0.6, 0.2, 0.4, 0.8), "empty"),
        ((0.1, 0.9, 0.4, 0.3), "empty"),
        ((0.1, 0.1, 1.5, 0.5), "outside the image"),
        ((-0.2, 0.1, 0.5, 0.5), "outside the image"),
        ((10, 20, 100, 200), "outside the image"),  # pixels where fractions were meant
        ((0.1, 0.2, 0.3), "four numbers"),
        (("a", 0, 1, 1), "four numbers"),
        ((0.1, float("nan"), 0.3, 0.4), "finite"),
    ],
)
def test_bad_boxes_are_refused_with_a_reason(grid: Image.Image, bbox, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        crop_normalized(grid, bbox)


def test_bad_box_is_also_a_value_error(grid: Image.Image) -> None:
    with pytest.raises(ValueError):
        crop_normalized(grid, (1, 1, 0, 0))


# --- thumbnails -------------------------------------------------------------------------


def test_thumbnail_keeps_aspect_and_never_enlarges(grid: Image.Image) -> None:
    small = thumbnail(grid, 50)
    assert small.size == (50, 25)
    assert grid.size == (200, 100)  # the original is untouched
    assert thumbnail(grid, 1000).size == (200, 100)
    with pytest.raises(ValueError):
        thumbnail(grid, 0)


# --- sniffing ---------------------------------------------------------------------------


def _encoded(fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, fmt, **params)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_image_formats_by_content(fmt: str) -> None:
    assert sniff_media_type(_encoded(fmt)) == "image"


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # MP4
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",  # MOV
        b"\x00\x00\x00\x08wide\x00\x01\x00\x00mdat",  # old QuickTime
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm",  # WebM / Matroska (EBML)
        b"RIFF\x00\x10\x00\x00AVI LIST",  # AVI
    ],
)
def test_video_containers_by_content(head: bytes) -> None:
    assert sniff_media_type(head + b"\x00" * 32) == "video"


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, world",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # audio in a RIFF container
        b"%PDF-1.7\n",
        b"BM but not a bitmap at all, just text",
    ],
)
def test_not_media(head: bytes) -> None:
    assert sniff_media_type(head) is None


def test_heic_brand_is_an_image() -> None:
    assert sniff_media_type(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "image"


def test_extension_does_not_matter(tmp_path: Path, skimage_dir: Path) -> None:
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes((skimage_dir / "rocket.jpg").read_bytes())
    assert sniff_media_type(disguised) == "image"
    fake = tmp_path / "photo.jpg"
    fake.write_text("just some text")
    assert sniff_media_type(fake) is None
    assert sniff_media_type(str(skimage_dir / "no_time_for_that_tiny.gif")) == "image"
    assert sniff_media_type(skimage_dir / "multipage.tif") == "image"


def test_unreadable_path_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot read"):
        sniff_media_type(tmp_path / "missing.png")


# --- hashing ----------------------------------------------------------------------------


def test_content_hash_of_file_and_bytes(tmp_path: Path) -> None:
    data = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert content_hash(path) == expected
    assert content_hash(str(path)) == expected
    assert content_hash(data) == expected
    assert content_hash(b"") == hashlib.sha256(b"").hexdigest()


def test_content_hash_of_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        content_hash(tmp_path / "missing")
