"""The field map: defaults, settings overrides, an existing index's mapping, unknown fields."""

from __future__ import annotations

import pytest

from es_visual.config import Settings
from es_visual.core.errors import ConfigError, UnknownFieldError
from es_visual.core.ir import MultiMatch, Range, Term
from es_visual.query.fieldmap import FieldInfo, FieldMap
from es_visual.query.parser import parse


def test_defaults_cover_the_visual_and_common_fields() -> None:
    fm = FieldMap.default()
    assert fm.resolve("media_type") == FieldInfo("media_type", "visual.media_type", "keyword")
    assert fm.resolve("width").type == "number" and fm.resolve("duration").type == "number"
    assert fm.resolve("indexed_at") == FieldInfo("indexed_at", "visual.indexed_at", "date")
    for name in ("model", "pipeline", "content_hash", "error"):
        assert fm.resolve(name).field == f"visual.{name}"
    assert fm.resolve("tags").type == "keyword" and fm.resolve("caption").type == "text"
    assert fm.resolve("uploaded_at").type == "date" and fm.resolve("id").field == "_id"
    assert fm.text_fields == ("caption", "title", "description", "tags")
    # The index field name also resolves.
    assert fm.resolve("visual.width").name == "width"


def test_unknown_field_error_lists_known_names() -> None:
    with pytest.raises(UnknownFieldError) as info:
        FieldMap.default().resolve("colour")
    assert isinstance(info.value, KeyError)
    assert sorted(info.value.known) == FieldMap.default().names
    assert "colour" in str(info.value) and "tags" in str(info.value)


def test_settings_rename_retype_add_and_remove_fields() -> None:
    settings = Settings(
        fields={
            "tags": "keywords",  # keeps keyword
            "rating": {"field": "meta.stars", "type": "number"},
            "folder": None,
            "caption": {"type": "keyword"},
        },
        text_fields=["description", "body"],
    )
    fm = FieldMap.from_settings(settings)
    assert fm.resolve("tags") == FieldInfo("tags", "keywords", "keyword")
    assert fm.resolve("rating") == FieldInfo("rating", "meta.stars", "number")
    assert fm.resolve("caption") == FieldInfo("caption", "caption", "keyword")
    assert "folder" not in fm
    assert fm.text_fields == ("description", "body")
    assert fm.resolve("body").type == "text"
    assert parse("tags=x rating>=4", fm) == parse("keywords=x meta.stars>=4", fm)
    assert parse("hello", fm) == MultiMatch(("description", "body"), "hello")


def test_bad_field_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="type must be"):
        FieldMap.default().with_fields({"x": {"field": "x", "type": "geo"}})
    with pytest.raises(ConfigError, match=r"fields\.x"):
        FieldMap.default().with_fields({"x": 3})


def test_from_field_types_follows_an_existing_mapping() -> None:
    types = {
        "labels": "keyword",
        "tags": "keyword",
        "body": "text",
        "meta.stars": "integer",
        "meta.price": "scaled_float",
        "published": "date_nanos",
        "flags.nsfw": "boolean",
        "location": "geo_point",  # not queryable by the DSL
        "visual.scene": "dense_vector",
        "visual.media_type": "keyword",
    }
    fm = FieldMap.from_field_types(types, overrides={"stars": "meta.stars"})
    assert fm.resolve("labels").type == "keyword"
    assert fm.resolve("meta.stars").type == "number" and fm.resolve("meta.price").type == "number"
    assert fm.resolve("published").type == "date" and fm.resolve("flags.nsfw").type == "boolean"
    assert fm.resolve("tags") == FieldInfo("tags", "tags", "keyword")
    assert fm.resolve("media_type").field == "visual.media_type"
    assert fm.resolve("stars") == FieldInfo("stars", "meta.stars", "number")  # keeps the type
    for absent in ("location", "folder", "caption", "visual.scene"):
        assert absent not in fm
    assert fm.text_fields == ("body",)
    assert parse("stars>3 AND labels=a", fm) == parse("meta.stars>3 labels=a", fm)
    assert parse("stars>3", fm) == Range("meta.stars", gt=3)
    assert parse("labels:x", fm) == Term("labels", "x")


def test_field_maps_compare_by_value() -> None:
    assert FieldMap.default() == FieldMap.default()
    assert FieldMap.default() != FieldMap.default(text_fields=("caption",))
    assert hash(FieldMap.default()) == hash(FieldMap.default())
