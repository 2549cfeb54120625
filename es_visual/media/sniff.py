"""What kind of media a file holds, told by its first bytes rather than its name.

A photo saved as ``.png`` that is really a JPEG, or a text file named ``.jpg``,
is common in real collections; the extension only decides which files a folder
walk looks at, the magic bytes decide how they are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from es_visual.core.errors import MediaError

MediaType = Literal["image", "video"]

# Enough for every signature below (RIFF and ftyp need 12, BMP 18).
_HEAD = 64

# ISO base media (ftyp) brands that are still pictures, not movies: HEIF/HEIC/AVIF.
_IMAGE_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1"}
# Old QuickTime files start with an atom other than ftyp.
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# BITMAPINFOHEADER and its relatives all announce one of these sizes.
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def read_head(source: str | Path | bytes, size: int = _HEAD) -> bytes:
    """The first ``size`` bytes of a file or a buffer (``MediaError`` if unreadable)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:size])
    try:
        with open(source, "rb") as fh:
            return fh.read(size)
    except OSError as exc:
        raise MediaError(f"cannot read the file ({exc.strerror or exc})", path=str(source)) from exc


def sniff_bytes(head: bytes) -> MediaType | None:
    """Classify a file by its leading bytes; ``None`` when no known signature matches."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image"  # JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image"  # TIFF, BigTIFF
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image"
        if kind in (b"AVI ", b"AVIX"):
            return "video"
        return None  # WAV and other RIFF payloads
    if head.startswith(b"BM") and len(head) >= 18:
        if int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
            return "image"
        return None
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return "image"  # JPEG 2000 (jp2 box, raw codestream)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"  # MP4, MOV, M4V, 3GP
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"  # EBML: Matroska, WebM
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video"  # MPEG program stream, MPEG-1/2 elementary stream
    if head.startswith(b"FLV\x01"):
        return "video"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video"  # ASF: WMV
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video"  # MPEG transport stream (needs a longer head than the default)
    return None


def sniff_media_type(source: str | Path | bytes) -> MediaType | None:
    """``"image"``, ``"video"`` or ``None`` from the content's magic bytes, not its name.

    Raises ``MediaError`` when a path cannot be read at all.
    """
    return sniff_bytes(read_head(source, 200))


# Formats Pillow identifies but cannot decode here (MPEG is read by PyAV as a video).
_PILLOW_UNDECODABLE = {"BUFR", "GRIB", "HDF5", "WMF", "MPEG"}


def probe_media_type(path: str | Path, *, video_too: bool = True) -> MediaType | None:
    """What Pillow or PyAV make of a file no magic bytes above describe (PSD, TGA, ICO,
    PPM, SGI, QOI, DDS..., Ogg or other FFmpeg containers): ``None`` if neither reads it.

    Only headers are read. A picture Pillow refuses as a decompression bomb is still an
    image: opening it properly says so clearly. ``video_too=False`` skips PyAV, whose
    probing also accepts text-like formats (subtitles, playlists) by name."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format not in _PILLOW_UNDECODABLE:
                return "image"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "image"
    except Exception:  # UnidentifiedImageError, or a plugin choking on a header it half-knew
        pass
    if not video_too:
        return None
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            if any(s.type == "video" for s in container.streams):
                return "video"
    except Exception:  # PyAV raises its own error tree (av.error.*) for unreadable files
        return None
    return None


def describe_unknown(head: bytes) -> str:
    """A human guess at what a file that is not media actually is."""
    if not head:
        return "the file is empty (0 bytes)"
    if head.startswith(b"%PDF"):
        return "this is a PDF document, not an image"
    if head.startswith(b"PK\x03\x04"):
        return "this is a ZIP archive (or an Office document), not an image"
    if head.lstrip().startswith((b"<!DOCTYPE html", b"<html", b"<HTML")):
        return "this is an HTML page, not an image (a failed download?)"
    if head.lstrip().startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "this is an SVG drawing; vector images are not supported, convert it to PNG"
    text = _decode_prefix(head)
    if text is not None and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "this is a text file, not an image"
    return "not an image or video in any format this tool can read"


def _decode_prefix(head: bytes) -> str | None:
    # The head may end in the middle of a multi-byte character.
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None
