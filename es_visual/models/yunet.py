"""A fast face detector whose weights ship in its wheel: libfacedetection (``yuface``).

libfacedetection is Shiqi Yu's BSD-licensed CNN face detector (the YuNet family),
compiled with its weights into a 0.5 MB wheel with no dependency but numpy. On
this project's 2 shared cores it takes 30-60 ms for a 640 px picture, against
~300 ms for dlib's HOG at 1024 px with the upsampling that small faces need, and it
finds profile and small faces HOG misses (docs/faces.md has the side-by-side numbers).

Two details make its boxes usable by dlib's face descriptor:

* **Box shape.** Its boxes run from forehead to chin and are taller than wide;
  dlib's 5-point landmark model was trained on the square boxes of dlib's own
  detectors. ``to_dlib_box`` draws such a box from its five landmarks (the centre:
  between eyes and mouth, 0.52 of the eye-to-mouth distance below the eyes) and its
  box (the side: 0.934 w + 0.089 h), fitted by least squares to dlib's boxes of the
  same faces in the labelled photos of benchmarks/faces_data.py. Descriptors then
  match those from dlib's own boxes (median cosine 0.9995, worst 0.985 over 129
  faces; the same true and false match rates). Centring on the box instead
  (offsets from the box alone) gave a worst case of 0.84 and lost 8% of the
  same-person pairs: a box's top edge wanders with hair and forehead, the eyes
  do not.
* **Threads.** The wheel carries its own OpenMP runtime, which by default spins a
  thread per core and, on a loaded machine, waits for them (a 500 px picture took
  1 s of wall time at 0.15 s of CPU). ``FaceModel`` already runs one detection per
  core in parallel, so each call here uses one OpenMP thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from es_visual.core.errors import ModelUnavailableError

# Pictures are detected at 640 px on their long side: it finds faces down to ~12 px there
# (2% of the picture's side; dlib's HOG with one upsampling at 1024 px: 4%), and every
# labelled face of benchmarks/faces_data.py, at 0.85x the CPU of 960 px (docs/benchmarks.md).
# The landmarks and descriptors are then computed on the larger picture FaceModel keeps.
MAX_SIDE = 640
MIN_SIDE = 640  # smaller pictures are enlarged towards this, so their small faces are found
MAX_ENLARGE = 2.0
_local = threading.local()


@lru_cache(maxsize=1)
def _library() -> Any:
    """``yuface.detect``, loaded with its OpenMP runtime set to one thread."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # read once, when the wheel's libgomp loads
    try:
        from yuface import yuface as native
    except ImportError as exc:
        raise ModelUnavailableError(
            "the yunet face detector needs the yuface package: `pip install yuface` "
            "(or set faces.detector: hybrid in the pipeline preset)"
        ) from exc
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
    return native.detect


def _one_omp_thread() -> None:
    """Each calling thread asks the wheel's OpenMP runtime for one thread, once."""
    if getattr(_local, "omp_set", False):
        return
    _local.omp_set = True
    import yuface

    libs = Path(yuface.__file__).parent.parent / "yuface.libs"
    for lib in libs.glob("libgomp*.so*"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(str(lib)).omp_set_num_threads(1)


def available() -> bool:
    try:
        _library()
    except ModelUnavailableError:
        return False
    return True


def working_scale(width: int, height: int) -> float:
    """How much a picture is resized for detection: large ones down to ``MAX_SIDE``;
    small ones up towards ``MIN_SIDE``, by at most ``MAX_ENLARGE``: a 500 px photo's
    37 px faces are found at 640 px and missed at 500, while a 150 px face chip needs
    no 18-fold enlargement (it cost 4x the CPU of the whole labelled set for nothing)."""
    side = max(width, height)
    if side > MAX_SIDE:
        return MAX_SIDE / side
    if side < MIN_SIDE:
        return min(MIN_SIDE / side, MAX_ENLARGE)
    return 1.0


Detection = tuple[float, float, float, float, float, np.ndarray]


def detect(rgb: np.ndarray, min_conf: float) -> list[Detection]:
    """Faces in an RGB uint8 picture as (x0, y0, x1, y1, confidence 0..1, landmarks) in
    its pixels, found at ``working_scale``; landmarks are (5, 2): the two eyes, the nose
    tip, the two mouth corners."""
    from PIL import Image

    native = _library()
    _one_omp_thread()
    h, w = rgb.shape[:2]
    scale = working_scale(w, h)
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    # One row per face: confidence (0-100), x, y, w, h, five landmarks (x, y), extra.
    found = np.asarray(native(bgr))
    out = []
    for row in found.reshape(-1, found.shape[-1]) if found.size else ():
        conf = float(row[0]) / 100.0
        if conf < min_conf:
            continue
        x, y, bw, bh = (float(v) / scale for v in row[1:5])
        landmarks = np.asarray(row[5:15], dtype=np.float64).reshape(5, 2) / scale
        out.append((x, y, x + bw, y + bh, conf, landmarks))
    return out


def to_dlib_box(
    x0: float, y0: float, x1: float, y1: float, landmarks: np.ndarray
) -> tuple[int, int, int, int]:
    """A square box like dlib's detectors draw, from a libfacedetection box and landmarks."""
    w, h = x1 - x0, y1 - y0
    eyes, mouth = landmarks[0:2].mean(axis=0), landmarks[3:5].mean(axis=0)
    side = 0.934 * w + 0.089 * h
    cx = (eyes[0] + mouth[0]) / 2
    cy = eyes[1] + 0.524 * float(np.linalg.norm(mouth - eyes))
    half = side / 2
    return (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
