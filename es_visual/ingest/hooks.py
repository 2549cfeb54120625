"""Image hooks: detectors that add faces and regions to an image's analysis.

A hook is ``hook(analysis, image)`` (see ``ingest.pipeline.ImageHook``). The
video analyzer runs the same hooks on each sampled frame and stamps what they
added with the frame's time ``t``.

Decisions, written down:

* Faces go to ``visual.faces`` with dlib's own 128-d vectors; nothing is queued
  for the scene model. They are *not* also written as ``regions`` by default:
  a scene-model vector of a face crop is a poor identity signal and would
  double the region children of every portrait. Set ``faces.as_regions: true``
  in a preset to also get ``{kind: "face"}`` regions embedded by the scene
  model (useful for "find this face-like crop" with a CLIP model).
* Objects go to ``visual.regions`` as ``{kind: "object", label, score, bbox}``;
  each crop is queued as slot ``("regions", i)`` and embedded by the scene
  model in the runner's batch, like the scene itself.
* Models load on the first call, not when the preset is read, so listing
  presets and starting the CLI stay instant; a detector that cannot load
  (no ultralytics here) turns into a hook that does nothing, warned once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from es_visual.media.crops import crop_normalized

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.ingest.analyze import Analysis
    from es_visual.models.detect import Detector
    from es_visual.models.faces import FaceModel

# A region crop smaller than this (pixels, either side) says nothing to a scene model.
MIN_CROP_SIDE = 16
# dlib finds no face under ~40 px even upsampled; a picture whose short side is below
# this once shrunk for the detector (a 60000000x1 strip, a 1-pixel line) holds none, and
# the detector's own resize would fail on it: the step is skipped with a note.
MIN_FACE_SIDE = 20


class FacesHook:
    """Detect faces; append ``{score, bbox, vector}`` to ``visual.faces``."""

    def __init__(self, options: dict[str, Any] | None = None, *, model: FaceModel | None = None):
        self.options = dict(options or {})
        self._model = model
        self._lock = threading.Lock()

    @property
    def model(self) -> FaceModel:
        with self._lock:
            if self._model is None:
                from es_visual.models.faces import DEFAULT_DETECTOR, get_face_model

                o = self.options
                self._model = get_face_model(
                    detector=o.get("detector", DEFAULT_DETECTOR),
                    encoder=o.get("encoder", "torch"),
                    upsample=int(o.get("upsample", 1)),
                    min_score=float(o.get("min_score", 0.0)),
                    max_side=int(o.get("max_side", 1024)),
                    max_faces=int(o.get("max_faces", 20)),
                )
            return self._model

    def __call__(self, analysis: Analysis, image: Image.Image) -> None:
        faces = analysis.visual.setdefault("faces", [])
        regions = analysis.visual.setdefault("regions", [])
        too_thin = _too_thin_for_faces(image.size, int(self.options.get("max_side", 1024)))
        if too_thin:
            if too_thin not in analysis.notes:  # once per video, not once per frame
                analysis.notes.append(too_thin)
            return
        as_regions = bool(self.options.get("as_regions", False))
        for face in self.model.detect(image):
            faces.append(face.to_dict())
            if as_regions:
                _queue_region(analysis, regions, image, "face", None, face.score, face.bbox)


def _too_thin_for_faces(size: tuple[int, int], max_side: int) -> str | None:
    """Why a picture of ``size`` cannot hold a face at the detector's scale, or None."""
    width, height = size
    scale = min(1.0, max_side / max(width, height, 1))
    if min(width, height) * scale >= MIN_FACE_SIDE:
        return None
    return (
        f"faces not looked for: the picture is {width}x{height} px, under {MIN_FACE_SIDE} px "
        f"across once fitted into the face detector's {max_side} px"
    )


class ObjectsHook:
    """Detect objects; append regions and queue their crops for the scene model."""

    def __init__(
        self, options: dict[str, Any] | None = None, *, detector: Detector | None = None
    ) -> None:
        self.options = dict(options or {})
        self._detector = detector
        self._loaded = detector is not None
        self._lock = threading.Lock()

    @property
    def detector(self) -> Detector | None:
        with self._lock:
            if not self._loaded:
                from es_visual.models.detect import load_object_detector

                self._detector = load_object_detector(self.options)
                self._loaded = True
            return self._detector

    def __call__(self, analysis: Analysis, image: Image.Image) -> None:
        detector = self.detector
        if detector is None:
            return
        regions = analysis.visual.setdefault("regions", [])
        for det in detector.detect(image):
            _queue_region(analysis, regions, image, det.kind, det.label, det.score, det.bbox)


def _queue_region(
    analysis: Analysis,
    regions: list[dict[str, Any]],
    image: Image.Image,
    kind: str,
    label: str | None,
    score: float,
    bbox: tuple[float, float, float, float],
) -> None:
    crop = crop_normalized(image, bbox)
    if min(crop.size) < MIN_CROP_SIDE:
        return
    crop.thumbnail((512, 512))
    region: dict[str, Any] = {"kind": kind, "score": round(float(score), 4)}
    if label is not None:
        region["label"] = label
    region["bbox"] = [round(float(v), 5) for v in bbox]
    regions.append(region)
    analysis.crops.append((("regions", len(regions) - 1), crop))


def build_hooks(options: dict[str, Any]) -> list[Any]:
    """The hooks a preset's options turn on (``faces`` and ``objects`` sections)."""
    hooks: list[Any] = []
    faces = options.get("faces") or {}
    if faces.get("enabled"):
        hooks.append(FacesHook(faces))
    objects = options.get("objects") or {}
    if objects.get("enabled"):
        hooks.append(ObjectsHook(objects))
    return hooks
