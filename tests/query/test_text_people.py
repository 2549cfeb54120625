"""People by text, offline: the faces the default preset finds become the concepts ``person``,
``people`` and ``portrait`` (ImageNet has no class for a person), so "a group of people" and
"someone" find photos of people; and a query naming several things is matched phrase by
phrase ("people playing cards" names people, which the sentence as a whole does not).

Real parts: the offline preset (YuNet faces, dlib vectors, MobileNetV2), timm's ImageNet
names, all-MiniLM-L6-v2, scikit-image's photos; the group photo is made here from the
astronaut's portrait, four times, two of them mirrored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.config import Settings
from es_visual.core import labels as schema
from es_visual.models.people_concepts import face_labels
from es_visual.query.fieldmap import FieldMap
from es_visual.query.ranking import query_phrases
from es_visual.query.search import Search
from tests import offline_models

offline_models.require(offline_models.TIMM, offline_models.MINILM)

INDEX = "media"


def test_face_concepts_from_faces() -> None:
    one_big = [{"score": 0.9, "bbox": [0.3, 0.2, 0.6, 0.55]}]
    assert dict(face_labels(one_big)) == {"person": 0.9, "portrait": 0.9}
    one_small = [{"score": 0.8, "bbox": [0.5, 0.5, 0.55, 0.56]}]
    assert dict(face_labels(one_small)) == {"person": 0.8}  # a passer-by: no portrait
    two = [{"score": 0.9, "bbox": [0.1, 0.1, 0.2, 0.2]}, {"score": 0.7, "bbox": [0, 0, 0.1, 0.1]}]
    assert dict(face_labels(two)) == {"person": 0.9, "couple": 0.8}  # two are not a group
    crowd = [{"score": 0.9, "bbox": [0, 0, 0.05, 0.05]}] * 6
    assert dict(face_labels(crowd)) == {"person": 0.9, "people": 0.9}
    # best first (ties by name); a face without a usable score counts for nothing
    assert face_labels(crowd) == [("people", 0.9), ("person", 0.9)]
    assert face_labels([{"bbox": [0, 0, 1, 1]}, {"score": "high"}]) == []


def test_query_phrases_split_at_stopwords() -> None:
    assert query_phrases("people playing cards") == (
        "people",
        "playing",
        "cards",
        "people playing",
        "playing cards",
    )
    assert query_phrases("a pen and a lighter on a table") == ("pen", "lighter", "table")
    assert query_phrases("a cat") == ("cat",)


def test_a_phrase_names_what_the_sentence_hides() -> None:
    from es_visual.models.concepts import get_concept_matcher

    matcher = get_concept_matcher()

    def weights(text: str, parts: bool = True) -> dict[str, float]:
        found = matcher.match(text, parts=query_phrases(text) if parts else ())
        return {c.name: c.weight for c in found}

    # the sentence's vector is all fish; "cartoon" alone names the comic book
    assert "comic book" not in weights("a cartoon fish", parts=False)
    assert "comic book" in weights("a cartoon fish")
    assert "desk" in weights("a pen and a lighter on a table")
    # "pet" alone names the dogs; next to "kitten" they stay below every cat
    kitten = weights("my pet kitten")
    cats = [kitten[c] for c in ("tabby", "Egyptian cat", "tiger cat")]
    dogs = [w for n, w in kitten.items() if n in {"Pekinese", "Chihuahua", "Maltese dog"}]
    assert min(cats) > max(dogs, default=0.0)


def test_faces_weigh_in_full_only_when_the_query_is_about_people() -> None:
    from es_visual.models.concepts import get_concept_matcher
    from es_visual.models.people_concepts import WEIGHT

    matcher = get_concept_matcher()

    def weights(text: str) -> dict[str, float]:
        return {c.name: c.weight for c in matcher.match(text, parts=query_phrases(text))}

    group = weights("a group of people")
    assert max(group, key=group.__getitem__) == "people" and group["people"] > 0.6
    assert weights("a selfie")["portrait"] > 0.6
    assert weights("my family")["people"] > 0.6
    # "someone" names WordNet's kind person.n.01, under which the face concepts sit
    someone = matcher.match("someone")
    assert {c.name: c.via for c in someone}["person"] == "person"
    assert weights("someone")["person"] == max(weights("someone").values())
    # about a computer: the faces count WEIGHT of their similarity, below the computer
    desk = weights("someone at a computer")
    assert desk["person"] < WEIGHT and desk["desktop computer"] > 0.5


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("people-text")
    media = root / "media"
    media.mkdir()
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB").resize((256, 256))
    group = Image.new("RGB", (1024, 256), "white")
    for i in range(4):
        shot = ImageOps.mirror(astronaut) if i % 2 else astronaut
        group.paste(shot, (256 * i, 0))
    group.save(media / "team.jpg", quality=92)
    group.crop((0, 0, 512, 256)).save(media / "pair.jpg", quality=92)
    shutil.copyfile(skimage_dir / "astronaut.png", media / "eileen.png")
    shutil.copyfile(skimage_dir / "coffee.png", media / "coffee.png")
    shutil.copyfile(skimage_dir / "chelsea.png", media / "cat.png")
    manifest = root / "manifest.jsonl"
    manifest.write_text(
        "".join(json.dumps({"id": p.name, "path": str(p)}) + "\n" for p in sorted(media.iterdir())),
        encoding="utf-8",
    )
    settings = Settings(data_dir=root / "store", index=INDEX, pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        INDEX,
        iter_manifest(manifest),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
    )
    assert not report.failures, report.failures
    yield backend
    backend.close()


def _labels(backend: EmbeddedBackend, doc_id: str) -> dict[str, float]:
    return dict(schema.read_pairs(backend.get(INDEX, doc_id)["visual"]))


def test_faces_become_labels_at_ingest(store) -> None:
    team, eileen = _labels(store, "team.jpg"), _labels(store, "eileen.png")
    assert len(store.get(INDEX, "team.jpg")["visual"]["faces"]) >= 3
    assert team["people"] >= 0.6 and team["person"] >= 0.6 and "portrait" not in team
    assert eileen["person"] >= 0.6 and eileen["portrait"] >= 0.3
    assert not {"people", "couple"} & set(eileen)
    assert not {"person", "people", "portrait"} & set(_labels(store, "coffee.png"))
    # filterable like any label
    found = Search(INDEX).where("labels:people").execute(store)
    assert [h.id for h in found.hits] == ["team.jpg"]


def _top(store, text: str, n: int) -> list[str]:
    search = Search(INDEX, field_map=FieldMap.default(text_fields=()))
    return [h.id for h in search.text(text).limit(n).execute(store).hits]


def test_people_are_found_by_text(store) -> None:
    assert _top(store, "a group of people", 1) == ["team.jpg"]
    assert set(_top(store, "someone", 3)) == {"team.jpg", "pair.jpg", "eileen.png"}
    assert _top(store, "a portrait of a woman", 1) == ["eileen.png"]
    assert _top(store, "a couple", 1) == ["pair.jpg"]
    assert _top(store, "friends posing for a photo together", 1) == ["team.jpg"]


def test_backfill_gives_the_same_face_concepts(store) -> None:
    from es_visual.ingest.labels import backfill_labels

    before = {d: _labels(store, d) for d in ("team.jpg", "eileen.png", "cat.png")}
    report = backfill_labels(store, INDEX, force=True)
    assert report.failed == 0 and report.labelled == 5
    faces = ("person", "people", "couple", "portrait")
    for doc_id, labels in before.items():
        after = _labels(store, doc_id)
        assert {k: after[k] for k in faces if k in after} == {
            k: labels[k] for k in faces if k in labels
        }


def test_a_backfill_names_the_faces_of_documents_labelled_before(store) -> None:
    """An index labelled before faces gave concepts: a plain backfill (no --force) finds
    the documents with faces and no ``person`` and labels them; the others are left."""
    from es_visual.core.documents import DocUpdate
    from es_visual.ingest.labels import backfill_labels

    visual = store.get(INDEX, "eileen.png")["visual"]
    old = [(n, s) for n, s in schema.read_pairs(visual) if n not in {"person", "portrait"}]
    store.bulk_update(INDEX, [DocUpdate("eileen.png", {"visual": schema.label_fields(old)})])
    store.refresh(INDEX)
    assert "person" not in _labels(store, "eileen.png")
    report = backfill_labels(store, INDEX)
    assert report.seen == 1 and report.labelled == 1
    assert _labels(store, "eileen.png")["person"] >= 0.6
    assert backfill_labels(store, INDEX).seen == 0  # idempotent
