"""Every IR filter node on the embedded store, with Elasticsearch's semantics."""

from __future__ import annotations

import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import QueryError
from es_visual.core.ir import (
    And,
    Exists,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    MultiMatch,
    Not,
    Or,
    Prefix,
    Range,
    SearchRequest,
    Term,
    Terms,
)

DOCS = {
    "a": {"tags": ["cat", "pet"], "width": 800, "folder": "archive/2020", "title": "A Red Cat",
          "uploaded_at": "2024-05-01T10:00:00Z", "acl": {"read": ["group:design"]}, "flag": True},
    "b": {"tags": "dog", "width": 1024.5, "folder": "photos/dogs", "caption": "red, sleepy dog",
          "uploaded_at": "2024-06-01T00:00:00+00:00", "flag": False},
    "c": {"width": "wide", "folder": "archive", "title": "cat red",
          "uploaded_at": "2023-12-31", "tags": []},
    "d": {"tags": [None], "visual": {"error": None, "media_type": "video"}},
}  # fmt: skip


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = EmbeddedBackend(tmp_path_factory.mktemp("f"))
    assert b.bulk_update("m", [DocUpdate(k, v) for k, v in DOCS.items()]).ok
    yield b
    b.close()


def ids(backend, node) -> set[str]:
    res = backend.search(SearchRequest("m", filter=node, size=100))
    assert res.total == len(res.hits)
    return {h.id for h in res.hits}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (MatchAll(), "abcd"),
        (MatchNone(), ""),
        (Term("tags", "cat"), "a"),  # any element of a list
        (Term("tags", "dog"), "b"),  # a scalar
        (Term("tags", "Cat"), ""),  # keywords are exact
        (Term("flag", True), "a"),
        (Term("acl.read", "group:design"), "a"),  # dotted, into a list
        (Term("_id", "c"), "c"),
        (Terms("tags", ("pet", "dog", "zzz")), "ab"),
        (Terms("tags", ()), ""),
        (Not(Term("tags", "cat")), "bcd"),  # NOT matches docs without the field
        (Not(Term("nope", 1)), "abcd"),
        (Not(Not(Term("tags", "cat"))), "a"),
        (Prefix("folder", "archive"), "ac"),
        (Prefix("folder", "archive/"), "a"),
        (Not(Prefix("folder", "archive")), "bd"),
        (Range("width", gte=800), "ab"),  # numbers only: "wide" is not > 800
        (Range("width", gt=800, lt=2000), "b"),
        (Not(Range("width", gt=900)), "acd"),
        (Range("uploaded_at", gte="2024-05-01T10:00:00+00:00"), "ab"),  # Z == +00:00
        (Range("uploaded_at", lt="2024-01-01"), "c"),
        (Range("uploaded_at", gt="2024-05-01T10:00:00Z"), "b"),
        (Exists("tags"), "ab"),  # [] and [null] do not exist
        (Exists("visual.error"), ""),  # null does not exist
        (Exists("visual"), "d"),
        (Not(Exists("caption")), "acd"),
        (Ids(("a", "c", "zz")), "ac"),
        (Ids(()), ""),
        (Match("title", "red cat"), "ac"),  # every word, any order, any case
        (Match("title", "red cat", phrase=True), "a"),
        (Match("title", "cat red", phrase=True), "c"),
        (Match("title", "red dog"), ""),
        (Match("title", ""), ""),
        (MultiMatch(("title", "caption"), "red"), "abc"),
        (MultiMatch(("title", "caption"), "sleepy dog"), "b"),
        (And((Term("tags", "cat"), Range("width", gt=100))), "a"),
        (Or((Term("tags", "dog"), Prefix("folder", "archive"))), "abc"),
        (And((Not(Term("tags", "cat")), Not(Term("tags", "dog")))), "cd"),
    ],
)
def test_filter_node(backend, node, expected: str) -> None:
    assert ids(backend, node) == set(expected)


def test_values_are_parameters_not_sql(backend) -> None:
    assert ids(backend, Term("tags", "x') OR 1=1 --")) == set()
    assert ids(backend, Match("title", "'; DROP TABLE docs; --")) == set()
    assert len(ids(backend, MatchAll())) == 4


@pytest.mark.parametrize("field", ["a'b", "a..b", "", "a b", 'x"'])
def test_bad_field_names_are_refused(backend, field: str) -> None:
    with pytest.raises(QueryError, match="field"):
        ids(backend, Term(field, 1))


def test_range_cannot_mix_types(backend) -> None:
    with pytest.raises(QueryError, match="mixes"):
        ids(backend, Range("width", gt=1, lt="z"))
