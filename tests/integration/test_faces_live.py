"""Faces and people on the live engines, as on the embedded store: the same-person threshold
inside the nested kNN, same person / similar labels, ACL inside the kNN, person filters,
the people list (counts inside the ACL), merge and split rewriting documents with their
face vectors, and a face search by a real photo clustering into persons at ingest."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_backends import STORES, open_cluster

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.models.faces import SAME_PERSON
from es_visual.people.registry import PeopleRegistry
from es_visual.people.service import People
from es_visual.query.acl import AclPolicy
from es_visual.query.search import Search

FACES = "dlib-resnet@v1"
T = SAME_PERSON[FACES]
SPEC = VisualSpec(model="toy@1", dims=3, face_model=FACES, face_dims=128)
ALICE, BOB = "p00000000a1", "p00000000b0"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, live_engine_url, tmp_path: Path) -> Any:
    if request.param == "embedded":
        from es_visual.backends.embedded import EmbeddedBackend

        backend = EmbeddedBackend(tmp_path / "store")
    else:
        backend = open_cluster(request.param, live_engine_url(request.param))
    yield backend
    backend.close()


def face(cos: float, axis: int) -> list[float]:
    v = np.zeros(128)
    v[0], v[axis] = cos, np.sqrt(1 - cos**2)
    return v.tolist()


def doc(vec: list[float], person: str, acl: list[str] | None = None) -> dict[str, Any]:
    visual = {
        "model": SPEC.model,
        "media_type": "image",
        "width": 800,
        "height": 800,
        "scene": [1.0, 0.0, 0.0],
        "faces": [{"bbox": [0.1, 0.1, 0.3, 0.3], "score": 0.9, "vector": vec, "person": person}],
        "persons": [person],
    }
    body: dict[str, Any] = {"visual": visual}
    if acl is not None:
        body["acl"] = {"read": acl}
    return body


@pytest.fixture
def index(store) -> Any:
    name = f"faces-{random.randrange(10**8)}"
    store.ensure_index(name, SPEC)
    docs = {
        "same": doc(face(0.97, 1), ALICE),
        "secret": doc(face(0.98, 2), ALICE, ["user:carol"]),
        "lookalike": doc(face(0.86, 3), BOB),
        "bob2": doc(face(0.85, 4), BOB, ["user:carol"]),
    }
    result = store.bulk_update(name, [DocUpdate(i, d) for i, d in docs.items()])
    assert result.ok, result.errors
    store.refresh(name)
    yield name
    if hasattr(store, "client"):
        store.client.indices.delete(index=name)


def ids(result) -> list[str]:
    return sorted(h.id for h in result.hits)


def test_same_person_threshold_and_labels(store, index) -> None:
    s = Search(index).similar_to(vector=face(1.0, 5)).on("faces")
    found = s.execute(store)
    assert ids(found) == ["same", "secret"] and all(h.matched.same_person for h in found.hits)
    assert ids(s.as_user("dave").execute(store)) == ["same"]  # the ACL inside the kNN
    wide = s.min_score(0.5).execute(store)
    labels = {h.id: (h.matched.same_person, h.matched.person) for h in wide.hits}
    assert labels["lookalike"] == (False, BOB) and labels["same"] == (True, ALICE)


def test_person_filter_and_the_people_list(store, index, tmp_path: Path) -> None:
    registry = PeopleRegistry(tmp_path / "people.sqlite")
    registry.set_name(index, ALICE, "Alice")
    s = Search(index).with_people(registry.resolver(index))
    assert ids(s.where('person:"Alice"').execute(store)) == ["same", "secret"]
    assert ids(s.person("Alice").as_user("dave").execute(store)) == ["same"]
    people = People(store, index, registry)
    dave = AclPolicy().filter_for("dave", ())
    assert {p.id: p.assets for p in people.list(acl=dave)} == {ALICE: 1, BOB: 1}
    assert {p.id: p.assets for p in people.list()} == {ALICE: 2, BOB: 2}


def test_merge_and_split_rewrite_documents_with_their_vectors(store, index, tmp_path) -> None:
    people = People(store, index, PeopleRegistry(tmp_path / "people.sqlite"))
    into, written = people.merge(ALICE, [BOB])
    assert (into, written) == (ALICE, 2)
    assert {p.id: p.assets for p in people.list()} == {ALICE: 4}
    new, _ = people.split([("lookalike", 0)])
    store.refresh(index)
    assert {p.id: p.assets for p in people.list()} == {ALICE: 3, new: 1}
    # The rewritten faces are still searchable by their vectors.
    found = Search(index).similar_to(vector=face(0.86, 3)).on("faces").execute(store)
    assert "lookalike" in ids(found)


def test_a_face_in_a_video_has_its_segments(store, index) -> None:
    """Faces seen in a video's frames: the hit carries when the person is on screen,
    computed alike on every store (query.faces fills in what a backend leaves out)."""
    frames = [{"t": float(t), "vector": [1.0, 0.0, 0.0]} for t in range(6)]
    faces = [
        {"bbox": [0.1, 0.1, 0.3, 0.3], "t": t, "vector": face(0.97, 6), "person": ALICE}
        for t in (1.0, 2.0, 4.0)
    ]
    video = {
        "model": SPEC.model,
        "media_type": "video",
        "duration": 6.0,
        "scene": [1.0, 0.0, 0.0],
        "frames": frames,
        "faces": faces,
        "persons": [ALICE],
    }
    assert store.bulk_update(index, [DocUpdate("clip", {"visual": video})]).ok
    store.refresh(index)
    found = Search(index).similar_to(vector=face(1.0, 5)).on("faces").media("video")
    [hit] = found.execute(store).hits
    assert hit.id == "clip" and hit.matched.same_person
    assert [(s.start, s.end) for s in hit.segments] == [(1.0, 3.0), (4.0, 5.0)]
