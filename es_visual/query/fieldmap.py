"""Which index field, of which type, each name in a DSL expression stands for.

The DSL speaks of ``media_type`` or ``tags``; the index may call them
``visual.media_type`` or ``labels``. A ``FieldMap`` holds that translation and
the field's type, which decides what an operator means (``tags:cat`` is an exact
term on a keyword field, a full-text match on a text field) and how a value is
read (a number, a date, a boolean).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, get_args, runtime_checkable

from es_visual.core import schema
from es_visual.core.errors import ConfigError, UnknownFieldError

if TYPE_CHECKING:
    from es_visual.config import Settings

FieldType: TypeAlias = Literal["keyword", "text", "number", "date", "boolean"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

# The index field that stands for a document's id; the parser turns it into ``Ids``.
ID_FIELD = "_id"


@runtime_checkable
class MappingReader(Protocol):
    """A store that knows its indexes' field types (Elasticsearch, OpenSearch)."""

    def field_types(self, index: str) -> dict[str, str]:
        """The index's mapping flattened: dotted field path -> mapping type."""
        ...


@dataclass(frozen=True)
class FieldInfo:
    name: str  # as written in an expression
    field: str  # as stored in the index (dotted)
    type: FieldType


# What es-visual writes under ``visual`` (es_visual.core.schema), always present once an
# index is set up, by the names the DSL gives them.
VISUAL_FIELDS: dict[str, tuple[str, FieldType]] = {
    "media_type": (schema.MEDIA_TYPE_FIELD, "keyword"),
    "width": (schema.WIDTH_FIELD, "number"),
    "height": (schema.HEIGHT_FIELD, "number"),
    "duration": (schema.DURATION_FIELD, "number"),
    "model": (schema.MODEL_FIELD, "keyword"),
    "pipeline": (schema.PIPELINE_FIELD, "keyword"),
    "indexed_at": (schema.INDEXED_AT_FIELD, "date"),
    # The file's name and size as ingested (what the web UI sorts by "name" and "size").
    "filename": (schema.FILENAME_FIELD, "keyword"),
    "bytes": (schema.BYTES_FIELD, "number"),
    "content_hash": (schema.CONTENT_HASH_FIELD, "keyword"),
    "error": (schema.ERROR_FIELD, "keyword"),
    # Who is in it: the ids of the persons its faces were clustered into (es_visual.people);
    # person:"Alice" is resolved to ids by the people registry (Search.with_people).
    "person": (schema.PERSONS_FIELD, "keyword"),
    # Concepts the scene model saw (es_visual.core.labels): labels:tabby, aggregate("labels").
    "labels": (schema.LABELS_FIELD, "keyword"),
    # Detected regions (es_visual.core.nested): a document with such a region, and in a
    # search --on regions only such regions compete: regions.label:dog, regions.score>0.5.
    "regions.label": (schema.REGION_LABEL_FIELD, "keyword"),
    "regions.kind": (schema.REGION_KIND_FIELD, "keyword"),
    "regions.score": (schema.REGION_SCORE_FIELD, "number"),
}

# Short names that came after users' indexes did: an index's own field of that name keeps
# it (its concept labels stay reachable as ``visual.labels``).
YIELDING_NAMES = frozenset({"labels", "filename", "bytes"})

# The user fields most media indices have (and that `es-visual ingest --manifest` writes).
COMMON_FIELDS: dict[str, tuple[str, FieldType]] = {
    "id": (ID_FIELD, "keyword"),
    "tags": ("tags", "keyword"),
    "folder": ("folder", "keyword"),
    "caption": ("caption", "text"),
    "title": ("title", "text"),
    "description": ("description", "text"),
    "uploaded_at": ("uploaded_at", "date"),
    "created_at": ("created_at", "date"),
}

DEFAULT_TEXT_FIELDS: tuple[str, ...] = ("caption", "title", "description", "tags")

# Elasticsearch / OpenSearch mapping types -> the DSL's five kinds; others are not queryable.
_ES_TYPES: dict[str, FieldType] = {
    **dict.fromkeys(("keyword", "constant_keyword", "wildcard", "ip", "version"), "keyword"),
    **dict.fromkeys(("text", "match_only_text", "search_as_you_type"), "text"),
    **dict.fromkeys(
        (
            "long", "integer", "short", "byte", "double", "float", "half_float",
            "scaled_float", "unsigned_long",
        ),
        "number",
    ),
    **dict.fromkeys(("date", "date_nanos"), "date"),
    "boolean": "boolean",
}  # fmt: skip


class FieldMap:
    """DSL name -> ``FieldInfo``, plus the fields that bare words search.

    Immutable: ``with_fields`` returns a new map. A name may also be written as
    the index field itself (``visual.width``) when no DSL name shadows it.
    """

    def __init__(
        self, fields: Iterable[FieldInfo], text_fields: Sequence[str] = DEFAULT_TEXT_FIELDS
    ) -> None:
        self._by_name: dict[str, FieldInfo] = {f.name: f for f in fields}
        by_field: dict[str, FieldInfo] = {}
        for entry in self._by_name.values():
            by_field.setdefault(entry.field, entry)
        self._by_field = by_field
        texts: list[str] = []
        for name in text_fields:
            info = self._by_name.get(name) or self._by_field.get(name)
            if info is None:
                # A text field the map does not list yet: search it under its own name.
                info = FieldInfo(name, name, "text")
                self._by_name[name] = info
                self._by_field.setdefault(name, info)
            texts.append(info.field)
        self.text_fields: tuple[str, ...] = tuple(dict.fromkeys(texts))

    # --- construction ------------------------------------------------------------

    @classmethod
    def default(cls, text_fields: Sequence[str] = DEFAULT_TEXT_FIELDS) -> FieldMap:
        entries = {**VISUAL_FIELDS, **COMMON_FIELDS}
        return cls((FieldInfo(n, f, t) for n, (f, t) in entries.items()), text_fields)

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldMap:
        """The defaults, changed by ``settings.fields``, with ``settings.text_fields``."""
        return cls.default().with_fields(settings.fields, text_fields=settings.text_fields)

    @classmethod
    def for_index(cls, settings: Settings, backend: object, index: str) -> FieldMap:
        """The one field map of every front end (CLI, UI, API, duplicates). On a store
        that reads its mapping (``MappingReader``: the clusters), the index's own
        fields by their dotted paths, common names such as ``tags`` where the index has
        them, and the configured ``fields`` on top, so ``owner=team-b`` works on a
        user's index with no configuration. Elsewhere, or while the index does not
        exist yet: the configured map."""
        from es_visual.core.errors import BackendUnavailableError, EsVisualError

        if not isinstance(backend, MappingReader):
            return cls.from_settings(settings)
        try:
            types = backend.field_types(index)
        except BackendUnavailableError:
            raise
        except EsVisualError:  # no such index yet
            return cls.from_settings(settings)
        if not types:
            return cls.from_settings(settings)
        configured = list(settings.text_fields)
        # The built-in default list names fields an index may not have; the index's own
        # text fields are the better default. A list the user set is taken as given.
        text = None if configured == list(DEFAULT_TEXT_FIELDS) else configured
        return cls.from_field_types(types, text_fields=text, overrides=settings.fields)

    @classmethod
    def from_field_types(
        cls,
        types: Mapping[str, str],
        *,
        text_fields: Sequence[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> FieldMap:
        """A map for an existing index, from its mapping flattened to ``dotted field -> type``.

        Every queryable field is known by its own dotted name; the visual fields
        keep their short names; a common name (``tags``, ``folder`` ...) is kept
        only if the index has that field. Bare words search ``text_fields``, by
        default every text field outside ``visual``.
        """
        infos: dict[str, FieldInfo] = {n: FieldInfo(n, f, t) for n, (f, t) in VISUAL_FIELDS.items()}
        infos["id"] = FieldInfo("id", ID_FIELD, "keyword")
        for name, (index_field, _) in COMMON_FIELDS.items():
            kind = _ES_TYPES.get(types.get(index_field, ""))
            if kind is not None:
                infos[name] = FieldInfo(name, index_field, kind)
        for index_field, es_type in types.items():
            kind = _ES_TYPES.get(es_type)
            if kind is not None and (index_field not in infos or index_field in YIELDING_NAMES):
                infos[index_field] = FieldInfo(index_field, index_field, kind)
        if text_fields is None:
            text_fields = [
                f
                for f, t in types.items()
                if _ES_TYPES.get(t) == "text" and not schema.is_visual(f)
            ]
        base = cls(infos.values(), text_fields)
        return base.with_fields(overrides) if overrides else base

    def with_fields(
        self, overrides: Mapping[str, Any], *, text_fields: Sequence[str] | None = None
    ) -> FieldMap:
        """A new map where each ``name -> "index.field"`` or ``name -> {"field", "type"}``
        replaces or adds an entry (a bare string takes the type already known for that
        index field, or the name's current type, or keyword); ``name -> None`` removes it."""
        infos = dict(self._by_name)
        for name, spec in overrides.items():
            if spec is None:
                infos.pop(name, None)
                continue
            current = infos.get(name)
            if isinstance(spec, str):
                # The type already known for that index field, else the name's, else keyword.
                known = self._by_field.get(spec) or current
                index_field, kind = spec, known.type if known else "keyword"
            elif isinstance(spec, Mapping):
                index_field = spec.get("field", current.field if current else name)
                kind = spec.get("type", current.type if current else "keyword")
            else:
                raise ConfigError(
                    f"fields.{name}: expected an index field name or "
                    f'{{"field": ..., "type": ...}}, not {spec!r}'
                )
            if kind not in FIELD_TYPES:
                raise ConfigError(
                    f"fields.{name}: type must be one of {', '.join(FIELD_TYPES)}, not {kind!r}"
                )
            infos[name] = FieldInfo(name, str(index_field), kind)
        texts = text_fields if text_fields is not None else self._text_names(infos)
        return FieldMap(infos.values(), texts)

    def _text_names(self, infos: Mapping[str, FieldInfo]) -> list[str]:
        """This map's text fields, as names that still resolve in ``infos``."""
        out = []
        for index_field in self.text_fields:
            info = self._by_field.get(index_field)
            name = info.name if info else index_field
            out.append(name if name in infos else index_field)
        return out

    # --- lookup ------------------------------------------------------------------

    def resolve(self, name: str) -> FieldInfo:
        """The field a DSL name stands for; ``UnknownFieldError`` lists the known names."""
        info = self._by_name.get(name) or self._by_field.get(name)
        if info is None:
            raise UnknownFieldError(name, list(self._by_name))
        return info

    def get(self, name: str) -> FieldInfo | None:
        return self._by_name.get(name) or self._by_field.get(name)

    def index_field(self, name: str) -> str:
        """``name``'s index field when the map knows it, else ``name`` itself (for
        source filtering, where any field may be asked for)."""
        info = self.get(name)
        return info.field if info else name

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[FieldInfo]:
        return iter(self._by_name.values())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FieldMap)
            and self._by_name == other._by_name
            and self.text_fields == other.text_fields
        )

    def __hash__(self) -> int:
        return hash((tuple(sorted(self._by_name.items())), self.text_fields))

    def __repr__(self) -> str:
        return f"FieldMap({len(self._by_name)} fields, text={list(self.text_fields)})"
