"""The ``visual`` schema: one owner for every path, and the wire format it names."""

from __future__ import annotations

import json
from pathlib import Path

from es_visual.core import schema
from es_visual.core.labels import FRAME_LABELS_FIELD, LABELS, LABELS_FIELD, SCORES

ROOT = Path(__file__).resolve().parents[1]


def _paths() -> dict[str, str]:
    return {n: v for n, v in vars(schema).items() if n.endswith("_FIELD") and isinstance(v, str)}


def test_every_path_is_under_visual_and_its_key_is_what_documents_hold() -> None:
    paths = _paths()
    assert len(paths) >= 30
    assert len(set(paths.values())) == len(paths), "two names for one path"
    for name, path in paths.items():
        assert path.startswith("visual.") and schema.is_visual(path), name
        assert schema.field(schema.key(path)) == path
    # The wire format, spelled out: these strings are what indexes already hold.
    assert schema.MEDIA_TYPE_FIELD == "visual.media_type"
    assert schema.PERSONS_FIELD == "visual.persons"
    assert schema.VECTOR_FIELDS == {
        "scene": "visual.scene",
        "regions": "visual.regions.vector",
        "faces": "visual.faces.vector",
        "frames": "visual.frames.vector",
    }
    assert (LABELS_FIELD, FRAME_LABELS_FIELD, LABELS, SCORES) == (
        "visual.labels",
        "visual.frames.labels",
        "labels",
        "label_scores",
    )
    assert not schema.is_visual("visualise") and not schema.is_visual("tags")


def test_targets_are_written_once_and_split_into_spaces() -> None:
    assert schema.TARGETS == ("scene", "regions", "faces", "frames")
    assert set(schema.CHILD_TARGETS) == set(schema.TARGETS) - {"scene"}
    assert set(schema.SCENE_SPACE_TARGETS) | set(schema.FACE_SPACE_TARGETS) == set(schema.TARGETS)
    assert not set(schema.SCENE_SPACE_TARGETS) & set(schema.FACE_SPACE_TARGETS)
    assert set(schema.NESTED_PATHS) == set(schema.CHILD_TARGETS)
    assert set(schema.MATCH_KINDS) == set(schema.TARGETS)


def test_the_shipped_mapping_holds_every_field_the_schema_names() -> None:
    """``mappings/elasticsearch.json`` (what users apply by hand) maps each path."""
    body = json.loads((ROOT / "mappings" / "elasticsearch.json").read_text())
    props = body["mappings"]["properties"]["visual"]["properties"]
    for name, path in _paths().items():
        node: dict = {"properties": props}
        for part in schema.key(path).split("."):
            assert part in node.get("properties", {}), f"{name} ({path}) is not mapped"
            node = node["properties"][part]
    assert set(schema.VisualDoc.__annotations__) <= set(props)


def test_visual_of_reads_a_source_whatever_it_lacks() -> None:
    assert schema.visual_of(None) == {} and schema.visual_of({"tags": ["x"]}) == {}
    assert schema.visual_of({"visual": None}) == {}
    assert schema.visual_of({"visual": {"media_type": "image"}}) == {"media_type": "image"}
