"""Filters on the children of a document: ``regions.label:dog``, ``faces.score>0.9``.

``visual.regions``, ``visual.faces`` and ``visual.frames`` are nested lists: each
child (one detected object, one face, one video frame) is its own small document
with its own vector. A filter can speak of them at two levels, and every backend
gives the same answers:

* **Document level** (every search): a leaf on a child field matches a document
  when *some* child matches that leaf, each leaf on its own, as Elasticsearch's
  ``nested`` query does (``regions.label:dog AND regions.score>0.9`` = a dog
  somewhere and a confident region somewhere, maybe not the same one).
* **Child level** (a kNN over that same target): the parts of the filter that
  speak *only* of the searched children also decide which children compete. With
  ``--on regions --where "regions.label:dog"`` a picture is scored by its best dog
  region, not by its best region of any kind, and the region reported as matched
  is a dog. ``child_filter`` finds those parts: the conjuncts of the top-level AND
  whose every field lies under the target's path (an OR or a NOT of such leaves is
  one child condition: ``regions.label:dog OR regions.label:cat``). A conjunct that
  mixes child and document fields (``regions.label:dog OR tags=pet``) stays a
  document-level condition only.

The child-level parts stay in the document filter too: a document whose children
all fail them cannot match, so both levels agree, and a backend that cannot filter
children still returns only documents holding such a child.
"""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from es_visual.core import ir
from es_visual.core.schema import NESTED_PATHS


def nested_path(field: str) -> str | None:
    """The nested list a field lives in (``visual.regions.label`` -> ``visual.regions``)."""
    for path in NESTED_PATHS.values():
        if field.startswith(path + "."):
            return path
    return None


def fields_of(node: ir.Node) -> set[str] | None:
    """Every field ``node`` reads; None when it reads the document as a whole (ids, bare
    words over several fields, match-all), which is never a child condition."""
    match node:
        case ir.Term() | ir.Terms() | ir.Match() | ir.Prefix() | ir.Range() | ir.Exists():
            return {node.field}
        case ir.And(children) | ir.Or(children):
            out: set[str] = set()
            for child in children:
                part = fields_of(child)
                if part is None:
                    return None
                out |= part
            return out
        case ir.Not(child):
            return fields_of(child)
        case ir.MatchAll() | ir.MatchNone() | ir.MultiMatch() | ir.Ids():
            return None
        case _:
            assert_never(node)


def child_filter(node: ir.Node, target: str) -> ir.Node:
    """The conditions of ``node`` (a document filter) that restrict which children of
    ``target`` compete in a kNN over them, with the fields still written in full
    (``visual.regions.label``); ``MatchAll`` when there are none."""
    path = NESTED_PATHS.get(target)
    if path is None:
        return ir.MatchAll()
    parts = node.children if isinstance(node, ir.And) else (node,)
    kept = []
    for part in parts:
        fields = fields_of(part)
        if fields and all(f.startswith(path + ".") for f in fields):
            kept.append(part)
    return ir.and_(*kept)


def relative(node: ir.Node, path: str) -> ir.Node:
    """``node`` with ``path.`` taken off every field: a filter over one child object."""
    match node:
        case ir.And(children):
            return ir.And(tuple(relative(c, path) for c in children))
        case ir.Or(children):
            return ir.Or(tuple(relative(c, path) for c in children))
        case ir.Not(child):
            return ir.Not(relative(child, path))
        case ir.Term() | ir.Terms() | ir.Match() | ir.Prefix() | ir.Range() | ir.Exists():
            if node.field.startswith(path + "."):
                return replace(node, field=node.field[len(path) + 1 :])
            return node
        case ir.MatchAll() | ir.MatchNone() | ir.MultiMatch() | ir.Ids():
            return node
        case _:
            assert_never(node)


__all__ = ["NESTED_PATHS", "child_filter", "fields_of", "nested_path", "relative"]


def reaches_children(node: ir.Node) -> bool:
    """Whether ``node`` reads any field inside a nested list (``visual.regions.label``),
    at whatever depth of AND / OR / NOT."""
    match node:
        case ir.And(children) | ir.Or(children):
            return any(reaches_children(c) for c in children)
        case ir.Not(child):
            return reaches_children(child)
        case ir.Term() | ir.Terms() | ir.Match() | ir.Prefix() | ir.Range() | ir.Exists():
            return nested_path(node.field) is not None
        case ir.MatchAll() | ir.MatchNone() | ir.MultiMatch() | ir.Ids():
            return False
        case _:
            assert_never(node)
