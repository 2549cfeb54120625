"""The IR's documented filter semantics, evaluated in plain Python on a test's own documents.

The oracle of the conformance suite (tests/conformance/: the IR oracle and the ACL
property tests) and of the noida-db ACL run in tests/reliability: what a backend returns is
checked against this, never against another backend. A field that is missing or null
has no values; a list field matches when any element does (as in Elasticsearch); a
field inside a list of objects (a nested target: ``visual.regions.label``) matches when
some child's value does, leaf by leaf. Text (``Match``) is the store's tokens: ``\\w+``,
lower-cased; every word of the query must occur in the field, or, for a phrase, all of
them adjacent and in order inside one value.
"""

from __future__ import annotations

import re
from typing import Any

from es_visual.core import ir

ID_FIELD = "_id"
_TOKEN = re.compile(r"\w+")


def matches(node: ir.Node, doc: dict[str, Any], doc_id: str | None = None) -> bool:
    """Whether document ``doc`` (its source; ``doc_id`` for ``Ids``) matches ``node``."""
    if isinstance(node, ir.MatchAll):
        return True
    if isinstance(node, ir.MatchNone):
        return False
    if isinstance(node, ir.And):
        return all(matches(c, doc, doc_id) for c in node.children)
    if isinstance(node, ir.Or):
        return any(matches(c, doc, doc_id) for c in node.children)
    if isinstance(node, ir.Not):
        return not matches(node.child, doc, doc_id)
    if isinstance(node, ir.Ids):
        assert doc_id is not None, "Ids needs the document's id"
        return doc_id in node.values
    if isinstance(node, ir.MultiMatch):
        words = re.findall(r"\w+", node.text.lower())
        if node.phrase or len(words) < 2:
            return any(matches(ir.Match(f, node.text, node.phrase), doc) for f in node.fields)
        # a cluster's cross_fields, operator "and": every word, each in any field
        return all(any(matches(ir.Match(f, w), doc) for f in node.fields) for w in words)
    if isinstance(node, ir.Exists) and node.as_written:
        return written(doc, node.field.split("."))
    values = field_values(doc, node.field)  # type: ignore[union-attr]
    if isinstance(node, ir.Exists):
        return bool(values)
    if isinstance(node, ir.Term):
        return node.value in values
    if isinstance(node, ir.Terms):
        return any(v in values for v in node.values)
    if isinstance(node, ir.Prefix):
        return any(isinstance(v, str) and v.startswith(node.prefix) for v in values)
    if isinstance(node, ir.Match):
        return _text_matches(node, values)
    if isinstance(node, ir.Range):
        return any(
            (node.gt is None or v > node.gt)
            and (node.gte is None or v >= node.gte)
            and (node.lt is None or v < node.lt)
            and (node.lte is None or v <= node.lte)
            for v in values
            if isinstance(v, str) == isinstance(_bound(node), str)  # never across types
        )
    raise AssertionError(f"the oracle does not know {type(node).__name__}: {node}")


def _bound(node: ir.Range) -> Any:
    return next(b for b in (node.gt, node.gte, node.lt, node.lte) if b is not None)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _text_matches(node: ir.Match, values: list[Any]) -> bool:
    words = tokens(node.text)
    texts = [tokens(str(v)) for v in values if isinstance(v, str | int | float)]
    if not words:
        return False
    if not node.phrase:
        have = {t for text in texts for t in text}
        return all(w in have for w in words)
    n = len(words)
    return any(text[i : i + n] == words for text in texts for i in range(len(text) - n + 1))


def field_values(doc: dict[str, Any], field: str) -> list[Any]:
    """Every value at the dotted path; lists of objects on the way are walked into."""
    found: list[Any] = [doc]
    for part in field.split("."):
        step: list[Any] = []
        for value in found:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and item.get(part) is not None:
                    step.append(item[part])
        found = step
    return [v for value in found for v in (value if isinstance(value, list) else [value])]


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
