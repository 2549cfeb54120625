"""The expression language: valid expressions -> IR, errors at the right column, fuzz."""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_visual.core.errors import QueryError, QuerySyntaxError, UnknownFieldError
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
    Term,
)
from es_visual.query.fieldmap import FieldMap
from es_visual.query.parser import (
    OPS,
    AndExpr,
    Bare,
    Compare,
    Empty,
    NotExpr,
    OrExpr,
    RangeValue,
    Value,
    format_expression,
    parse,
    parse_expression,
    tokenize,
)

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)
FM = FieldMap.default().with_fields(
    {"public": {"field": "flags.public", "type": "boolean"}, "rating": "stars"}
)
TEXT = ("caption", "title", "description", "tags")


def p(text: str):
    return parse(text, FM, now=NOW)


VALID = [
    ("", MatchAll()),
    ("*", MatchAll()),
    ("tags:cat", Term("tags", "cat")),
    ("tags=cat", Term("tags", "cat")),
    ("tags!=cat", Not(Term("tags", "cat"))),
    ("media_type:image", Term("visual.media_type", "image")),
    ("folder:trips/2024*", Prefix("folder", "trips/2024")),
    ('folder:"trips/2024*"', Term("folder", "trips/2024*")),
    ("folder=trips/2024*", Term("folder", "trips/2024*")),
    ("tags:*", Exists("tags")),
    ("caption:sunset", Match("caption", "sunset")),
    ('caption:"red sunset"', Match("caption", "red sunset", phrase=True)),
    ("caption=sunset", Match("caption", "sunset", phrase=True)),
    ("caption:sun*", Prefix("caption", "sun")),
    ("width>1024", Range("visual.width", gt=1024)),
    ("width>=1024", Range("visual.width", gte=1024)),
    ("width<1.5", Range("visual.width", lt=1.5)),
    ("duration<=-2e1", Range("visual.duration", lte=-20.0)),
    ("width=640", Term("visual.width", 640)),
    ("width:[100 TO 200]", Range("visual.width", gte=100, lte=200)),
    ("width:[100 to *]", Range("visual.width", gte=100)),
    ("width=[* TO 200]", Range("visual.width", lte=200)),
    ("public:true", Term("flags.public", True)),
    ("public=FALSE", Term("flags.public", False)),
    ("rating>3", Range("stars", gt="3")),  # a plain string override stays keyword
    ("visual.width>3", Range("visual.width", gt=3)),  # the index field itself also works
    ("id=abc/1.jpg", Ids(("abc/1.jpg",))),
    ("id!=abc", Not(Ids(("abc",)))),
    ("uploaded_at>7d", Range("uploaded_at", gt="2024-05-03T12:00:00Z")),
    ("uploaded_at>1w", Range("uploaded_at", gt="2024-05-03T12:00:00Z")),
    ("uploaded_at>3m", Range("uploaded_at", gt="2024-02-10T12:00:00Z")),
    ("uploaded_at>1y", Range("uploaded_at", gt="2023-05-10T12:00:00Z")),
    ("uploaded_at>12h", Range("uploaded_at", gt="2024-05-10T00:00:00Z")),
    ("uploaded_at<now", Range("uploaded_at", lt="2024-05-10T12:00:00Z")),
    (
        "uploaded_at:[4w TO 1w]",
        Range("uploaded_at", gte="2024-04-12T12:00:00Z", lte="2024-05-03T12:00:00Z"),
    ),
    ("indexed_at>=2024-01-01", Range("visual.indexed_at", gte="2024-01-01T00:00:00Z")),
    (
        "indexed_at<2024-01-01T10:30:00+02:00",
        Range("visual.indexed_at", lt="2024-01-01T08:30:00Z"),
    ),
    (
        "created_at=2024-02-29",
        Range("created_at", gte="2024-02-29T00:00:00Z", lt="2024-03-01T00:00:00Z"),
    ),
    ("sunset", MultiMatch(TEXT, "sunset")),
    ('"red sunset"', MultiMatch(TEXT, "red sunset", phrase=True)),
    ('"say \\"hi\\""', MultiMatch(TEXT, 'say "hi"', phrase=True)),
    ("a b", And((MultiMatch(TEXT, "a"), MultiMatch(TEXT, "b")))),
    ("tags:a tags:b", And((Term("tags", "a"), Term("tags", "b")))),
    ("tags:a and tags:b", And((Term("tags", "a"), Term("tags", "b")))),
    ("tags:a OR tags:b", Or((Term("tags", "a"), Term("tags", "b")))),
    ("tags:a or tags:b OR tags:c", Or((Term("tags", "a"), Term("tags", "b"), Term("tags", "c")))),
    ("NOT tags:a", Not(Term("tags", "a"))),
    ("not tags:a", Not(Term("tags", "a"))),
    ("-tags:a", Not(Term("tags", "a"))),
    ("NOT NOT tags:a", Term("tags", "a")),
    ("NOT *", MatchNone()),
    # Precedence: NOT > AND (explicit or implicit) > OR.
    (
        "tags:a OR tags:b AND tags:c",
        Or((Term("tags", "a"), And((Term("tags", "b"), Term("tags", "c"))))),
    ),
    (
        "tags:a tags:b OR tags:c",
        Or((And((Term("tags", "a"), Term("tags", "b"))), Term("tags", "c"))),
    ),
    (
        "NOT tags:a AND tags:b",
        And((Not(Term("tags", "a")), Term("tags", "b"))),
    ),
    (
        "(tags:beach OR tags:sea) AND width>=1024",
        And(
            (
                Or((Term("tags", "beach"), Term("tags", "sea"))),
                Range("visual.width", gte=1024),
            )
        ),
    ),
    (
        "media_type:image AND tags=kitten AND uploaded_at>7d AND NOT folder:archive/*",
        And(
            (
                Term("visual.media_type", "image"),
                Term("tags", "kitten"),
                Range("uploaded_at", gt="2024-05-03T12:00:00Z"),
                Not(Prefix("folder", "archive/")),
            )
        ),
    ),
    ("tags:a-b", Term("tags", "a-b")),  # "-" inside a word is just a character
    ("tags : cat", Term("tags", "cat")),
    ("tags:AND", Term("tags", "AND")),  # a keyword after an operator is a value
    ("width>-5", Range("visual.width", gt=-5)),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t or "<empty>" for t, _ in VALID])
def test_valid_expressions(text: str, expected) -> None:
    assert p(text) == expected


INVALID = [
    # text, column (0-based), words in "expected"
    ("tags:", 5, "a value"),
    ("(tags:a", 7, "')'"),
    ("tags:a)", 6, "closes no '('"),
    ("tags:a AND", 10, "a term"),
    ("tags:a OR OR tags:b", 10, "a term"),
    ("NOT", 3, "a term"),
    ('caption:"unfinished', 8, "closing"),
    ("width:[1 2]", 9, "TO"),
    ("width:[1 TO 2", 13, "']'"),
    ("width>[1 TO 2]", 6, "ranges go with"),
    ("[1 TO 2]", 0, "a term"),
    (":cat", 0, "a field name"),
    ("tags:a ) tags:b", 7, "AND, OR"),
    ("tags:a =b", 7, "a field name"),
]


@pytest.mark.parametrize(("text", "pos", "expected"), INVALID, ids=[t for t, _, _ in INVALID])
def test_syntax_errors_point_at_the_column(text: str, pos: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text, FM, now=NOW)
    err = info.value
    assert err.pos == pos, str(err)
    assert expected in err.expected
    assert err.text == text
    # The caret sits under the column in the message.
    lines = str(err).splitlines()
    assert lines[-1].index("^") - 2 == pos and lines[-2] == "  " + text


def test_found_names_the_token() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("tags:a AND )", FM)
    assert info.value.found == "')'"
    with pytest.raises(QuerySyntaxError) as info:
        parse("tags:a AND", FM)
    assert info.value.found == "end of input"


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("(" * 5000 + "a" + ")" * 5000, FM)
    assert "nested" in info.value.expected
    with pytest.raises(QuerySyntaxError):
        parse("NOT " * 5000 + "a", FM)
    assert p("(" * 50 + "tags:a" + ")" * 50) == Term("tags", "a")


@pytest.mark.parametrize(
    ("text", "field_name", "column"),
    [
        ("width>abc", "width", 6),
        ("tags:a AND width:[1 TO x]", "width", 23),
        ("uploaded_at>yesterday", "uploaded_at", 12),
        ("uploaded_at>2024-13-45", "uploaded_at", 12),
        ("public:maybe", "public", 7),
        ("width>1e999", "width", 6),
    ],
)
def test_values_of_the_wrong_type_name_field_and_value(
    text: str, field_name: str, column: int
) -> None:
    with pytest.raises(QueryError) as info:
        p(text)
    message = str(info.value)
    assert repr(field_name) in message and text[column:].split()[0].rstrip("]") in message
    assert message.splitlines()[-1].index("^") - 2 == column


@pytest.mark.parametrize(
    "text",
    ["caption>a", "caption:[a TO b]", "public>1", "id>3", "id:*", "uploaded_at:7d", "width>*"],
)
def test_operators_that_do_not_fit_the_field_type(text: str) -> None:
    with pytest.raises(QueryError):
        p(text)


def test_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(UnknownFieldError) as info:
        p("colour:red")
    assert info.value.field == "colour"
    assert "tags" in info.value.known and "media_type" in info.value.known
    assert "known fields:" in str(info.value) and "media_type" in str(info.value)


def test_bare_words_need_text_fields() -> None:
    no_text = FieldMap.default(text_fields=())
    assert parse("tags:a", no_text) == Term("tags", "a")
    with pytest.raises(QueryError, match="text_fields"):
        parse("sunset", no_text)


def test_positions_of_tree_nodes() -> None:
    tree = parse_expression('tags:a  (width>3 OR -"x y")')
    assert isinstance(tree, AndExpr)
    first, group = tree.children
    assert isinstance(first, Compare) and first.pos == 0 and first.value.pos == 5
    assert isinstance(group, OrExpr) and group.pos == 9
    compare, negated = group.children
    assert compare.pos == 9 and compare.value.pos == 15
    assert isinstance(negated, NotExpr) and negated.pos == 20 and negated.child.pos == 21


def test_tokens_know_their_position() -> None:
    tokens = tokenize('tags!=a OR x:"b c" [1 TO 2]')
    assert [(t.kind, t.text, t.pos) for t in tokens] == [
        ("WORD", "tags", 0),
        ("OP", "!=", 4),
        ("WORD", "a", 6),
        ("OR", "OR", 8),
        ("WORD", "x", 11),
        ("OP", ":", 12),
        ("QUOTED", "b c", 13),
        ("LBRACKET", "[", 19),
        ("WORD", "1", 20),
        ("TO", "TO", 22),
        ("WORD", "2", 25),
        ("RBRACKET", "]", 26),
        ("EOF", "", 27),
    ]


def test_relative_months_clamp_to_the_month_end() -> None:
    march31 = datetime(2024, 3, 31, tzinfo=UTC)
    assert parse("uploaded_at>1m", FM, now=march31) == Range(
        "uploaded_at", gt="2024-02-29T00:00:00Z"
    )


def test_now_defaults_to_the_current_time() -> None:
    node = parse("uploaded_at>1d", FM)
    assert isinstance(node, Range) and node.gt is not None
    moment = datetime.fromisoformat(node.gt.replace("Z", "+00:00"))  # type: ignore[union-attr]
    assert abs((datetime.now(UTC) - moment).total_seconds() - 86400) < 60


# --- hypothesis ---------------------------------------------------------------------------

NASTY = string.ascii_letters[:8] + string.digits[:4] + ' :=!<>()[]"\\-*./TOANDRNOt_\t'
KNOWN_ERRORS = (QuerySyntaxError, UnknownFieldError, QueryError)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=NASTY, max_size=40) | st.text(max_size=30))
def test_random_strings_raise_only_typed_errors(text: str) -> None:
    try:
        parse(text, FM, now=NOW)
    except QuerySyntaxError as exc:
        assert 0 <= exc.pos <= len(text)
    except (UnknownFieldError, QueryError):
        pass


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(
            [
                "tags",
                "width",
                "uploaded_at",
                "caption",
                ":",
                "=",
                ">",
                "!=",
                " ",
                "(",
                ")",
                "[",
                "]",
                " TO ",
                " AND ",
                " OR ",
                "NOT ",
                "-",
                "*",
                "7d",
                "3",
                '"',
                "x y",
                "2024-01-01",
            ]
        ),
        max_size=14,
    )
)
def test_random_token_soup_raises_only_typed_errors(parts: list[str]) -> None:
    text = "".join(parts)
    with contextlib.suppress(*KNOWN_ERRORS):
        parse(text, FM, now=NOW)


SAFE_WORD = st.text(
    alphabet=string.ascii_lowercase + string.digits + "_./*+@", min_size=1, max_size=8
).filter(lambda w: w.upper() not in ("AND", "OR", "NOT"))
SAFE_VALUE = st.text(
    alphabet=string.ascii_letters + string.digits + "_./*+@:=<>!-", min_size=1, max_size=8
).filter(lambda w: not w.startswith('"'))
ANY_TEXT = st.text(max_size=8)
NAMES = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=6).filter(
    lambda w: w.upper() not in ("AND", "OR", "NOT")
)


def values(for_bound: bool = False):
    unquoted = SAFE_VALUE
    if for_bound:
        unquoted = unquoted.filter(lambda w: w.upper() != "TO" and w != "*")
    return st.builds(Value, unquoted, st.just(False)) | st.builds(Value, ANY_TEXT, st.just(True))


compares = st.one_of(
    st.builds(Compare, NAMES, st.sampled_from(OPS), values()),
    st.builds(
        Compare,
        NAMES,
        st.sampled_from([":", "="]),
        st.builds(RangeValue, st.none() | values(True), st.none() | values(True)),
    ),
)
bares = st.builds(
    Bare, st.builds(Value, SAFE_WORD, st.just(False)) | st.builds(Value, ANY_TEXT, st.just(True))
)
trees = st.recursive(
    compares | bares,
    lambda inner: st.one_of(
        st.builds(AndExpr, st.lists(inner, min_size=2, max_size=4).map(tuple)),
        st.builds(OrExpr, st.lists(inner, min_size=2, max_size=4).map(tuple)),
        st.builds(NotExpr, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_printed_trees_parse_back_to_the_same_tree(tree) -> None:
    text = format_expression(tree)
    assert parse_expression(text) == tree, text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_valid_trees_compile_or_raise_typed_errors(tree) -> None:
    text = format_expression(tree)
    with contextlib.suppress(UnknownFieldError, QueryError):
        parse(text, FieldMap.default(), now=NOW)


def test_empty_tree_prints_empty() -> None:
    assert format_expression(Empty()) == "" and parse_expression("   ") == Empty()
