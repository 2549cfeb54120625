"""The Search builder: the SearchRequest it produces, and that chaining never mutates."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest

from es_visual.config import Settings
from es_visual.core.cursor import bind_cursor, encode_cursor
from es_visual.core.errors import CursorError, QueryError, QuerySyntaxError, UnknownFieldError
from es_visual.core.ir import (
    And,
    Exists,
    Ids,
    Match,
    MatchAll,
    Not,
    Or,
    Range,
    SearchRequest,
    Sort,
    Term,
    Terms,
    VectorQuery,
)
from es_visual.query.acl import AclPolicy
from es_visual.query.fieldmap import FieldMap
from es_visual.query.search import Search

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)
ALICE_ACL = Or(
    (
        Terms("acl.read", ("user:alice", "group:design", "public")),
        Not(Exists("acl.read", as_written=True)),
    )
)


def test_metadata_search_request() -> None:
    s = (
        Search("media")
        .where("tags=kitten AND uploaded_at>7d")
        .where("width>=1024")
        .filter(folder="trips", tags=["a", "b"])
        .media("image")
        .as_user("alice", groups=["design"])
        .sort_by("uploaded_at", "desc")
        .sort_by("_score")
        .limit(30)
        .aggregate("tags", "media_type", size=5)
        .with_fields(["tags", "width", "title"])
    )
    assert s.to_request(now=NOW) == SearchRequest(
        index="media",
        filter=And(
            (
                Term("tags", "kitten"),
                Range("uploaded_at", gt="2024-05-03T12:00:00Z"),
                Range("visual.width", gte=1024),
                Term("folder", "trips"),
                Terms("tags", ("a", "b")),
                Term("visual.media_type", "image"),
            )
        ),
        acl=ALICE_ACL,
        size=30,
        sort=(Sort("uploaded_at", "desc"), Sort("_score", "asc")),
        fields=("tags", "visual.width", "title"),
        aggregations=("tags", "visual.media_type"),
        aggregation_size=5,
    )


def test_vector_search_request() -> None:
    s = (
        Search("media")
        .where("tags:beach")
        .similar_to(vector=[1, 0, 0.5])
        .on("regions")
        .min_score(0.25)
        .limit(7)
    )
    assert s.to_request(now=NOW) == SearchRequest(
        index="media",
        filter=Term("tags", "beach"),
        vector=VectorQuery(
            vector=(1.0, 0.0, 0.5), target="regions", k=7, num_candidates=100, min_similarity=0.25
        ),
        size=7,
    )
    assert s.candidates(500).limit(200).to_request().vector.num_candidates == 500  # type: ignore[union-attr]
    assert s.limit(200).to_request().vector.num_candidates == 2000  # type: ignore[union-attr]


def test_chaining_never_changes_the_original() -> None:
    def build() -> Search:
        return Search("media").where("tags=a").as_user("alice", groups=["design"])

    base = build()
    before_request = base.to_request(now=NOW)
    derived = [
        base.where("width>3"),
        base.filter(folder="x"),
        base.similar_to(vector=[1.0, 2.0]),
        base.similar_to(vector=[1.0, 2.0]).on("frames").min_score(0.5),
        base.media("video"),
        base.as_user("bob"),
        base.as_user(None),
        base.sort_by("width", "desc"),
        base.limit(3),
        base.after(bind_cursor(encode_cursor([1, "x"]), before_request)),
        base.aggregate("tags"),
        base.with_fields(["tags"]),
        base.with_field_map(FieldMap.default().with_fields({"tags": "labels"})),
    ]
    assert base.candidates(300) != base and base.with_field_map(FieldMap.default()) == base
    assert base == build() and base.to_request(now=NOW) == before_request
    assert copy.deepcopy(base) == base
    for other in derived:
        assert other is not base and other.to_request(now=NOW, vector=[0.0, 1.0]) != before_request
    with pytest.raises(AttributeError):
        base.index = "other"  # type: ignore[misc]


def test_each_step_is_independent() -> None:
    base = Search("media").limit(5)
    a, b = base.where("tags=a"), base.where("tags=b")
    assert a.to_request().filter == Term("tags", "a")
    assert b.to_request().filter == Term("tags", "b")
    assert base.to_request().filter == MatchAll()


def test_filter_exact_values_by_type() -> None:
    s = Search().filter(
        width=640,
        duration="2.5",
        uploaded_at=date(2024, 1, 2),
        created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        caption="red sunset",
        id=["a", "b"],
        error=None,
    )
    assert s.to_request().filter == And(
        (
            Term("visual.width", 640),
            Term("visual.duration", 2.5),
            Term("uploaded_at", "2024-01-02T00:00:00Z"),
            Term("created_at", "2024-01-02T03:04:05Z"),
            Match("caption", "red sunset", phrase=True),
            Ids(("a", "b")),
            Not(Exists("visual.error")),
        )
    )
    assert Search().filter(**{"visual.width": 3}).to_request().filter == Term("visual.width", 3)
    with pytest.raises(QueryError, match="width"):
        Search().filter(width="wide")
    with pytest.raises(UnknownFieldError):
        Search().filter(colour="red")


def test_errors_surface_when_building() -> None:
    with pytest.raises(QuerySyntaxError):
        Search().where("tags:(")
    with pytest.raises(UnknownFieldError):
        Search().where("colour:red")
    with pytest.raises(QueryError):
        Search().where("width>wide")
    with pytest.raises(QueryError, match="exactly one"):
        Search().similar_to(text="a", vector=[1.0])
    with pytest.raises(QueryError, match="exactly one"):
        Search().similar_to()
    with pytest.raises(QueryError, match="bbox"):
        Search().similar_to(region=("a", [0.5, 0.5, 0.2, 0.9]))
    with pytest.raises(QueryError):
        Search().similar_to(face=("a", -1))
    with pytest.raises(QueryError):
        Search().similar_to(vector=[float("nan")])
    with pytest.raises(QueryError):
        Search().on("everything")  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        Search().min_score(2)
    with pytest.raises(QueryError):
        Search().limit(0)
    with pytest.raises(QueryError):
        Search().media("audio")  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        Search().sort_by("caption")  # text cannot be sorted
    with pytest.raises(QueryError):
        Search().aggregate("caption")
    with pytest.raises(QueryError):
        Search().after("not a cursor!")
    with pytest.raises(QueryError):
        Search().as_user("")


def test_requests_that_cannot_be_built_without_execution() -> None:
    with pytest.raises(QueryError, match="resolved"):
        Search().similar_to(text="cold night").to_request()
    with pytest.raises(QueryError, match="target"):
        Search().similar_to(vector=[1.0]).on("any").to_request()
    with pytest.raises(QueryError, match="min_score"):
        Search().min_score(0.3).to_request()
    # With the resolved vector given, they build.
    req = Search().similar_to(text="cold night").to_request(vector=[0.5], model="m@1")
    assert req.vector == VectorQuery((0.5,), "scene", k=10, num_candidates=100, model="m@1")
    req = (
        Search()
        .similar_to(asset="x")
        .on("any")
        .to_request(vector=[0.5], target="frames", exclude_ids=["x"])
    )
    assert req.vector is not None and req.vector.target == "frames"
    assert req.vector.exclude_ids == ("x",)


def test_default_targets_follow_the_kind_of_similarity() -> None:
    def target(s: Search) -> str:
        return s.to_request(vector=[1.0]).vector.target  # type: ignore[union-attr]

    assert target(Search().similar_to(asset="a")) == "scene"
    # A box searches every scene-model target the index has (scene, regions, frames).
    region = Search().similar_to(region=("a", (0, 0, 0.5, 0.5)))
    assert region.similar.default_target == "any"
    assert region.to_request(vector=[1.0], target="regions").vector.target == "regions"
    assert target(Search().similar_to(face=("a", 0))) == "faces"
    assert target(Search().similar_to(face=("a", 0)).on("scene")) == "scene"


def test_searching_among_videos_compares_their_frames_by_default() -> None:
    def target(s: Search) -> str:
        return s.to_request(vector=[1.0]).vector.target  # type: ignore[union-attr]

    videos = Search().media("video")
    assert target(videos.similar_to(image="q.jpg")) == "frames"
    assert target(videos.similar_to(asset="a")) == "frames"
    assert target(videos.similar_to(asset="a").on("scene")) == "scene"  # asked for: kept
    assert target(Search().media("image").similar_to(asset="a")) == "scene"
    assert target(videos.similar_to(face=("a", 0))) == "faces"


def test_cursor_becomes_search_after() -> None:
    search = Search().where("width>3").sort_by("width", "desc")
    cursor = bind_cursor(encode_cursor([3, "b.jpg"]), search.to_request())
    assert search.after(cursor).to_request().after == (3, "b.jpg")
    assert search.after(cursor).after(None).to_request().after is None


def test_a_cursor_pages_only_the_search_that_made_it() -> None:
    search = Search().where("uploaded_at>7d and tags=x").sort_by("width", "desc")
    cursor = bind_cursor(encode_cursor([3, "b.jpg"]), search.to_request(now=NOW))
    # What may change between pages: the clock under a relative date, the page size,
    # the fields shown and the aggregations.
    later = datetime(2031, 1, 1, tzinfo=UTC)
    same = search.limit(50).with_fields(["tags"]).aggregate("tags")
    assert same.after(cursor).to_request(now=later).after == (3, "b.jpg")
    for other in (
        search.where("tags=y"),
        search.sort_by("height", "desc"),
        search.as_user("bob"),
        Search("other").where("uploaded_at>7d and tags=x").sort_by("width", "desc"),
        search.similar_to(vector=[1.0, 0.0]),
    ):
        with pytest.raises(CursorError, match="another search"):
            other.after(cursor).to_request(now=NOW, vector=[1.0, 0.0])
    with pytest.raises(CursorError, match="not the next_cursor"):
        search.after(encode_cursor([3, "b.jpg"]))  # a backend's raw values: not bound


def test_from_settings_uses_the_configured_fields_and_acl() -> None:
    settings = Settings(
        index="photos",
        fields={"tags": "labels"},
        acl_field="perm",
        public_principal="world",
        missing_acl_public=False,
    )
    s = Search.from_settings(settings).where("tags=x").as_user("bob")
    assert s.to_request() == SearchRequest(
        index="photos", filter=Term("labels", "x"), acl=Terms("perm", ("user:bob", "world"))
    )
    assert Search("media", acl_policy=AclPolicy("a")).as_user("u").acl == Or(
        (Terms("a", ("user:u", "public")), Not(Exists("a", as_written=True)))
    )


def test_ir_nodes_can_be_given_directly() -> None:
    s = Search().where(Term("tags", "x")).where("width>1")
    assert s.to_request().filter == And((Term("tags", "x"), Range("visual.width", gt=1)))


def test_merge_keeps_each_documents_best_match() -> None:
    from es_visual.core.results import Hit, Matched, SearchResult
    from es_visual.query.execute import merge

    scene = SearchResult(
        hits=(
            Hit("a", 0.9, {}, Matched("scene", 0.9)),
            Hit("b", 0.5, {}, Matched("scene", 0.5)),
        ),
        took_ms=1.0,
        aggregations={"tags": [("x", 2)]},
    )
    frames = SearchResult(
        hits=(
            Hit("b", 0.95, {}, Matched("frame", 0.95, index=3, t=1.5)),
            Hit("a", 0.1, {}, Matched("frame", 0.1, index=0, t=0.0)),
            Hit("c", 0.2, {}, Matched("frame", 0.2, index=0, t=0.0)),
        ),
        took_ms=2.0,
    )
    merged = merge([scene, frames], 2, took_ms=3.0)
    assert [(h.id, h.score, h.matched.kind) for h in merged.hits] == [  # type: ignore[union-attr]
        ("b", 0.95, "frame"),
        ("a", 0.9, "scene"),
    ]
    assert merged.aggregations == {"tags": [("x", 2)]} and merged.next_cursor is None
