"""Bad query input: a positioned error and exit 2, never a traceback or a silent 0 hits.

* Filter expressions whose values leave what a store holds (dates past the calendar
  by arithmetic or by a UTC offset, integers beyond 64 bits, numbers thousands of
  digits long) raise the parser's own positioned error.
* Hypothesis writes random expressions around those edges: the parser raises
  nothing but its three documented errors, and `es-visual search --where` exits 0
  or 2 with an "Error:" line, never 1 with a traceback.
* Every bad expression, value type, cursor, region box or conflicting ``--on``
  exits 2, and no CLI message speaks of ``similar_to(...)`` or ``on(...)``.
* A mistyped ``--index`` is "no such index" (exit 1) for search and stats.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from es_visual.cli import cli
from es_visual.core.errors import QuerySyntaxError, QueryValueError, UnknownFieldError
from es_visual.query.parser import parse

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PARSER_ERRORS = (QuerySyntaxError, UnknownFieldError, QueryValueError)
BUILDER_WORDS = ("similar_to(", 'on("', "on()", "min_score", "to_request", "execute()")

# (expression, the column the error must point at), each a crash before.
POSITIONED = [
    ("uploaded_at:9999-12-31T23:59:59-01:00", 12),  # year 10000 in UTC
    ("uploaded_at>0001-01-01T00:00:00+01:00", 12),  # year 0 in UTC
    ("uploaded_at=0001-01-01T00:30:00+05:00", 12),
    ("tags=a AND uploaded_at>9999-12-31T23:00:00-02:00", 23),
    ("uploaded_at:[0001-01-01T00:00:00+10:00 TO *]", 13),
    ("uploaded_at>99999999999999999999999h", 12),
    ("uploaded_at>" + "9" * 5000 + "d", 12),
    ("uploaded_at>400000000w", 12),
    ("width>" + "9" * 5000, 6),  # int() refuses over 4300 digits (ValueError)
    ("width:[" + "1" * 4400 + " TO *]", 7),
    ("height=9223372036854775808", 7),  # 2**63: past SQLite's INTEGER and ES's long
    ("width<-9223372036854775809", 6),
    ("duration>1e400", 9),
    ("width>" + "1" * 400 + ".5", 6),  # a float too large: inf
]


@pytest.mark.parametrize(("text", "pos"), POSITIONED)
def test_values_beyond_the_store_are_positioned_errors(text: str, pos: int) -> None:
    with pytest.raises(QueryValueError) as caught:
        parse(text, now=NOW)
    assert caught.value.pos == pos
    assert "^" in str(caught.value) and len(str(caught.value).splitlines()[0]) < 200


def test_the_calendar_edges_that_exist_still_parse() -> None:
    assert parse("uploaded_at:9999-12-31", now=NOW)  # the last day: no "day after" needed
    assert parse("uploaded_at>0001-01-01", now=NOW)
    assert parse("width<=9223372036854775807 AND width>=-9223372036854775808", now=NOW)
    assert parse("uploaded_at>2000y", now=NOW)


# --- hypothesis: random expressions at the edges --------------------------------------------

DATES = st.builds(
    lambda y, m, d, t, off: f"{y:04d}-{m:02d}-{d:02d}{t}{off}",
    st.sampled_from([1, 2, 1970, 2024, 9998, 9999]),
    st.integers(1, 12),
    st.integers(1, 31),
    st.sampled_from(["", "T00:00:00", "T23:59:59", "T12:30", " 00:00:00.5"]),
    st.sampled_from(["", "Z", "+01:00", "-01:00", "+23:59", "-2359", "+14"]),
)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.builds(lambda a, b: f"{a}e{b}", st.integers(-9, 9), st.integers(-500, 500)),
    st.builds(lambda n: "0." + "1" * n, st.integers(1, 5000)),
)
RELATIVE = st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**30), st.sampled_from(list("hdwmy")))
FIELDS = st.sampled_from(["uploaded_at", "indexed_at", "width", "height", "duration", "tags"])
OPS = st.sampled_from([":", "=", "!=", ">", ">=", "<", "<="])
VALUES = st.one_of(DATES, NUMBERS, RELATIVE, st.text(string.printable, max_size=12))
COMPARE = st.builds(lambda f, o, v: f"{f}{o}{v}", FIELDS, OPS, VALUES)
RANGE = st.builds(
    lambda f, a, b: f"{f}:[{a} TO {b}]",
    FIELDS,
    st.one_of(DATES, NUMBERS, st.just("*")),
    st.one_of(DATES, NUMBERS, st.just("*")),
)
EXPRESSIONS = st.lists(st.one_of(COMPARE, RANGE), min_size=1, max_size=3).flatmap(
    lambda parts: st.sampled_from([" AND ", " OR ", " "]).map(lambda j: j.join(parts))
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_random_edge_expressions_raise_only_parser_errors(text: str) -> None:
    try:
        parse(text, now=NOW)
    except PARSER_ERRORS as exc:
        pos = getattr(exc, "pos", None)
        assert pos is None or 0 <= pos <= len(text)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet) -> Path:
    """An embedded store with five pictures (scene vectors only)."""
    root = tmp_path_factory.mktemp("query-input")
    photos = root / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png"):
        (photos / name).write_bytes((skimage_dir / name).read_bytes())
    preset = root / "scene.yaml"
    preset.write_text("model: mobilenet-v2\nmax_side: 160\nfaces: {enabled: false}\n")
    data = root / "data"
    result = CliRunner().invoke(
        cli, ["--data-dir", str(data), "ingest", str(photos), "--pipeline", str(preset)]
    )
    assert result.exit_code == 0, result.output
    return data


def _search(store: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--data-dir", str(store), "search", *args])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_random_edge_expressions_exit_0_or_2_from_the_cli(store: Path, text: str) -> None:
    result = _search(store, "--where", text, "--json")
    assert result.exit_code in (0, 2), (text, result.exit_code, result.output, result.exception)
    if result.exit_code == 2:
        assert result.stderr.strip() and "Traceback" not in result.output


def _vector_cursor(store: Path) -> str:
    out = _search(store, "--asset", "coffee.png", "--limit", "1", "--json")
    return json.loads(out.stdout)["next_cursor"]


def _filter_cursor(store: Path) -> str:
    out = _search(store, "--sort", "width:desc", "--limit", "1", "--json")
    return json.loads(out.stdout)["next_cursor"]


def test_every_bad_option_exits_2_in_cli_words(store: Path, tmp_path: Path, tally) -> None:
    zeros = tmp_path / "zeros.json"
    zeros.write_text(json.dumps([0.0] * 1280))
    nan = tmp_path / "nan.json"
    nan.write_text("[NaN, 1.0]")
    # Cursors of other searches: each is bound to the search that made it, so even one of
    # the same shape ([width, id] on another filter) is refused.
    vector_cursor, filter_cursor = _vector_cursor(store), _filter_cursor(store)
    short_cursor = json.loads(_search(store, "--limit", "1", "--json").stdout)["next_cursor"]
    cases: list[tuple[str, list[str]]] = [
        ("expression", ["--where", "tags=("]),
        ("expression", ["--where", "width=abc"]),
        ("expression", ["--where", "caption>3"]),
        ("expression", ["--where", "nosuchfield=1"]),
        ("expression", ["--where", "uploaded_at:9999-12-31T23:59:59-01:00"]),
        ("expression", ["--where", "width>" + "9" * 5000]),
        ("expression", ["--where", "height=99999999999999999999"]),
        ("value type", ["--sort", "caption"]),
        ("value type", ["--aggregate", "caption"]),
        ("value type", ["--sort", "width:upwards"]),
        ("value type", ["--asset", "coffee.png", "--min-score", "nan"]),
        ("value type", ["--text", "   "]),
        ("value type", ["--vector-file", str(zeros)]),
        ("value type", ["--vector-file", str(nan)]),
        ("cursor", ["--after", "zzz"]),
        ("cursor", ["--after", "bm90IGpzb24"]),  # base64 of "not json"
        ("cursor", ["--after", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ"]),  # [1e22 as an int]
        ("cursor", ["--after", vector_cursor]),  # a vector search's cursor, on a filter
        ("cursor", ["--sort", "height", "--sort", "width", "--after", filter_cursor]),
        ("cursor", ["--asset", "coffee.png", "--after", short_cursor]),
        ("cursor", ["--sort", "width:desc", "--where", "width>1", "--after", filter_cursor]),
        ("cursor", ["--sort", "width:desc", "--user", "bob", "--after", filter_cursor]),
        ("cursor", ["--after", "WzEsImEiXQ"]),  # a backend's raw sort values, [1,"a"]
        ("region box", ["--region", "coffee.png:0.5,0.5,0.1,0.1"]),
        ("region box", ["--region", "coffee.png:0,0,2,2"]),
        ("region box", ["--region", "coffee.png:nan,0,1,1"]),
        ("region box", ["--asset", "coffee.png", "--bbox", "0.1,0.2"]),
        ("region box", ["--region", "coffee.png:a,b,c,d"]),
        ("conflicting --on", ["--on", "scene"]),
        ("conflicting --on", ["--min-score", "0.3"]),
        ("conflicting --on", ["--face", "coffee.png:0", "--on", "scene"]),
        ("conflicting --on", ["--face", "coffee.png:0", "--on", "frames"]),
        ("conflicting --on", ["--asset", "coffee.png", "--on", "faces"]),
        ("conflicting --on", ["--region", "coffee.png:0,0,0.5,0.5", "--on", "faces"]),
        ("conflicting --on", ["--vector-file", str(zeros), "--on", "faces"]),
    ]
    problems = []
    for kind, args in cases:
        result = _search(store, *args)
        message = result.output
        shown = " ".join(a if len(a) < 40 else a[:37] + "..." for a in args)
        if result.exit_code != 2:
            problems.append(f"{kind}: {shown}: exit {result.exit_code}: {message[-300:]}")
        elif result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"{kind}: {shown}: raised {result.exception!r}")
        words = [w for w in BUILDER_WORDS if w in message]
        if words:
            problems.append(f"{kind}: {shown}: builder words {words} in {message.strip()!r}")
        if "Error" not in message and "error" not in message:
            problems.append(f"{kind}: {shown}: no error line: {message!r}")
    tally.record("query input: exit 2 in CLI words", tried=len(cases), failed=len(problems))
    assert not problems, "\n".join(problems)


def test_a_mistyped_index_is_no_such_index(store: Path, tally) -> None:
    problems = []
    for args in (
        ["--index", "medai", "search", "--where", "tags=x"],
        ["--index", "medai", "search", "--asset", "coffee.png"],
        ["--index", "medai", "stats"],
        ["--index", "medai", "stats", "--json"],
    ):
        result = CliRunner().invoke(cli, ["--data-dir", str(store), *args])
        if result.exit_code != 1 or "no such index 'medai'" not in result.output:
            problems.append(f"{args}: exit {result.exit_code}: {result.output!r}")
    ok = CliRunner().invoke(cli, ["--data-dir", str(store), "stats", "--json"])
    if ok.exit_code != 0 or json.loads(ok.stdout)["documents"] != 5:
        problems.append(f"stats on the real index: {ok.output}")
    tally.record("query input: no such index", tried=5, failed=len(problems))
    assert not problems, "\n".join(problems)
