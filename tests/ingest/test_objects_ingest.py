"""Object regions end to end, as a user runs them: `es-visual ingest --pipeline` with the
shipped `objects` preset (the offline MobileNetV2 scene model + ultralytics YOLO), then
search by a detected region, filter by region label, and read `stats`.

The YOLO network is built from ultralytics' own model configuration (``yolov8n.yaml``)
with random weights, because no weights can be downloaded here (see
tests/models/test_detect.py). Its boxes are the random head's prior, all labelled
"person" at a score of about 1.6e-4. The preset is the shipped one with only
``weights`` and ``min_score`` changed, and the tests check what ingest and search do
with detections: regions with labels, boxes, scores and vectors, times in videos,
search and filters. They do not check what YOLO sees.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from es_visual.cli import cli
from es_visual.core.errors import ModelUnavailableError
from es_visual.ingest.presets import PACKAGED_DIR

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png")
VIDEO = "slideshow.mp4"  # horse 0-1 s, motorcycle 1-2 s


def invoke(data_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path) -> Path:
    """The store after `ingest --pipeline <objects preset, random YOLO>`."""
    root = tmp_path_factory.mktemp("objects")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "yolo-config"))
    try:
        from es_visual.models.detect import _import_yolo

        _import_yolo()
    except ModelUnavailableError as exc:
        pytest.skip(f"the detect extra does not load here: {exc}")
    from es_visual.demo import write_slideshow

    media = root / "media"
    media.mkdir()
    for name in PHOTOS:
        shutil.copyfile(skimage_dir / name, media / name)
    shots = [skimage_dir / "horse.png", skimage_dir / "motorcycle_left.png"]
    write_slideshow(media / VIDEO, shots, secs=1.0, fps=5, size=(320, 208))
    preset = yaml.safe_load((PACKAGED_DIR / "objects.yaml").read_text())
    preset["objects"].update(weights="yolov8n.yaml", min_score=1e-4, max_regions=3)
    preset["video"].update(sampling="fps=1", detect_side=320)
    (root / "objects.yaml").write_text(yaml.safe_dump(preset))
    result = invoke(root / "store", "ingest", str(media), "--pipeline",
                    str(root / "objects.yaml"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] == 4 and report["failed"] == 0, report
    return root / "store"


def _doc(store: Path, doc_id: str) -> dict:
    from es_visual.backends.embedded import EmbeddedBackend

    with EmbeddedBackend(store) as backend:
        doc = backend.get("media", doc_id, with_vectors=True)
    assert doc is not None
    return doc["visual"]


def test_regions_carry_labels_boxes_scores_and_vectors(ingested: Path) -> None:
    visual = _doc(ingested, "astronaut.png")
    assert visual["pipeline"] == "objects"
    regions = visual["regions"]
    assert 1 <= len(regions) <= 3
    for region in regions:
        assert region["kind"] == "object" and region["label"] == "person"
        assert 0 < region["score"] < 0.01  # the random head's prior (see the module doc)
        x0, y0, x1, y1 = region["bbox"]
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
        assert len(region["vector"]) == 1280  # the crop, embedded by the scene model
        assert "t" not in region


def test_a_videos_regions_carry_their_frame_times(ingested: Path) -> None:
    visual = _doc(ingested, VIDEO)
    frame_times = {f["t"] for f in visual["frames"]}
    assert len(frame_times) >= 2
    times = {r["t"] for r in visual["regions"]}
    assert times and times <= frame_times and len(times) >= 2  # regions in several frames


def test_search_by_a_detected_region_with_a_label_filter(ingested: Path) -> None:
    region = _doc(ingested, "astronaut.png")["regions"][0]
    box = ",".join(str(v) for v in region["bbox"])
    result = invoke(ingested, "search", "--region", f"astronaut.png:{box}", "--on", "regions",
                    "--where", "regions.label:person", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    hits = {h["id"]: h for h in body["hits"]}
    assert set(hits) == {"chelsea.png", "coffee.png", VIDEO}  # the query's own asset left out
    for hit in hits.values():
        assert hit["matched"]["kind"] == "region" and hit["matched"]["label"] == "person"
    video = hits[VIDEO]
    assert video["matched"]["t"] is not None and video["segments"]
    # No region has another label: the same search for dogs finds nothing.
    result = invoke(ingested, "search", "--region", f"astronaut.png:{box}", "--on", "regions",
                    "--where", "regions.label:dog", "--json")  # fmt: skip
    assert json.loads(result.stdout)["hits"] == []


def test_stats_counts_regions_and_names_their_preset(ingested: Path) -> None:
    stats = json.loads(invoke(ingested, "stats", "--json").stdout)
    assert stats["vectors"]["regions"] >= 4 and stats["vectors"]["faces"] == 0
    assert stats["vector_presets"]["regions"] == {"objects": 4}
    assert stats["vector_presets"]["frames"] == {"objects": 1}
