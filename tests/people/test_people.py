"""People: the registry (names, merges), the incremental clustering, and listing / merging /
splitting through the embedded store, always inside the caller's ACL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import NotFoundError, QueryError
from es_visual.people.assign import Neighbour, PersonAssigner, choose
from es_visual.people.registry import PeopleRegistry, is_person_id, new_person_id
from es_visual.people.service import People
from es_visual.query.acl import AclPolicy

FACES = "dlib-resnet@v1"
SPEC = VisualSpec(model="toy@1", dims=3, face_model=FACES, face_dims=128)
T = 0.92
ALICE, BOB, CAROL = "p00000000a1", "p00000000b0", "p00000000c0"


def vec(axis: int, wobble: float = 0.0, other: int = 127) -> list[float]:
    v = np.zeros(128)
    v[axis], v[other] = 1.0, wobble
    return (v / np.linalg.norm(v)).tolist()


def acl_for(user: str):
    return AclPolicy().filter_for(user, ())


# --- the registry ------------------------------------------------------------------------------


def test_person_ids_are_one_lowercase_token() -> None:
    pid = new_person_id()
    assert is_person_id(pid) and pid.isalnum() and pid == pid.lower()


def test_names_are_unique_and_case_insensitive(tmp_path: Path) -> None:
    reg = PeopleRegistry(tmp_path / "people.sqlite")
    reg.set_name("media", ALICE, "Alice Martin")
    assert reg.resolve("media", "alice MARTIN") == [ALICE]
    assert reg.names("media", [ALICE, BOB]) == {ALICE: "Alice Martin"}
    with pytest.raises(QueryError, match="merge"):
        reg.set_name("media", BOB, "alice martin")
    with pytest.raises(QueryError, match="person id"):
        reg.set_name("media", "alice", "Alice")
    reg.set_name("media", ALICE, None)
    assert reg.resolve("media", "Alice Martin") == []
    # Indexes are apart.
    reg.set_name("other", BOB, "Alice Martin")
    assert reg.resolve("other", "Alice Martin") == [BOB]


def test_the_registry_file_is_the_owners_only(tmp_path: Path) -> None:
    reg = PeopleRegistry.in_data_dir(tmp_path / "data")
    reg.set_name("media", ALICE, "Alice")
    assert (reg.path.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "data").stat().st_mode & 0o777) == 0o700


def test_merges_chain_and_refuse_cycles(tmp_path: Path) -> None:
    reg = PeopleRegistry(tmp_path / "people.sqlite")
    reg.mark_merged("media", CAROL, BOB)
    reg.mark_merged("media", BOB, ALICE)
    assert reg.canonical("media", CAROL) == ALICE
    assert sorted(reg.aliases("media", ALICE)) == sorted([ALICE, BOB, CAROL])
    assert sorted(reg.resolve("media", CAROL)) == sorted([ALICE, BOB, CAROL])
    with pytest.raises(QueryError, match="merged"):
        reg.mark_merged("media", ALICE, CAROL)


# --- clustering --------------------------------------------------------------------------------


def test_the_vote_picks_the_strongest_person_and_skips_taken_ones() -> None:
    votes = [Neighbour(ALICE, 0.95), Neighbour(BOB, 0.99), Neighbour(ALICE, 0.93)]
    assert choose(votes, set()) == ALICE  # two neighbours beat one closer one
    assert choose(votes, {ALICE}) == BOB
    assert choose([], set()) is None


@pytest.fixture
def store(tmp_path: Path):
    backend = EmbeddedBackend(tmp_path / "store")
    backend.ensure_index("media", SPEC)
    yield backend
    backend.close()


def image_doc(*faces: list[float], side: int = 800, **extra) -> dict:
    return {
        **extra,
        "visual": {
            "media_type": "image",
            "width": side,
            "height": side,
            "scene": [1.0, 0.0, 0.0],
            "faces": [
                {"bbox": [0.1 * i, 0.1, 0.1 * i + 0.1, 0.2], "score": 1.0, "vector": f}
                for i, f in enumerate(faces)
            ],
        },
    }


def test_ingest_batches_cluster_across_batches_and_within_pictures(store) -> None:
    assign = PersonAssigner(store, "media", face_model=FACES, threshold=T)
    first = assign([DocUpdate("a", image_doc(vec(0), vec(1)))])
    store.bulk_update("media", first)
    # b: a second photo of face 0; c: two faces of one person-like vector in one picture.
    second = assign(
        [DocUpdate("b", image_doc(vec(0, 0.1))), DocUpdate("c", image_doc(vec(2), vec(2, 0.05)))]
    )
    store.bulk_update("media", second)
    a, b, c = (store.get("media", x)["visual"] for x in "abc")
    pa = [f["person"] for f in a["faces"]]
    assert len(set(pa)) == 2 and sorted(a["persons"]) == sorted(pa)
    assert b["faces"][0]["person"] == pa[0]  # found through the store's kNN
    pc = [f["person"] for f in c["faces"]]
    assert pc[0] != pc[1]  # two faces of one picture are never one person


def test_small_faces_join_nobody(store) -> None:
    assign = PersonAssigner(store, "media", face_model=FACES, threshold=T, min_side=40)
    [update] = assign([DocUpdate("tiny", image_doc(vec(0), side=300))])  # a 30 px face
    assert "person" not in update.doc["visual"]["faces"][0]
    assert update.doc["visual"]["persons"] == []


def test_a_failure_record_keeps_the_stored_persons(store) -> None:
    assign = PersonAssigner(store, "media", face_model=FACES, threshold=T)
    failed = DocUpdate("x", {"visual": {"error": "analyze: broken"}})
    assert assign([failed]) == [failed]


def test_reingest_keeps_person_ids(store) -> None:
    assign = PersonAssigner(store, "media", face_model=FACES, threshold=T)
    store.bulk_update("media", assign([DocUpdate("a", image_doc(vec(0)))]))
    before = store.get("media", "a")["visual"]["persons"]
    again = PersonAssigner(store, "media", face_model=FACES, threshold=T)
    store.bulk_update("media", again([DocUpdate("a", image_doc(vec(0)))]))
    assert store.get("media", "a")["visual"]["persons"] == before


def test_a_merged_id_is_not_handed_out_again(store, tmp_path: Path) -> None:
    reg = PeopleRegistry(tmp_path / "people.sqlite")
    store.bulk_update(
        "media", [DocUpdate("old", _with_persons(image_doc(vec(0)), [BOB]))]
    )  # a document the merge has not rewritten yet
    reg.mark_merged("media", BOB, ALICE)
    assign = PersonAssigner(store, "media", face_model=FACES, threshold=T, registry=reg)
    [update] = assign([DocUpdate("new", image_doc(vec(0, 0.05)))])
    assert update.doc["visual"]["persons"] == [ALICE]


def _with_persons(doc: dict, persons: list[str]) -> dict:
    for face, person in zip(doc["visual"]["faces"], persons, strict=True):
        face["person"] = person
    doc["visual"]["persons"] = sorted(set(persons))
    return doc


# --- listing, merging and splitting, inside the ACL ---------------------------------------------


@pytest.fixture
def people(store, tmp_path: Path) -> People:
    docs = {
        "alice1": _with_persons(image_doc(vec(0)), [ALICE]),
        "alice2": _with_persons(image_doc(vec(0, 0.1), vec(1)), [ALICE, BOB]),
        "carol-private": _with_persons(image_doc(vec(2), acl={"read": ["user:carol"]}), [CAROL]),
        "bob-private": _with_persons(image_doc(vec(1, 0.1), acl={"read": ["user:carol"]}), [BOB]),
    }
    assert store.bulk_update("media", [DocUpdate(k, v) for k, v in docs.items()]).ok
    return People(store, "media", PeopleRegistry(tmp_path / "people.sqlite"))


def test_a_user_sees_only_persons_of_documents_they_may_read(people: People) -> None:
    everyone = {p.id: p.assets for p in people.list()}
    assert everyone == {ALICE: 2, BOB: 2, CAROL: 1}
    dave = {p.id: p for p in people.list(acl=acl_for("dave"))}
    assert set(dave) == {ALICE, BOB} and dave[BOB].assets == 1  # bob-private not counted
    assert dave[BOB].cover is not None and dave[BOB].cover.asset == "alice2"  # a readable face
    with pytest.raises(NotFoundError):
        people.get(CAROL, acl=acl_for("dave"))  # not even told carol's person exists
    assert people.get(CAROL, acl=acl_for("carol")).assets == 1


def test_naming_and_finding_by_name(people: People) -> None:
    people.name(ALICE, "Alice Martin")
    assert people.person_id("alice martin") == ALICE
    assert people.list()[0].name == "Alice Martin"  # named persons first
    with pytest.raises(NotFoundError):
        people.name("p00000000ff", "Nobody")  # no document holds that person


def test_merge_rewrites_documents_and_keeps_their_vectors(people: People, store) -> None:
    people.name(BOB, "Robert")
    into, written = people.merge(ALICE, [BOB])
    assert (into, written) == (ALICE, 2)
    doc = store.get("media", "bob-private", with_vectors=True)["visual"]
    assert doc["persons"] == [ALICE] and len(doc["faces"][0]["vector"]) == 128
    assert {p.id for p in people.list()} == {ALICE, CAROL}
    assert people.list()[0].name == "Robert"  # the unnamed target took the source's name
    assert people.person_id(BOB) == ALICE  # old links still land on the person
    with pytest.raises(QueryError):
        people.merge(ALICE, [ALICE])


def test_split_moves_faces_to_a_new_person(people: People, store) -> None:
    new, written = people.split([("alice2", 0)], name="Not Alice")
    assert written == 1 and new not in (ALICE, BOB)
    visual = store.get("media", "alice2", with_vectors=True)["visual"]
    assert [f["person"] for f in visual["faces"]] == [new, BOB]
    assert sorted(visual["persons"]) == sorted([new, BOB])
    assert len(visual["faces"][0]["vector"]) == 128
    assert people.get("Not Alice").assets == 1 and people.get(ALICE).assets == 1
    with pytest.raises(NotFoundError):
        people.split([("alice2", 7)])


def test_a_person_in_a_video_has_moments(people: People) -> None:
    source = {
        "visual": {
            "media_type": "video",
            "duration": 6.0,
            "frames": [{"t": float(t)} for t in range(6)],
            "faces": [
                {"bbox": [0.1, 0.1, 0.2, 0.2], "t": 1.0, "person": ALICE},
                {"bbox": [0.1, 0.1, 0.2, 0.2], "t": 2.0, "person": ALICE},
                {"bbox": [0.5, 0.1, 0.6, 0.2], "t": 2.0, "person": BOB},
                {"bbox": [0.1, 0.1, 0.2, 0.2], "t": 5.0, "person": ALICE},
            ],
        }
    }
    seen = people.in_asset("clip.mp4", source, ALICE)
    assert [f.index for f in seen.faces] == [0, 1, 3]
    assert [(s.start, s.end) for s in seen.segments] == [(1.0, 3.0), (5.0, 6.0)]
