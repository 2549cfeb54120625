"""Which parts of a filter speak only of a target's children (query.nested)."""

from __future__ import annotations

from es_visual.core import ir
from es_visual.core.nested import child_filter, fields_of, nested_path, relative
from es_visual.query.parser import parse

DOG = ir.Term("visual.regions.label", "dog")


def test_nested_path() -> None:
    assert nested_path("visual.regions.label") == "visual.regions"
    assert nested_path("visual.frames.t") == "visual.frames"
    assert nested_path("visual.regions") is None  # the list itself, not a field in it
    assert nested_path("visual.regionsx.label") is None
    assert nested_path("tags") is None


def test_region_only_conjuncts_are_the_child_filter() -> None:
    node = parse("regions.label:dog AND tags=pet AND regions.score>0.5")
    assert child_filter(node, "regions") == ir.And((DOG, ir.Range("visual.regions.score", gt=0.5)))
    assert child_filter(node, "faces") == ir.MatchAll()  # not the searched target
    assert child_filter(node, "scene") == ir.MatchAll()
    assert child_filter(parse("regions.label:dog"), "regions") == DOG


def test_an_or_or_not_of_region_leaves_is_one_child_condition() -> None:
    node = parse("(regions.label:dog OR regions.label:cat) AND NOT regions.kind:face")
    assert child_filter(node, "regions") == node


def test_a_part_that_mixes_levels_stays_a_document_condition() -> None:
    node = parse("(regions.label:dog OR tags=pet) AND media_type:image")
    assert child_filter(node, "regions") == ir.MatchAll()
    # Ids and bare words read the whole document: never a child condition.
    assert fields_of(ir.Ids(("a",))) is None
    assert child_filter(ir.And((DOG, ir.Not(ir.Ids(("a",))))), "regions") == DOG


def test_relative_strips_the_path() -> None:
    node = ir.Or((DOG, ir.Not(ir.Exists("visual.regions.score")), ir.Term("tags", "x")))
    assert relative(node, "visual.regions") == ir.Or(
        (ir.Term("label", "dog"), ir.Not(ir.Exists("score")), ir.Term("tags", "x"))
    )
