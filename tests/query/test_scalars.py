"""One rule turns a value into a field's scalar (``parser.to_scalar``): a DSL value and
the same text given to ``Search.filter(**exact)`` give the same term, or the same error."""

from __future__ import annotations

import pytest

from es_visual.core import ir
from es_visual.core.errors import QueryError
from es_visual.query.fieldmap import FieldMap
from es_visual.query.search import Search

FIELDS = FieldMap.default().with_fields(
    {
        "n": {"field": "n", "type": "number"},
        "b": {"field": "b", "type": "boolean"},
        "d": {"field": "d", "type": "date"},
        "k": {"field": "k", "type": "keyword"},
    }
)
CASES = [
    ("n", "12"),
    ("n", "-3.5"),
    ("n", "9223372036854775808"),  # one past 64 bits
    ("n", "abc"),
    ("b", "true"),
    ("b", "FALSE"),
    ("b", "yes"),
    ("d", "2024-05-01T10:00:00Z"),
    ("d", "2024-13-01"),
    ("d", "someday"),
    ("k", "team-b"),
]


def _outcome(build) -> tuple[str, object]:
    try:
        node = build(Search("media", field_map=FIELDS)).filter_node()
    except QueryError as exc:
        return ("error", str(exc).splitlines()[0])
    return ("node", node)


@pytest.mark.parametrize(("name", "text"), CASES)
def test_the_dsl_and_filter_agree(name: str, text: str) -> None:
    dsl = _outcome(lambda s: s.where(f'{name}="{text}"'))
    exact = _outcome(lambda s: s.filter(**{name: text}))
    assert dsl == exact


def test_python_values_follow_the_same_rule() -> None:
    s = Search("media", field_map=FIELDS)
    assert s.filter(n=12).filter_node() == ir.Term("n", 12)
    assert s.filter(b=True).filter_node() == ir.Term("b", True)
    assert s.filter(k=7).filter_node() == ir.Term("k", "7")
    for bad in ({"n": True}, {"n": 2**63}, {"n": float("nan")}, {"b": 1}, {"k": [None]}):
        with pytest.raises(QueryError):
            s.filter(**bad).filter_node()
