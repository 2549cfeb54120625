"""open_image on real pictures and on every kind of bad input a user's folder holds."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from es_visual.core.errors import MediaError
from es_visual.media.image import DEFAULT_MAX_PIXELS, LoadedImage, open_image, to_rgb


def _png_bytes(image: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **params)
    return buf.getvalue()


def _jpeg_bytes(image: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **params)
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A few dozen bytes whose header announces a width x height RGB picture."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    import skimage.data

    return Image.fromarray(skimage.data.astronaut())


# --- real files in every format scikit-image ships ------------------------------------


@pytest.mark.parametrize(
    ("name", "size", "fmt"),
    [
        ("astronaut.png", (512, 512), "PNG"),
        ("chelsea.png", (451, 300), "PNG"),
        ("camera.png", (512, 512), "PNG"),  # 8-bit greyscale
        ("rocket.jpg", (640, 427), "JPEG"),
        ("retina.jpg", (1411, 1411), "JPEG"),
    ],
)
def test_real_files_open_as_rgb(skimage_dir: Path, name: str, size, fmt: str) -> None:
    loaded = open_image(skimage_dir / name)
    assert isinstance(loaded, LoadedImage)
    assert loaded.image.mode == "RGB"
    assert (loaded.width, loaded.height) == size == loaded.image.size
    assert loaded.format == fmt
    assert loaded.n_frames == 1


def test_path_str_and_bytes_give_the_same_pixels(skimage_dir: Path) -> None:
    path = skimage_dir / "rocket.jpg"
    a = open_image(path).image
    b = open_image(str(path)).image
    c = open_image(path.read_bytes()).image
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(a), np.asarray(c))


def test_greyscale_becomes_three_equal_channels(skimage_dir: Path) -> None:
    pixels = np.asarray(open_image(skimage_dir / "camera.png").image)
    assert pixels.shape == (512, 512, 3)
    assert np.array_equal(pixels[..., 0], pixels[..., 1])


def test_animated_gif_gives_its_first_frame(skimage_dir: Path) -> None:
    path = skimage_dir / "no_time_for_that_tiny.gif"
    loaded = open_image(path)
    assert loaded.n_frames > 1
    assert loaded.format == "GIF"
    assert loaded.image.mode == "RGB"
    with Image.open(path) as im:
        first = np.asarray(im.convert("RGB"))
    assert np.array_equal(np.asarray(loaded.image), first)


def test_multipage_tiff_gives_its_first_page(skimage_dir: Path) -> None:
    loaded = open_image(skimage_dir / "multipage.tif")
    assert loaded.n_frames == 2
    assert loaded.format == "TIFF"
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (loaded.width, loaded.height)


def test_unreadable_tiff_layout_is_a_media_error(skimage_dir: Path) -> None:
    # 64-bit float RGB pages: Pillow has no mode for them.
    with pytest.raises(MediaError, match="TIFF"):
        open_image(skimage_dir / "multipage_rgb.tif")


# --- colour modes ---------------------------------------------------------------------


def test_cmyk_jpeg_converts_to_matching_rgb(astronaut: Image.Image) -> None:
    data = _jpeg_bytes(astronaut.convert("CMYK"), quality=95)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "CMYK"
    loaded = open_image(data)
    assert loaded.image.mode == "RGB"
    diff = np.abs(np.asarray(loaded.image, np.int16) - np.asarray(astronaut, np.int16))
    assert diff.mean() < 8  # JPEG loss only; an inverted or garbled CMYK would be ~100


def test_16_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    data = _png_bytes(Image.fromarray(ramp))
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I")
    pixels = np.asarray(open_image(data).image)
    assert pixels.dtype == np.uint8
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255
    expected = np.rint(ramp[0] / 257.0)
    assert np.abs(pixels[0, :, 0].astype(int) - expected).max() <= 1
    assert len(np.unique(pixels[0, :, 0])) > 200  # a ramp, not a white sheet


def test_32_bit_integer_image_is_scaled() -> None:
    # 16-bit samples in a 32-bit mode (older Pillow opened 16-bit PNGs this way).
    data = np.tile(np.linspace(0, 65535, 64).astype(np.int32), (8, 1))
    pixels = np.asarray(to_rgb(Image.fromarray(data, mode="I")))
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255
    # Any other range (negative, beyond 16 bits) is stretched to 0..255.
    wide = np.tile(np.linspace(-1e6, 1e6, 64).astype(np.int32), (8, 1))
    pixels = np.asarray(to_rgb(Image.fromarray(wide, mode="I")))
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255 and 120 < pixels[0, 32, 0] < 136


def test_float_image_in_unit_range() -> None:
    data = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    pixels = np.asarray(to_rgb(Image.fromarray(data, mode="F")))
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255


def test_palette_png_with_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (40, 20), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    image.paste(1, (20, 0, 40, 20))  # right half blue, left half index 0
    data = _png_bytes(image, transparency=0)  # index 0 (red) is transparent
    pixels = np.asarray(open_image(data).image)
    assert tuple(pixels[10, 5]) == (255, 255, 255)
    assert tuple(pixels[10, 30]) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 5, 10))  # left half fully transparent black
    pixels = np.asarray(open_image(_png_bytes(image.convert(mode))).image)
    assert tuple(pixels[5, 2]) == (255, 255, 255)
    assert tuple(pixels[5, 7]) == (0, 0, 0)


def test_bilevel_image_opens() -> None:
    image = Image.new("1", (8, 8), 1)
    assert np.asarray(open_image(_png_bytes(image)).image).min() == 255


# --- orientation ----------------------------------------------------------------------


def test_exif_rotated_jpeg_is_turned_upright() -> None:
    # Stored 60 wide x 40 tall with a red block top-left; Orientation 6 means "rotate
    # 90 degrees clockwise to display", so upright it is 40 x 60 with red top-right.
    stored = Image.new("RGB", (60, 40), (0, 128, 0))
    stored.paste((255, 0, 0), (0, 0, 15, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = open_image(_jpeg_bytes(stored, exif=exif.tobytes(), quality=95))
    assert (loaded.width, loaded.height) == (40, 60)
    pixels = np.asarray(loaded.image, dtype=int)
    assert pixels[3, 36, 0] > 200 and pixels[3, 36, 1] < 80  # red, top-right
    assert pixels[3, 3, 0] < 80  # top-left is green now


def test_max_side_decodes_a_big_jpeg_small_but_reports_its_full_size(
    astronaut: Image.Image,
) -> None:
    big = astronaut.resize((2048, 1536))  # 4:3, long side 2048
    full = open_image(_jpeg_bytes(big, quality=90))
    drafted = open_image(_jpeg_bytes(big, quality=90), max_side=400)
    assert (drafted.width, drafted.height) == (full.width, full.height) == (2048, 1536)
    # libjpeg scaled by 1/4 (2048 -> 512): still >= 400 on the long side, far below full.
    assert drafted.image.size == (512, 384)
    # Same picture: the drafted decode matches the full decode shrunk to its size.
    shrunk = np.asarray(full.image.resize(drafted.image.size, Image.Resampling.BOX), dtype=int)
    assert np.abs(np.asarray(drafted.image, dtype=int) - shrunk).mean() < 6


def test_max_side_keeps_exif_rotation_and_full_size() -> None:
    stored = Image.new("RGB", (1200, 800), (0, 128, 0))
    stored.paste((255, 0, 0), (0, 0, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = open_image(_jpeg_bytes(stored, exif=exif.tobytes(), quality=95), max_side=300)
    assert (loaded.width, loaded.height) == (800, 1200)
    assert loaded.image.size == (200, 300)  # decoded at 1/4, then turned upright
    pixels = np.asarray(loaded.image, dtype=int)
    assert pixels[20, 190, 0] > 200 and pixels[20, 20, 0] < 80  # red now top-right


def test_max_side_leaves_small_and_non_jpeg_pictures_alone(astronaut: Image.Image) -> None:
    buf = io.BytesIO()
    astronaut.save(buf, "PNG")
    assert open_image(buf.getvalue(), max_side=100).image.size == (512, 512)
    assert open_image(_jpeg_bytes(astronaut), max_side=300).image.size == (512, 512)


def test_broken_exif_does_not_lose_the_picture(astronaut: Image.Image) -> None:
    data = _jpeg_bytes(astronaut, exif=b"Exif\x00\x00garbage-not-tiff")
    loaded = open_image(data)
    assert loaded.image.size == (512, 512)


# --- bad input: a MediaError a person can act on ----------------------------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty \(0 bytes\)") as info:
        open_image(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot read the file"):
        open_image(tmp_path / "nope.jpg")


def test_text_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("these are my holiday notes, not a photo\n")
    with pytest.raises(MediaError, match="text file, not an image"):
        open_image(path)


def test_html_named_png(tmp_path: Path) -> None:
    path = tmp_path / "download.png"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    with pytest.raises(MediaError, match="HTML page"):
        open_image(path)


def test_random_binary() -> None:
    with pytest.raises(MediaError, match="not an image or video"):
        open_image(bytes(range(256)) * 4)


def test_video_bytes_are_not_an_image() -> None:
    with pytest.raises(MediaError, match="video, not an image"):
        open_image(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64)


@pytest.mark.parametrize(("name", "keep"), [("rocket.jpg", 0.5), ("chelsea.png", 0.5)])
def test_truncated_files(skimage_dir: Path, tmp_path: Path, name: str, keep: float) -> None:
    data = (skimage_dir / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(MediaError, match="truncated"):
        open_image(path)
    # The global switch that would hide this stays off.
    from PIL import ImageFile

    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_png_damaged_in_the_middle(skimage_dir: Path) -> None:
    data = bytearray((skimage_dir / "chelsea.png").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    with pytest.raises(MediaError):
        open_image(bytes(data))


def test_bomb_header_is_refused_before_decoding() -> None:
    # 100k x 100k claimed in 80 bytes: decoding would need 30 GB.
    with pytest.raises(MediaError, match=r"too large.*decompression bomb"):
        open_image(_png_claiming(100_000, 100_000))


def test_header_over_our_limit_but_under_pillows() -> None:
    with pytest.raises(MediaError, match=r"9000x9000 = 81\.0 megapixels"):
        open_image(_png_claiming(9000, 9000))
    assert DEFAULT_MAX_PIXELS < 81_000_000


def test_large_blank_image_over_a_low_limit() -> None:
    data = _png_bytes(Image.new("RGB", (2000, 1500)))
    with pytest.raises(MediaError, match="max_pixels"):
        open_image(data, max_pixels=1_000_000)
    assert open_image(data, max_pixels=3_000_000).width == 2000


def test_max_pixels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        open_image(b"x", max_pixels=0)


def test_loaded_image_is_frozen(skimage_dir: Path) -> None:
    loaded = open_image(skimage_dir / "coffee.png")
    with pytest.raises(AttributeError):
        loaded.width = 1  # type: ignore[misc]
    # The file is closed, yet the pixels stay usable.
    assert loaded.image.getpixel((0, 0)) is not None
