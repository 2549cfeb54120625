"""Face searches: the same-person threshold by default, same person vs similar, search by
a photo (one face, several, none) and person filters, on the embedded store.

Thresholds and labels use toy 128-d vectors of known cosines (fast, exact); searching
by a photo uses the real dlib model on scikit-image's two real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import AmbiguousFaceError, NoFaceError, QueryError
from es_visual.models.faces import SAME_PERSON
from es_visual.people.registry import PeopleRegistry
from es_visual.query.execute import plan
from es_visual.query.search import Search

FACES = "dlib-resnet@v1"
T = SAME_PERSON[FACES]
SPEC = VisualSpec(model="toy@1", dims=3, face_model=FACES, face_dims=128)


def face(cos: float, axis: int = 1) -> list[float]:
    """A unit 128-d vector whose cosine with the query (e0) is ``cos``."""
    v = np.zeros(128, dtype=np.float64)
    v[0], v[axis] = cos, np.sqrt(max(0.0, 1 - cos**2))
    return v.tolist()


QUERY = face(1.0)


@pytest.fixture
def backend(tmp_path: Path):
    store = EmbeddedBackend(tmp_path / "store")
    store.ensure_index("media", SPEC)
    box, other = [0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7]
    alice, lookalike, stranger = "p0000000001", "p0000000002", "p0000000003"
    docs = {
        "same": {"faces": [{"bbox": box, "vector": face(0.97), "person": alice}]},
        "edge": {"faces": [{"bbox": box, "vector": face(T + 0.005, 2), "person": alice}]},
        "lookalike": {"faces": [{"bbox": other, "vector": face(0.86, 3), "person": lookalike}]},
        "stranger": {"faces": [{"bbox": other, "vector": face(0.40, 4), "person": stranger}]},
        "secret": {
            "acl": {"read": ["user:carol"]},
            "faces": [{"bbox": box, "vector": face(0.99, 5), "person": alice}],
        },
    }
    updates = []
    for doc_id, body in docs.items():
        faces = body["faces"]
        visual = {
            "media_type": "image",
            "scene": [1.0, 0.0, 0.0],
            "faces": faces,
            "persons": sorted({f["person"] for f in faces}),
        }
        updates.append(
            DocUpdate(doc_id, {"acl": body.get("acl", {"read": ["public"]}), "visual": visual})
        )
    assert store.bulk_update("media", updates).ok
    store.refresh("media")
    yield store
    store.close()


def ids(result) -> list[str]:
    return [h.id for h in result.hits]


def test_a_face_search_uses_the_same_person_threshold_by_default(backend) -> None:
    s = Search("media").similar_to(vector=QUERY).on("faces").limit(10)
    [request] = plan(s, backend)
    assert request.vector is not None and request.vector.min_similarity == T
    result = s.execute(backend)
    assert ids(result) == ["secret", "same", "edge"]  # no look-alike, no stranger
    assert all(h.matched.same_person for h in result.hits)


def test_a_lower_min_score_shows_similar_faces_labelled_as_such(backend) -> None:
    result = Search("media").similar_to(vector=QUERY).on("faces").min_score(0.5).execute(backend)
    labels = {h.id: h.matched.same_person for h in result.hits}
    assert labels == {"secret": True, "same": True, "edge": True, "lookalike": False}
    lookalike = next(h for h in result.hits if h.id == "lookalike")
    assert lookalike.matched.person == "p0000000002"
    assert lookalike.matched.to_dict()["same_person"] is False


def test_a_higher_min_score_is_kept(backend) -> None:
    result = Search("media").similar_to(vector=QUERY).on("faces").min_score(0.98).execute(backend)
    assert ids(result) == ["secret"]


def test_the_threshold_applies_inside_the_acl(backend) -> None:
    s = Search("media").similar_to(vector=QUERY).on("faces").as_user("bob")
    assert ids(s.execute(backend)) == ["same", "edge"]


def test_a_stored_face_search_is_thresholded_too(backend) -> None:
    result = Search("media").similar_to(face=("same", 0)).execute(backend)
    # secret: 0.97 x 0.99 ~ 0.96 (same person); edge: 0.97 x 0.925 ~ 0.90 (only similar)
    assert ids(result) == ["secret"]  # and the asset itself is left out


def test_an_unknown_face_model_has_no_threshold(tmp_path: Path) -> None:
    store = EmbeddedBackend(tmp_path / "other")
    store.ensure_index("media", VisualSpec("toy@1", 3, "other-faces@1", 128))
    store.bulk_update(
        "media",
        [
            DocUpdate(
                "x",
                {
                    "visual": {
                        "scene": [1.0, 0, 0],
                        "faces": [{"bbox": [0, 0, 1, 1], "vector": face(0.3)}],
                    }
                },
            )
        ],
    )
    result = Search("media").similar_to(vector=QUERY).on("faces").execute(store)
    assert ids(result) == ["x"] and result.hits[0].matched.same_person is None


def test_person_filters_resolve_names_through_the_registry(backend, tmp_path: Path) -> None:
    registry = PeopleRegistry(tmp_path / "people.sqlite")
    registry.set_name("media", "p0000000001", "Alice Martin")
    s = Search("media").with_people(registry.resolver("media"))
    assert sorted(ids(s.where('person:"alice martin"').execute(backend))) == [
        "edge",
        "same",
        "secret",
    ]
    assert sorted(ids(s.person("Alice Martin").as_user("bob").execute(backend))) == ["edge", "same"]
    assert ids(s.where('person:"Nobody Here"').execute(backend)) == []
    assert sorted(ids(s.where('NOT person:"Alice Martin"').execute(backend))) == [
        "lookalike",
        "stranger",
    ]
    # An id works with or without a registry.
    assert sorted(ids(Search("media").where("person:p0000000002").execute(backend))) == [
        "lookalike"
    ]


def test_person_names_follow_merges(backend, tmp_path: Path) -> None:
    registry = PeopleRegistry(tmp_path / "people.sqlite")
    registry.set_name("media", "p0000000001", "Alice Martin")
    registry.mark_merged("media", "p0000000002", "p0000000001")
    s = Search("media").with_people(registry.resolver("media"))
    found = sorted(ids(s.where('person:"Alice Martin"').execute(backend)))
    assert found == ["edge", "lookalike", "same", "secret"]  # the merged id's documents too
    assert registry.resolve("media", "p0000000002") == registry.resolve("media", "p0000000001")


def test_query_face_needs_an_image() -> None:
    with pytest.raises(QueryError, match="similar_to\\(image"):
        Search("media").query_face(1)
    with pytest.raises(QueryError):
        Search("media").similar_to(image=Image.new("RGB", (8, 8))).query_face(-1)


# --- by a photo, with the real dlib model ----------------------------------------------------


@pytest.fixture(scope="module")
def photos(skimage_dir: Path):
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    camera = Image.open(skimage_dir / "camera.png").convert("RGB")
    both = Image.new("RGB", (1024, 512))
    both.paste(astronaut, (0, 0))
    both.paste(camera, (512, 0))
    cat = Image.open(skimage_dir / "chelsea.png").convert("RGB")
    return astronaut, camera, both, cat


@pytest.fixture(scope="module")
def face_store(tmp_path_factory, photos):
    """astronaut and camera ingested as faces (their real dlib vectors)."""
    from es_visual.models.faces import get_face_model

    model = get_face_model()
    store = EmbeddedBackend(tmp_path_factory.mktemp("faces") / "store")
    store.ensure_index("media", SPEC)
    updates = []
    for name, image in zip(("astronaut", "camera"), photos[:2], strict=True):
        found = model.detect(image)
        visual = {
            "media_type": "image",
            "scene": [1.0, 0, 0],
            "faces": [f.to_dict() for f in found],
        }
        updates.append(DocUpdate(name, {"visual": visual}))
    assert store.bulk_update("media", updates).ok
    yield store
    store.close()


def test_search_faces_by_a_photo_with_one_face(face_store, photos) -> None:
    astronaut = photos[0]
    query = ImageOps.mirror(astronaut).resize((384, 384))
    result = Search("media").similar_to(image=query).on("faces").execute(face_store)
    assert ids(result) == ["astronaut"] and result.hits[0].matched.same_person


def test_a_photo_with_several_faces_asks_which_one(face_store, photos) -> None:
    both = photos[2]
    s = Search("media").similar_to(image=both).on("faces")
    with pytest.raises(AmbiguousFaceError) as raised:
        s.execute(face_store)
    faces = raised.value.faces
    assert len(faces) == 2 and {"index", "bbox", "score"} <= set(faces[0])
    boxes = {f["index"]: f["bbox"] for f in faces}
    left = next(i for i, b in boxes.items() if b[2] < 0.5)  # the astronaut's half
    assert ids(s.query_face(left).execute(face_store)) == ["astronaut"]
    assert ids(s.query_face(1 - left).execute(face_store)) == ["camera"]
    with pytest.raises(QueryError, match="no face #5"):
        s.query_face(5).execute(face_store)


def test_a_photo_without_a_face_says_so(face_store, photos) -> None:
    with pytest.raises(NoFaceError, match="no face was found"):
        Search("media").similar_to(image=photos[3]).on("faces").execute(face_store)
