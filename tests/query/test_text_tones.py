"""Colour and light by text, offline: the pixels give ``dark``, ``black and white`` and the main
colours as labels at ingest (``models.tone_concepts``); a query names them by their words
only ("sunset" is not "dark"); a backfill from vectors keeps them.

Real parts: MobileNetV2, timm's ImageNet names, all-MiniLM-L6-v2, scikit-image's photos
(the moon and the camera man are grayscale, Hubble's deep field is dark), and pictures
made here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core import labels as schema
from es_visual.models.tone_concepts import tone_labels
from es_visual.query.fieldmap import FieldMap
from es_visual.query.ranking import query_phrases
from es_visual.query.search import Search
from tests import offline_models

offline_models.require(offline_models.TIMM, offline_models.MINILM)

INDEX = "media"


def test_tones_from_pixels() -> None:
    assert dict(tone_labels(Image.new("RGB", (80, 60), (200, 20, 20)))) == {"red": 1.0}
    blue = Image.new("RGB", (80, 60), (30, 60, 220))
    blue.paste((250, 250, 250), (0, 0, 40, 60))  # half white: blue on half the picture
    assert dict(tone_labels(blue)) == {"blue": 1.0}
    night = dict(tone_labels(Image.new("RGB", (80, 60), (10, 10, 30))))
    assert night["dark"] == 1.0
    gray = dict(tone_labels(Image.new("L", (80, 60), 128).convert("RGB")))
    assert gray == {"black and white": 1.0}
    # a little colour spread thin is no colour
    assert not {"red", "green", "blue"} & set(
        dict(tone_labels(Image.new("RGB", (80, 60), (140, 128, 128))))
    )


def test_a_tone_needs_its_word() -> None:
    from es_visual.models.concepts import get_concept_matcher

    matcher = get_concept_matcher()

    def names(text: str) -> set[str]:
        return {c.name for c in matcher.match(text, parts=query_phrases(text))}

    assert "dark" in names("stars in the night sky")
    assert "dark" not in names("sunset over the lake")  # near in meaning, not said
    assert "black and white" in names("a black and white photo of a street")
    assert "red" in names("a red car") and "red" not in names("an apple")
    # a red car ranks by the car: the colour counts a tenth, refining among cars
    weights = {
        c.name: c.weight for c in matcher.match("a red car", parts=query_phrases("a red car"))
    }
    assert weights["red"] < 0.1 < weights["sports car"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("tones")
    media = root / "media"
    media.mkdir()
    for name in ("moon.png", "hubble_deep_field.jpg", "coffee.png", "rocket.jpg"):
        shutil.copyfile(skimage_dir / name, media / name)
    with Image.open(skimage_dir / "chelsea.png") as cat:
        ImageEnhance.Brightness(cat.convert("RGB")).enhance(0.25).save(media / "cat-night.jpg")
    manifest = root / "manifest.jsonl"
    manifest.write_text(
        "".join(json.dumps({"id": p.name, "path": str(p)}) + "\n" for p in sorted(media.iterdir())),
        encoding="utf-8",
    )
    from es_visual.config import Settings

    settings = Settings(data_dir=root / "store", index=INDEX, pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    pipeline = load_pipeline(settings)
    report = ingest(backend, INDEX, iter_manifest(manifest), embedder=mobilenet, pipeline=pipeline)
    assert not report.failures, report.failures
    yield backend
    backend.close()


def _labels(backend: EmbeddedBackend, doc_id: str) -> dict[str, float]:
    return dict(schema.read_pairs(backend.get(INDEX, doc_id)["visual"]))


def _top(store, text: str, n: int) -> list[str]:
    search = Search(INDEX, field_map=FieldMap.default(text_fields=()))
    return [h.id for h in search.text(text).limit(n).execute(store).hits]


def test_tones_are_labels_and_found_by_their_words(store) -> None:
    assert _labels(store, "moon.png")["black and white"] == 1.0
    assert _labels(store, "hubble_deep_field.jpg")["dark"] == 1.0
    assert _labels(store, "rocket.jpg")["blue"] > 0.5
    assert _top(store, "a black and white photo", 1) == ["moon.png"]
    assert set(_top(store, "at night", 2)) == {"hubble_deep_field.jpg", "cat-night.jpg"}
    # the scene decides, the dark refines: the cat at night before the cat by day
    assert _top(store, "a cat at night", 1) == ["cat-night.jpg"]
    found = Search(INDEX).where('labels:"black and white"').execute(store)
    assert [h.id for h in found.hits] == ["moon.png"]


def test_a_backfill_keeps_the_tones(store) -> None:
    from es_visual.ingest.labels import backfill_labels

    before = _labels(store, "hubble_deep_field.jpg")
    report = backfill_labels(store, INDEX, force=True)
    assert report.failed == 0 and report.labelled == 5
    after = _labels(store, "hubble_deep_field.jpg")
    assert after["dark"] == before["dark"] and after.keys() == before.keys()
