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

from es_visual.core.errors import ModelUnavailableError

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


# ultralytics reads these once, on import. es-visual never downloads at run time: OFFLINE
# keeps it from looking up public hosts (its online check) and from fetching weights or
# fonts; AUTOINSTALL=false keeps it from pip-installing packages it would like. A user who
# sets them otherwise keeps theirs.
ULTRALYTICS_ENV = {"YOLO_OFFLINE": "true", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}
MODELS_DIR_HINT = "~/.local/share/es-visual/models"


def _import_yolo() -> Any:
    import os

    from PIL import Image

    for key, value in ULTRALYTICS_ENV.items():
        os.environ.setdefault(key, value)
    pillow_open = Image.open
    try:
        from ultralytics import YOLO
    except Exception as exc:  # ImportError, or torchvision failing inside it
        raise ModelUnavailableError(
            f"object detection needs ultralytics and a torchvision built for the installed "
            f"torch (`pip install 'es-visual[detect]'`): {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        # ultralytics replaces PIL.Image.open for the whole process on import (to try a
        # HEIF plugin it would install); every other picture es-visual opens must keep
        # Pillow's own errors ("a text file, not an image"), not "No module pi_heif".
        Image.open = pillow_open
    return YOLO


def is_model_config(weights: str) -> bool:
    """``yolov8n.yaml``: an ultralytics model configuration, built with random weights."""
    return weights.lower().endswith((".yaml", ".yml"))


def find_weights(weights: str) -> Path:
    """The weights file ``weights`` names: a path as given, or a bare name (``yolov8n.pt``)
    looked for in the current folder, es-visual's models folder and ultralytics' weights
    folder. Raises ``ModelUnavailableError`` saying where it looked and how to get it."""
    from es_visual.config import default_data_dir

    given = Path(weights).expanduser()
    looks_like_path = given.name != weights or weights.startswith(".")
    places = [given] if looks_like_path else [given, default_data_dir() / "models" / weights]
    for place in places:
        if place.is_file():
            return place
    if not looks_like_path:
        _import_yolo()  # its settings (and the environment it reads first) say where
        from ultralytics.utils import SETTINGS

        place = Path(SETTINGS["weights_dir"]) / weights
        if place.is_file():
            return place
        places.append(place)
    raise ModelUnavailableError(
        f"YOLO weights {weights!r} not found (looked in: {'; '.join(map(str, places))}). "
        "es-visual never downloads at run time: get the file once where there is network "
        "(an asset of the Ultralytics releases, ultralytics/assets on GitHub; or "
        f"`yolo predict model={given.name}` saves it in the current folder), then put it in "
        f"{MODELS_DIR_HINT}/ or set objects.weights in the preset to its path"
    )


class YoloDetector:
    """Objects through an ultralytics YOLO model.

    ``weights``: a ``.pt`` file (a path, or a bare name found by ``find_weights``), or an
    ultralytics model configuration (``yolov8n.yaml``, packaged with ultralytics) built
    with random weights: the tests' way to run the real code with no download (as they do
    with a tiny random CLIP); its boxes mean nothing, and a warning says so.
    ``classes`` keeps only those labels. Raises ``ModelUnavailableError`` when the
    package, torch or the weights are missing, with what to install or fetch.
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
        config = is_model_config(weights)
        # A missing file given by path fails here, before ultralytics' slow import.
        path = None if config else find_weights(weights)
        yolo = _import_yolo()
        try:
            self._model: Any = yolo(weights if path is None else str(path))
        except Exception as exc:  # a corrupt file, a config ultralytics does not know
            raise ModelUnavailableError(
                f"cannot load YOLO {'configuration' if config else 'weights'} {weights!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if config:
            _name_coco_classes(self._model)
            warn_once(
                f"random:{weights}",
                f"YOLO built from {weights} has random weights: its boxes and labels mean "
                "nothing (for tests); use a trained .pt file for real object regions",
            )
        self._lock = threading.Lock()

    def detect(self, image: Image.Image) -> list[Detection]:
        import numpy as np

        rgb = np.asarray(image.convert("RGB"))
        # ultralytics treats a numpy array as BGR (OpenCV's order).
        with self._lock:
            results = self._model.predict(
                np.ascontiguousarray(rgb[..., ::-1]),
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


def _name_coco_classes(model: Any) -> None:
    """A model built from a configuration names its classes "0".."79"; the shipped
    configurations are COCO's 80 classes, whose names ultralytics ships in coco.yaml."""
    import yaml

    inner = getattr(model, "model", None)
    names = getattr(inner, "names", None)
    if inner is None or not isinstance(names, dict) or names != {i: str(i) for i in range(80)}:
        return
    import ultralytics

    coco = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
    try:
        found = yaml.safe_load(coco.read_text(encoding="utf-8"))["names"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return
    if isinstance(found, dict) and len(found) == 80:
        inner.names = {int(k): str(v) for k, v in found.items()}


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
