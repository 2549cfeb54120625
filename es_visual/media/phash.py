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
_BLOCKS = 4  # the picture is cut into a 4x4 grid of blocks, each compared on its own
# The score is this percentile of the blocks' correlations: a copy agrees in (nearly) every
# block, so up to 4 of 16 may disagree (a caption, a logo) before the score drops; a second
# photo of a scene disagrees wherever depth or the subject moved.
_PERCENTILE = 25
_BLUR_SIGMA = 1.0  # against aliasing: a crop's thumb is resampled from other pixels
# Gradient energy (per pixel, grey levels squared) under which a block counts as flat.
_FLAT = 1.0
_REFINE = 6  # coarse windows refined on the fine grid


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
    enough: float | None = None,
) -> float:
    """How well two thumbs line up as one picture, in [-1, 1] (1: the same pixels).

    Tries ``b`` as a crop of ``a`` and ``a`` as a crop of ``b`` (each side kept
    >= ``min_keep``, the aspect ratio from ``size_*`` = (width, height) of the
    originals, since thumbs are squashed to a square), and returns the best
    alignment's block correlation of gradients (the 25th percentile over 4x4
    blocks). ``mirror``: compare ``b`` flipped left-right (a mirrored copy).
    ``enough``: stop at the first alignment that scores this much (the whole frame
    is tried first: most copies are not cropped)."""
    fa = _blur(a.astype(np.float32))
    fb = _blur((b[:, ::-1] if mirror else b).astype(np.float32))
    best = -1.0
    tries = ((fa, size_a, fb, size_b), (fb, size_b, fa, size_a))
    for big, size_big, small, size_small in tries:  # the whole frame, both ways
        windows = _windows(size_big, size_small, min_keep, whole_only=True)
        if len(windows):
            best = max(best, float(_block_scores(_sample(big, windows), small).max()))
    if enough is not None and best >= enough:
        return best
    for big, size_big, small, size_small in tries:
        best = max(best, _best_crop(big, size_big, small, size_small, min_keep))
        if enough is not None and best >= enough:
            break
    return best


def _best_crop(
    big: np.ndarray,
    size_big: tuple[int, int] | None,
    small: np.ndarray,
    size_small: tuple[int, int] | None,
    min_keep: float,
) -> float:
    """The best crop window: a coarse grid of offsets, then the finer grid around the best."""
    coarse = _windows(size_big, size_small, min_keep, step=1.5 * _OFFSET_STEP)
    if not len(coarse):
        return -1.0
    scores = _block_scores(_sample(big, coarse), small)
    top = coarse[np.argsort(-scores)[:_REFINE]]
    d = _OFFSET_STEP
    shifts = np.array([(dx, dy) for dx in (-d, 0.0, d) for dy in (-d, 0.0, d)], dtype=np.float32)
    fine = np.concatenate(
        [np.concatenate([w[None, :2] + shifts, np.repeat(w[None, 2:], 9, 0)], 1) for w in top]
    )
    fine[:, 0] = np.clip(fine[:, 0], 0.0, 1.0 - fine[:, 2])
    fine[:, 1] = np.clip(fine[:, 1], 0.0, 1.0 - fine[:, 3])
    return max(float(scores.max()), float(_block_scores(_sample(big, fine), small).max()))


def _windows(
    size_big: tuple[int, int] | None,
    size_small: tuple[int, int] | None,
    min_keep: float,
    *,
    step: float = _OFFSET_STEP,
    whole_only: bool = False,
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
            if whole_only:
                return np.asarray([(0.0, 0.0, sx, sy)], dtype=np.float32)
            xs = _offsets(1.0 - sx, step)
            ys = _offsets(1.0 - sy, step)
            for x0 in xs:
                for y0 in ys:
                    out.append((x0, y0, sx, sy))
        sy -= _SCALE_STEP
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def _offsets(room: float, step: float) -> np.ndarray:
    """Offsets from 0 to ``room`` every ``step``, the far end always included."""
    if room <= 1e-9:
        return np.zeros(1)
    n = max(1, round(room / step))
    return np.linspace(0.0, room, n + 1)


def _sample(img: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Each window of ``img`` resampled (bilinear) to a full thumb: N x S x S, as two
    batched matrix products (rows, then columns), far cheaper than gathering pixels."""
    rows = _interpolation(windows[:, 1], windows[:, 3])  # N x S x S
    cols = _interpolation(windows[:, 0], windows[:, 2])
    return rows @ img @ cols.transpose(0, 2, 1)


def _interpolation(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """N matrices that resample a side of S pixels at S points spread over
    [start, start + length] (fractions of the side), linearly."""
    n = THUMB_SIDE
    centres = (np.arange(n, dtype=np.float32) + 0.5) / n
    pos = np.clip((start[:, None] + length[:, None] * centres) * n - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo).astype(np.float32)
    out = np.zeros((len(start), n, n), dtype=np.float32)
    batch = np.arange(len(start))[:, None]
    out[batch, np.arange(n)[None, :], lo] = 1.0 - frac
    out[batch, np.arange(n)[None, :], hi] += frac
    return out


def _block_scores(candidates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per candidate: the ``_PERCENTILE`` of its blocks' gradient correlations with ``target``."""
    p = _block_view(candidates)  # N x B x F: each block's gradients, flattened
    q = _block_view(target[None])  # 1 x B x F
    p = p - p.mean(axis=2, keepdims=True)
    q = q - q.mean(axis=2, keepdims=True)
    ep = (p * p).mean(axis=2)
    eq = (q * q).mean(axis=2)
    ncc = (p * q).mean(axis=2) / np.sqrt(np.maximum(ep * eq, 1e-12))
    # Flat against flat (sky, a wall) agrees; flat against texture does not.
    flat_p, flat_q = ep < _FLAT, eq < _FLAT
    ncc = np.where(flat_p & flat_q, 1.0, np.where(flat_p | flat_q, 0.0, ncc))
    return np.percentile(ncc, _PERCENTILE, axis=1)


def _block_view(img: np.ndarray) -> np.ndarray:
    """N x S x S pictures as N x blocks x features: both gradients of each block."""
    gx = img[:, :-1, 1:] - img[:, :-1, :-1]
    gy = img[:, 1:, :-1] - img[:, :-1, :-1]
    side = (THUMB_SIDE - 1) // _BLOCKS
    used = side * _BLOCKS
    n = len(img)

    def blocks(g: np.ndarray) -> np.ndarray:
        g = g[:, :used, :used].reshape(n, _BLOCKS, side, _BLOCKS, side)
        return g.transpose(0, 1, 3, 2, 4).reshape(n, _BLOCKS * _BLOCKS, side * side)

    return np.concatenate([blocks(gx), blocks(gy)], axis=2)


def _blur(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, _BLUR_SIGMA, mode="nearest")
