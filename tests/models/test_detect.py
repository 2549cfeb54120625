"""YOLO object detection on the real ultralytics code, offline.

No YOLO weights can be downloaded here. Ultralytics ships its model configurations
(``yolov8n.yaml``), which build the real network with random weights, as the CLIP tests
build a tiny random CLIP. Honest limits: random weights detect nothing meaningful. Every
box scores the detection head's initial class prior (about 1.6e-4), and class 0
("person") wins, so these tests use a threshold of 1e-4 and check the code path:
boxes, labels, scores, class filters, loading a weights file by path, the offline
settings. They do not check detection quality.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from PIL import Image

from es_visual.core.errors import ModelUnavailableError
from es_visual.models.detect import Detection, Detector, YoloDetector, load_object_detector

LOW = 1e-4  # below the random head's prior: every candidate box is a detection


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory):
    """ultralytics imported with its settings in a scratch folder (it writes a settings
    file on import), or the module skipped with the reason."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo-config")))
    try:
        from es_visual.models.detect import _import_yolo

        _import_yolo()
    except ModelUnavailableError as exc:
        pytest.skip(f"the detect extra does not load here: {exc}")
    import ultralytics

    return ultralytics


@pytest.fixture(scope="module")
def detector(yolo) -> YoloDetector:
    import torch

    torch.manual_seed(0)
    return YoloDetector("yolov8n.yaml", min_score=LOW, max_detections=5, image_size=320)


@pytest.fixture(scope="module")
def astronaut(skimage_dir: Path) -> Image.Image:
    return Image.open(skimage_dir / "astronaut.png").convert("RGB")


def test_a_model_built_from_ultralytics_config_detects(detector, astronaut) -> None:
    assert isinstance(detector, Detector) and detector.name == "yolo:yolov8n"
    found = detector.detect(astronaut)
    assert 1 <= len(found) <= 5
    for det in found:
        assert isinstance(det, Detection) and det.kind == "object"
        # The configuration's 80 classes carry COCO's names (from ultralytics' coco.yaml).
        assert det.label == "person"
        assert LOW <= det.score < 0.01  # the random head's prior, not a real confidence
        x0, y0, x1, y1 = det.bbox
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    # The same picture, the same boxes: nothing random at inference.
    assert detector.detect(astronaut) == found


def test_threshold_and_classes_filter(yolo, astronaut) -> None:
    strict = YoloDetector("yolov8n.yaml", min_score=0.5, image_size=320)
    assert strict.detect(astronaut) == []  # nothing reaches a real confidence
    dogs = YoloDetector("yolov8n.yaml", min_score=LOW, classes=["dog"], image_size=320)
    assert dogs.detect(astronaut) == []  # every random box is a "person"


def test_nothing_is_fetched_and_no_host_is_asked(yolo, detector, astronaut, tmp_path) -> None:
    """YOLO_OFFLINE (set before the import) makes ultralytics skip its online check
    (a DNS lookup of public hosts) and every download; its config folder holds only its
    settings (no font or weights fetched into it)."""
    from ultralytics.utils import ONLINE, SETTINGS

    assert ONLINE is False
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    before = set(Path.cwd().iterdir())
    detector.detect(astronaut)
    assert set(Path.cwd().iterdir()) == before
    config = Path(os.environ["YOLO_CONFIG_DIR"])
    assert {p.name for p in config.rglob("*") if p.is_file()} == {"settings.json"}
    assert not any(Path(SETTINGS["weights_dir"]).glob("*.pt"))


def test_a_weights_file_loads_by_path(detector, astronaut, tmp_path: Path) -> None:
    """Real weights are a file the user fetched once: the same loading path, here with
    the random model saved as a .pt file."""
    saved = tmp_path / "my-yolo.pt"
    detector._model.save(str(saved))
    again = YoloDetector(str(saved), min_score=LOW, max_detections=5, image_size=320)
    assert again.name == "yolo:my-yolo"
    assert [(d.label, d.bbox) for d in again.detect(astronaut)] == [
        (d.label, d.bbox) for d in detector.detect(astronaut)
    ]


def test_missing_weights_say_how_to_get_them(yolo, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelUnavailableError) as info:
        YoloDetector("no-such-yolo-h20.pt")
    message = str(info.value)
    assert "never downloads" in message and "objects.weights" in message
    assert "no-such-yolo-h20.pt" in message and "looked in" in message
    assert list(tmp_path.iterdir()) == []  # nothing fetched meanwhile
    # Ingest's loader: the same words, as one warning, and no detector.
    with caplog.at_level(logging.WARNING, logger="es_visual.models.detect"):
        assert load_object_detector({"weights": "no-such-yolo-h20.pt"}) is None
    assert any("never downloads" in r.getMessage() for r in caplog.records)
