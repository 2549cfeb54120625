"""Region detectors: what is where in a picture.

``Detector`` is the protocol; ``FaceDetector`` adapts the dlib face model to
it and ``YoloDetector`` finds objects through ultralytics (the optional
``detect`` extra). ``load_object_detector`` is what the ingest pipeline calls:
where ultralytics, torch/torchvision or the weights cannot be loaded it logs
one warning per process and returns None, and ingest goes on without object
regions (faces and user-drawn boxes still give region search).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from es_visual.errors import ModelUnavailableError

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.models.faces import FaceModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    kind: str  # "object" | "face"
    label: str | None  # class name for objects ("dog"), None for faces
    score: float
    bbox: tuple[float, float, float, float]  # normalized [x0, y0, x1, y1]


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, image: Image.Image) -> list[Detection]: ...


class FaceDetector:
    """The dlib face model seen as a region detector (its vectors are dropped here:
    the faces hook stores them; this is for code that only wants boxes)."""

    name = "dlib-faces"

    def __init__(self, model: FaceModel | None = None) -> None:
        if model is None:
            from es_visual.models.faces import get_face_model

            model = get_face_model()
        self.model = model

    def detect(self, image: Image.Image) -> list[Detection]:
        return [Detection("face", None, f.score, f.bbox) for f in self.model.detect(image)]


class YoloDetector:
    """Objects through an ultralytics YOLO model.

    ``weights`` is a path to a ``.pt`` file, or a bare name (``yolov8n.pt``)
    that ultralytics downloads once into its own cache. ``classes`` keeps only
    those labels. Raises ``ModelUnavailableError`` when the package, torch or
    the weights are missing, with what to install.
    """

    def __init__(
        self,
        weights: str = "yolov8n.pt",
        *,
        min_score: float = 0.35,
        max_detections: int = 20,
        classes: list[str] | None = None,
        device: str | None = None,
        image_size: int = 640,
    ) -> None:
        self.name = f"yolo:{Path(weights).stem}"
        self.min_score, self.max_detections = min_score, max_detections
        self.classes = set(classes) if classes else None
        self.device, self.image_size = device, image_size
        looks_like_path = any(sep in weights for sep in ("/", "\\")) or weights.startswith(".")
        if looks_like_path and not Path(weights).expanduser().is_file():
            raise ModelUnavailableError(f"YOLO weights not found: {weights}")
        try:
            from ultralytics import YOLO
        except Exception as exc:  # ImportError, or torchvision failing inside it
            raise ModelUnavailableError(
                f"object detection needs ultralytics and a working torchvision "
                f"(`pip install 'es-visual[detect]'`): {type(exc).__name__}: {exc}"
            ) from exc
        try:
            self._model: Any = YOLO(str(Path(weights).expanduser()) if looks_like_path else weights)
        except Exception as exc:  # a download refused offline, a corrupt file
            raise ModelUnavailableError(
                f"cannot load YOLO weights {weights!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[Detection]:
        import numpy as np

        rgb = np.asarray(image.convert("RGB"))
        # ultralytics treats a numpy array as BGR (OpenCV's order).
        with self._lock:
            results = self._model.predict(
                rgb[..., ::-1],
                conf=self.min_score,
                imgsz=self.image_size,
                device=self.device,
                max_det=self.max_detections,
                verbose=False,
            )
        out: list[Detection] = []
        for result in results:
            names = result.names
            boxes = result.boxes
            for xyxyn, conf, cls in zip(
                boxes.xyxyn.tolist(), boxes.conf.tolist(), boxes.cls.tolist(), strict=True
            ):
                label = str(names[int(cls)])
                if self.classes is not None and label not in self.classes:
                    continue
                bbox = tuple(min(1.0, max(0.0, float(v))) for v in xyxyn)
                out.append(Detection("object", label, float(conf), bbox))  # type: ignore[arg-type]
        out.sort(key=lambda d: -d.score)
        return out[: self.max_detections]


_warned: set[str] = set()
_warn_lock = threading.Lock()


def load_object_detector(options: dict[str, Any]) -> Detector | None:
    """The configured object detector, or None (warned once per reason) when it
    cannot run here. ``options`` are the preset's ``objects`` section."""
    weights = str(options.get("weights") or "yolov8n.pt")
    try:
        return YoloDetector(
            weights,
            min_score=float(options.get("min_score", 0.35)),
            max_detections=int(options.get("max_regions", 20)),
            classes=options.get("classes"),
            device=options.get("device"),
        )
    except ModelUnavailableError as exc:
        warn_once(f"objects:{exc}", f"object regions are off for this run: {exc}")
        return None


def warn_once(key: str, message: str) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)
