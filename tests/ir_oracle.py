"""The IR's documented filter semantics, evaluated in plain Python on a test's own documents.

The oracle of the ACL property tests (tests/query/test_acl_property.py and
tests/reliability/test_acl_leaks.py): what a backend returns is checked against
this, never against another backend. A field that is missing or null has no
values; a list field matches when any element does (as in Elasticsearch).
"""

from __future__ import annotations

from typing import Any

from es_visual.core import ir


def matches(node: ir.Node, doc: dict[str, Any]) -> bool:
    if isinstance(node, ir.MatchAll):
        return True
    if isinstance(node, ir.MatchNone):
        return False
    if isinstance(node, ir.And):
        return all(matches(c, doc) for c in node.children)
    if isinstance(node, ir.Or):
        return any(matches(c, doc) for c in node.children)
    if isinstance(node, ir.Not):
        return not matches(node.child, doc)
    if isinstance(node, ir.Exists) and node.as_written:
        return written(doc, node.field.split("."))
    values = field_values(doc, node.field)  # type: ignore[union-attr]
    if isinstance(node, ir.Exists):
        return bool(values)
    if isinstance(node, ir.Term):
        return node.value in values
    if isinstance(node, ir.Terms):
        return any(v in values for v in node.values)
    if isinstance(node, ir.Range):
        return any(
            (node.gt is None or v > node.gt)
            and (node.gte is None or v >= node.gte)
            and (node.lt is None or v < node.lt)
            and (node.lte is None or v <= node.lte)
            for v in values
        )
    raise AssertionError(f"the oracle does not know {type(node).__name__}: {node}")


def field_values(doc: dict[str, Any], field: str) -> list[Any]:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def written(obj: dict[str, Any], parts: list[str]) -> bool:
    """``Exists(as_written=True)``: some spelling of the path (nested or flat dotted) is a
    key, whatever it holds, or a non-object stands where the path needs an object."""
    for k in range(1, len(parts) + 1):
        key = ".".join(parts[:k])
        if key not in obj:
            continue
        if k == len(parts) or not isinstance(obj[key], dict) or written(obj[key], parts[k:]):
            return True
    return False
