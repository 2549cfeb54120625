"""core/documents.value_at: the one dotted-path reader of documents (duplicates' tag
actions, manifests, the CLI's table, text ranking, the cluster's aggregations)."""

from __future__ import annotations

from es_visual.core.documents import value_at


def test_objects_are_walked_and_a_missing_step_is_none() -> None:
    doc = {"visual": {"media_type": "image", "faces": [{"t": 1}]}, "tags": ["a"]}
    assert value_at(doc, "visual.media_type") == "image"
    assert value_at(doc, "tags") == ["a"]
    assert value_at(doc, "visual.faces") == [{"t": 1}]
    assert value_at(doc, "visual.missing.deeper") is None
    assert value_at(doc, "tags.0") is None  # lists are not indexed into
    assert value_at(None, "tags") is None


def test_a_dotted_key_is_taken_as_it_stands() -> None:
    assert value_at({"acl.read": ["user:ana"]}, "acl.read") == ["user:ana"]
    assert value_at({"acl": {"read": ["x"]}, "acl.read": ["y"]}, "acl.read") == ["y"]
