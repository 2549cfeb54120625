"""dlib faces on real photos, and the detector protocol around them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from es_visual.models.detect import Detector, FaceDetector, load_object_detector
from es_visual.models.faces import Face, get_face_model, models_dir


@pytest.fixture(scope="module")
def faces():
    return get_face_model()


def photo(skimage_dir: Path, name: str) -> Image.Image:
    return Image.open(skimage_dir / name).convert("RGB")


def face_query(astronaut: Image.Image, bbox) -> Image.Image:
    """The astronaut's head cut out with a margin, mirrored and enlarged 1.5x."""
    w, h = astronaut.size
    x0, y0, x1, y1 = bbox
    box = (int((x0 - 0.1) * w), int((y0 - 0.15) * h), int((x1 + 0.1) * w), int((y1 + 0.1) * h))
    head = ImageOps.mirror(astronaut.crop(box))
    return head.resize((head.width * 3 // 2, head.height * 3 // 2))


def test_model_files_are_found_by_path() -> None:
    folder = models_dir()
    assert (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file()


@pytest.mark.parametrize(
    ("name", "centre"),
    [("astronaut.png", (0.43, 0.24)), ("camera.png", (0.45, 0.30))],
)
def test_one_face_is_found(faces, skimage_dir: Path, name: str, centre) -> None:
    found = faces.detect(photo(skimage_dir, name))
    assert len(found) == 1
    face = found[0]
    x0, y0, x1, y1 = face.bbox
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1
    assert 0.05 < x1 - x0 < 0.4
    assert face.vector.shape == (128,) and face.vector.dtype == np.float32
    assert np.linalg.norm(face.vector) == pytest.approx(1.0, abs=1e-5)


def test_no_face_in_a_cat_or_a_cup(faces, skimage_dir: Path) -> None:
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        assert faces.detect(photo(skimage_dir, name)) == [], name


def test_mirrored_rescaled_face_matches_its_owner(faces, skimage_dir: Path) -> None:
    astronaut = photo(skimage_dir, "astronaut.png")
    [ref] = faces.detect(astronaut)
    [other] = faces.detect(photo(skimage_dir, "camera.png"))
    [query] = faces.detect(face_query(astronaut, ref.bbox))
    same, different = float(query.vector @ ref.vector), float(query.vector @ other.vector)
    assert same > 0.95 and same > different + 0.1


def test_face_detector_fits_the_detector_protocol(faces, skimage_dir: Path) -> None:
    detector = FaceDetector(faces)
    assert isinstance(detector, Detector)
    [det] = detector.detect(photo(skimage_dir, "astronaut.png"))
    assert det.kind == "face" and det.label is None and len(det.bbox) == 4


def test_to_dict_is_json_ready() -> None:
    face = Face((0.1, 0.2, 0.3, 0.4), 1.23456, np.ones(128, np.float32) / np.sqrt(128))
    d = face.to_dict()
    assert d["bbox"] == [0.1, 0.2, 0.3, 0.4] and d["score"] == 1.2346
    assert isinstance(d["vector"][0], float) and len(d["vector"]) == 128


def test_missing_object_detector_warns_once_and_returns_none(caplog) -> None:
    # A weights path that does not exist fails before ultralytics is even imported.
    options = {"weights": "/nonexistent/yolo.pt"}
    with caplog.at_level(logging.WARNING, logger="es_visual.models.detect"):
        assert load_object_detector(options) is None
        assert load_object_detector(options) is None
    warnings = [r for r in caplog.records if "object regions are off" in r.getMessage()]
    assert len(warnings) == 1
    assert "yolo.pt" in warnings[0].getMessage()


def test_missing_ultralytics_is_explained(caplog) -> None:
    try:
        import ultralytics  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("ultralytics is installed here: the missing-package path cannot be seen")
    with caplog.at_level(logging.WARNING, logger="es_visual.models.detect"):
        assert load_object_detector({"weights": "yolov8n.pt"}) is None
    assert any("es-visual[detect]" in r.getMessage() for r in caplog.records)


def test_concurrent_detections_match_serial_ones(skimage_dir: Path) -> None:
    """Ingest calls detect from several threads at once; each call borrows its own set of
    dlib objects (they keep scratch buffers), so answers must equal one-at-a-time ones."""
    from concurrent.futures import ThreadPoolExecutor

    from es_visual.models.faces import FaceModel

    model = FaceModel(detector="hybrid")
    pictures = [photo(skimage_dir, n) for n in ("astronaut.png", "camera.png", "chelsea.png")] * 3
    serial = [[f.bbox for f in model.detect(p)] for p in pictures]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda p: [f.bbox for f in model.detect(p)], pictures))
    assert together == serial
    assert sum(map(len, serial)) == 6  # one face in each astronaut and camera picture
    assert model._made <= model._max_sets  # bounded: never more sets than cores


# --- the default pipeline: libfacedetection + dlib's descriptor run by torch ------------------


def test_the_torch_descriptor_is_dlibs_own(skimage_dir: Path) -> None:
    """The same network and weights: vectors equal to dlib's to float rounding, so indexes,
    thresholds and persons made with either stay valid."""
    from es_visual.models.faces import FaceModel

    by_dlib = FaceModel(detector="hybrid", encoder="dlib")
    by_torch = FaceModel(detector="hybrid", encoder="torch")
    for name in ("astronaut.png", "camera.png"):
        image = photo(skimage_dir, name)
        [a], [b] = by_dlib.detect(image), by_torch.detect(image)
        assert a.bbox == b.bbox
        assert float(a.vector @ b.vector) > 0.9999
        assert a.norm == pytest.approx(b.norm, rel=1e-4)


def test_the_weights_reader_refuses_other_files(tmp_path: Path) -> None:
    from es_visual.models.dlib_resnet import read_weights

    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x05con_4" + bytes(64))
    with pytest.raises(ValueError):
        read_weights(other)
    with pytest.raises(ValueError, match="not dlib's face ResNet"):
        read_weights(models_dir() / "mmod_human_face_detector.dat")


def test_yunet_finds_the_faces_and_no_others(skimage_dir: Path) -> None:
    from es_visual.models.faces import FaceModel

    model = FaceModel(detector="yunet")
    assert model.detector_kind == "yunet"
    for name, centre in (("astronaut.png", (0.43, 0.24)), ("camera.png", (0.45, 0.30))):
        [face] = model.detect(photo(skimage_dir, name))
        x0, y0, x1, y1 = face.bbox
        assert x0 < centre[0] < x1 and y0 < centre[1] < y1 and 0.5 <= face.score <= 1.0
    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "horse.png"):
        assert model.detect(photo(skimage_dir, name)) == [], name


def test_yunet_boxes_give_the_vectors_of_dlibs_boxes(skimage_dir: Path) -> None:
    """Its boxes are mapped to dlib's shape, so a face found either way is the same person
    by a wide margin (the threshold is 0.92)."""
    from es_visual.models.faces import FaceModel

    yunet, hybrid = FaceModel(detector="yunet"), FaceModel(detector="hybrid")
    for name in ("astronaut.png", "camera.png"):
        [a], [b] = yunet.detect(photo(skimage_dir, name)), hybrid.detect(photo(skimage_dir, name))
        assert float(a.vector @ b.vector) > 0.97


def test_yunet_finds_small_faces_in_small_pictures(skimage_dir: Path) -> None:
    """A 96 px thumbnail of the astronaut (her face ~17 px): enlarged before detection."""
    from es_visual.models.faces import FaceModel

    small = photo(skimage_dir, "astronaut.png").resize((96, 96))
    assert len(FaceModel(detector="yunet").detect(small)) == 1


_FIRST_CALLS = """
import threading
from PIL import Image
from es_visual.models.faces import FaceModel

model = FaceModel(detector="yunet")
image = Image.new("RGB", (200, 200), "gray")
barrier = threading.Barrier(8)

def first_call():
    barrier.wait()
    model.detect(image)

threads = [threading.Thread(target=first_call) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


def test_first_detections_from_many_threads_at_once_never_hang() -> None:
    """The analysis threads of an ingest detect faces at once from the start: each
    pybind11 module (yuface, dlib) must be set up by one thread first, or two first calls
    deadlock (seen: an ingest idle for good). A fresh interpreter each time: the setup
    happens once per process. Racy by nature; without the warm-up about half such runs
    of bare yuface calls hung here."""
    import subprocess
    import sys

    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_CALLS], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and "done" in done.stdout, done.stderr[-2000:]
