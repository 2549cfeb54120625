"""Perceptual prints of a picture: is this the same picture, not just a similar one?

A scene embedding says "a motorcycle in a workshop" and scores the two photos of
a stereo pair 0.98 alike; it cannot tell a copy from a second photo of the same
scene. Two small prints, written at ingest, can:

* ``phash``: imagehash's 64-bit DCT perceptual hash, as 16 hex digits
  (``visual.phash``). A cheap first gate: a copy differs in a few bits, most
  different pictures in 20 or more.
* ``thumb``: the 32x32 grayscale picture that hash is computed from (1,024 bytes,
  base64 in ``visual.phash_thumb``). ``same_picture_score`` aligns two thumbs (one
  may be a crop of the other, keeping at least ``MIN_KEEP`` of each side) and
  compares their gradients block by block: a resized, re-encoded or lightly
  edited copy lines up everywhere, a second photo of the scene does not, because
  what is near the camera moves against what is far.

The hash of a thumb is the hash of its picture (imagehash resizes to this very
32x32 thumbnail first), so the mirror image's hash comes from the flipped thumb
without the file. Numbers behind the thresholds: benchmarks/dup_threshold.py.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

THUMB_SIDE = 32  # imagehash.phash's own working size (hash_size 8 x highfreq_factor 4)
THUMB_BYTES = THUMB_SIDE * THUMB_SIDE
HASH_BITS = 64
# A copy is cropped by at most this much of each side ("cropped a little").
MIN_KEEP = 0.85
_SCALE_STEP = 0.025
_OFFSET_STEP = 1 / 48  # of the picture's side: 2/3 of a thumb pixel
_BLOCKS = 4  # the score is the median over a 4x4 grid of blocks: a watermark spoils one or two
_BLUR_SIGMA = 1.0  # against aliasing: a crop's thumb is resampled from other pixels
# Gradient energy (per pixel, grey levels squared) under which a block counts as flat.
_FLAT = 1.0


@dataclass(frozen=True)
class PicturePrint:
    phash: str  # 16 hex digits
    thumb: bytes  # THUMB_SIDE x THUMB_SIDE grayscale, row by row

    def to_visual(self) -> dict[str, str]:
        """The fields written under ``visual``."""
        return {"phash": self.phash, "phash_thumb": encode_thumb(self.thumb)}


def picture_print(image: Image.Image) -> PicturePrint:
    """The perceptual prints of a decoded picture (any Pillow mode)."""
    import imagehash
    from PIL import Image as PILImage

    gray = image.convert("L")
    # A 60000000x1 line would need gigabytes of LANCZOS weights: past any real photo's
    # side (JPEG stops at 65535) reduce by whole blocks first, which costs nothing.
    gap = 3.0 if max(gray.size) > 65535 else None
    gray = gray.resize((THUMB_SIDE, THUMB_SIDE), PILImage.Resampling.LANCZOS, reducing_gap=gap)
    return PicturePrint(phash=str(imagehash.phash(gray)), thumb=gray.tobytes())


def hash_of_thumb(thumb: np.ndarray, *, mirror: bool = False) -> int:
    """The 64-bit phash of a thumb (of its mirror image with ``mirror``), as an int."""
    import imagehash
    from PIL import Image as PILImage

    pixels = np.ascontiguousarray(thumb[:, ::-1] if mirror else thumb, dtype=np.uint8)
    return int(str(imagehash.phash(PILImage.fromarray(pixels, mode="L"))), 16)


def frame_hash(image: Image.Image) -> str:
    """The phash of one video frame, as 16 hex digits."""
    return picture_print(image).phash


def parse_hash(value: object) -> int | None:
    """A stored ``phash`` as an int; None when missing or not 16 hex digits."""
    if not isinstance(value, str) or len(value) != HASH_BITS // 4:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def encode_thumb(thumb: bytes) -> str:
    return base64.b64encode(thumb).decode("ascii")


def decode_thumb(value: object) -> np.ndarray | None:
    """A stored ``phash_thumb`` as a 32x32 uint8 array; None when missing or malformed."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != THUMB_BYTES:
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(THUMB_SIDE, THUMB_SIDE)


def same_picture_score(
    a: np.ndarray,
    size_a: tuple[int, int] | None,
    b: np.ndarray,
    size_b: tuple[int, int] | None,
    *,
    mirror: bool = False,
    min_keep: float = MIN_KEEP,
) -> float:
    """How well two thumbs line up as one picture, in [-1, 1] (1: the same pixels).

    Tries ``b`` as a crop of ``a`` and ``a`` as a crop of ``b`` (each side kept
    >= ``min_keep``, the aspect ratio from ``size_*`` = (width, height) of the
    originals, since thumbs are squashed to a square), and returns the best
    alignment's median block correlation of gradients. ``mirror``: compare ``b``
    flipped left-right (a mirrored copy).
    """
    fa = _blur(a.astype(np.float32))
    fb = _blur((b[:, ::-1] if mirror else b).astype(np.float32))
    return max(
        _best_crop(fa, size_a, fb, size_b, min_keep), _best_crop(fb, size_b, fa, size_a, min_keep)
    )


def _best_crop(
    big: np.ndarray,
    size_big: tuple[int, int] | None,
    small: np.ndarray,
    size_small: tuple[int, int] | None,
    min_keep: float,
) -> float:
    windows = _windows(size_big, size_small, min_keep)
    if not len(windows):
        return -1.0
    return float(_block_scores(_sample(big, windows), small).max())


def _windows(
    size_big: tuple[int, int] | None, size_small: tuple[int, int] | None, min_keep: float
) -> np.ndarray:
    """(x0, y0, sx, sy) of every window of ``big`` that ``small`` could have been cut from."""
    ratio = 1.0  # (small's aspect) / (big's aspect): sx = sy * ratio
    if size_big and size_small and min(*size_big, *size_small) > 0:
        ratio = (size_small[0] / size_small[1]) / (size_big[0] / size_big[1])
    out = []
    sy = 1.0
    while sy >= min_keep - 1e-9:
        sx = sy * ratio
        # 3% slack: sizes are rounded, and a crop to the full width still has ratio ~1.
        if min_keep - 1e-9 <= sx <= 1.03:
            sx = min(sx, 1.0)
            xs = np.arange(0.0, 1.0 - sx + 1e-9, _OFFSET_STEP) if sx < 1.0 else np.zeros(1)
            ys = np.arange(0.0, 1.0 - sy + 1e-9, _OFFSET_STEP) if sy < 1.0 else np.zeros(1)
            for x0 in xs:
                for y0 in ys:
                    out.append((x0, y0, sx, sy))
        sy -= _SCALE_STEP
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def _sample(img: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Each window of ``img`` resampled (bilinear) to a full thumb: N x S x S."""
    n = THUMB_SIDE
    centres = (np.arange(n, dtype=np.float32) + 0.5) / n
    xs = np.clip((windows[:, 0:1] + windows[:, 2:3] * centres) * n - 0.5, 0, n - 1)
    ys = np.clip((windows[:, 1:2] + windows[:, 3:4] * centres) * n - 0.5, 0, n - 1)
    x0 = np.floor(xs).astype(np.intp)
    y0 = np.floor(ys).astype(np.intp)
    x1 = np.minimum(x0 + 1, n - 1)
    y1 = np.minimum(y0 + 1, n - 1)
    fx = (xs - x0)[:, None, :]
    fy = (ys - y0)[:, :, None]

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return img[yy[:, :, None], xx[:, None, :]]

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


def _block_scores(candidates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per candidate: the median over blocks of the gradient correlation with ``target``."""
    pgx, pgy = _gradients(candidates)
    tgx, tgy = _gradients(target[None])
    side = (THUMB_SIDE - 1) // _BLOCKS
    scores = []
    for i in range(_BLOCKS):
        for j in range(_BLOCKS):
            rows, cols = slice(i * side, (i + 1) * side), slice(j * side, (j + 1) * side)
            p = np.concatenate([pgx[:, rows, cols], pgy[:, rows, cols]], axis=1)
            q = np.concatenate([tgx[:, rows, cols], tgy[:, rows, cols]], axis=1)
            p = p.reshape(len(p), -1)
            q = q.reshape(1, -1)
            p = p - p.mean(axis=1, keepdims=True)
            q = q - q.mean(axis=1, keepdims=True)
            ep = (p * p).mean(axis=1)
            eq = float((q * q).mean())
            ncc = (p * q).mean(axis=1) / np.sqrt(np.maximum(ep * eq, 1e-12))
            # Flat against flat (sky, a wall) agrees; flat against texture does not.
            flat_p, flat_q = ep < _FLAT, eq < _FLAT
            ncc = np.where(flat_p & flat_q, 1.0, np.where(flat_p | flat_q, 0.0, ncc))
            scores.append(ncc)
    return np.median(np.stack(scores, axis=1), axis=1)


def _gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = img[..., :-1, 1:] - img[..., :-1, :-1]
    gy = img[..., 1:, :-1] - img[..., :-1, :-1]
    return gx, gy


def _blur(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, _BLUR_SIGMA, mode="nearest")
