"""The ``visual`` mapping for Elasticsearch and OpenSearch, built from a ``VisualSpec``.

This is the source of truth; ``mappings/*.json`` in the repository are the same
templates written out for people who apply them by hand (a test keeps them
equal). The spec is also stored in the mapping's ``_meta.es_visual`` so that a
later run can tell which model and dims an index was set up for.
"""

from __future__ import annotations

from typing import Any, Literal

from es_visual.core import labels, schema
from es_visual.core.documents import VisualSpec

Engine = Literal["elasticsearch", "opensearch"]
META_KEY = "es_visual"
# Set when every document of the index carries ``visual.label_rank`` (an index created
# with it, or completed by ``es-visual labels --backfill``): the engine then ranks by
# labels itself. An index that gained the field later keeps older documents without it.
LABEL_RANK_META = "es_visual_label_rank"

# OpenSearch: Lucene's HNSW supports cosine, efficient filtering and nested vectors
# on 2.x and 3.x alike (nmslib is deprecated in 3.0; Faiss cosine needs 2.19+).
OPENSEARCH_METHOD: dict[str, Any] = {
    "name": "hnsw",
    "engine": "lucene",
    "space_type": "cosinesimil",
    "parameters": {"ef_construction": 128, "m": 16},
}


def vector_field(engine: Engine, dims: int | str) -> dict[str, Any]:
    if engine == "elasticsearch":
        # Float HNSW, not the default int8_hnsw / bbq_hnsw: those score on quantized
        # vectors, so a hit's score and a similarity threshold would be approximate
        # cosines, and the IR promises cosine similarity.
        return {
            "type": "dense_vector",
            "dims": dims,
            "index": True,
            "similarity": "cosine",
            "index_options": {"type": "hnsw"},
        }
    return {"type": "knn_vector", "dimension": dims, "method": dict(OPENSEARCH_METHOD)}


def visual_properties(
    engine: Engine,
    dims: int | str,
    face_dims: int | str | None = None,
    *,
    label_rank: bool = True,
) -> dict[str, Any]:
    """The mapping of the ``visual`` object (es_visual.core.schema; docs/architecture.md);
    ``label_rank=False`` for a server without the ``rank_features`` type."""
    keyword = {"type": "keyword"}
    floats = {"type": "float"}
    props: dict[str, Any] = {
        "model": keyword,
        "pipeline": keyword,
        "content_hash": keyword,
        "media_type": keyword,
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "duration": floats,
        "indexed_at": {"type": "date"},
        # Where the media was read from: returned, never searched.
        "path": {"type": "keyword", "index": False},
        "error": keyword,
        "scene": vector_field(engine, dims),
        "regions": {
            "type": "nested",
            "properties": {
                "kind": keyword,
                "label": keyword,
                "score": floats,
                "bbox": floats,
                "t": floats,
                "vector": vector_field(engine, dims),
            },
        },
        "frames": {
            "type": "nested",
            "properties": {
                "t": floats,
                "vector": vector_field(engine, dims),
                "phash": keyword,  # a video's duplicates are matched frame by frame
                **labels.MAPPINGS["frames"]["properties"],
            },
        },
        # The media file's own name and size: the UI sorts by them.
        "filename": keyword,
        "bytes": {"type": "long"},
        # What a manifest line last set (ingest.runner): applied again only when changed.
        "metadata_hash": keyword,
        "metadata_fields": keyword,
        # Duplicates (es_visual.duplicates): perceptual hash and its 32x32 thumb.
        "phash": keyword,
        "phash_thumb": {"type": "keyword", "index": False, "doc_values": False},
        "format": keyword,
        # Who is in it (es_visual.people): person ids of its faces.
        "persons": keyword,
        # Concepts the scene model saw (es_visual.core.labels): flat keyword lists.
        labels.LABELS: labels.MAPPINGS[labels.LABELS],
        labels.SCORES: labels.MAPPINGS[labels.SCORES],
        labels.TONE: labels.MAPPINGS[labels.TONE],
        # The meaning of the document's own text (query.meaning): the sentence model's
        # vector, searched by kNN like the scene, and what it was made from.
        schema.key(schema.TEXT_VECTOR_FIELD): vector_field(engine, schema.TEXT_DIMS),
        schema.key(schema.TEXT_HASH_FIELD): keyword,
        schema.key(schema.TEXT_MODEL_FIELD): keyword,
        schema.key(schema.TEXT_FIELDS_FIELD): keyword,
    }
    if label_rank:
        props[labels.RANK] = labels.MAPPINGS[labels.RANK]
    if face_dims is not None:
        props["faces"] = {
            "type": "nested",
            "properties": {
                "person": keyword,
                "score": floats,
                "bbox": floats,
                "t": floats,
                "vector": vector_field(engine, face_dims),
            },
        }
    return {"properties": props}


def spec_meta(spec: VisualSpec) -> dict[str, Any]:
    return {
        "model": spec.model,
        "dims": spec.dims,
        "face_model": spec.face_model,
        "face_dims": spec.face_dims,
    }


def spec_from_meta(meta: dict[str, Any] | None) -> VisualSpec | None:
    data = (meta or {}).get(META_KEY)
    if not isinstance(data, dict) or "dims" not in data:
        return None
    return VisualSpec(
        model=str(data.get("model") or ""),
        dims=int(data["dims"]),
        face_model=data.get("face_model"),
        face_dims=int(data["face_dims"]) if data.get("face_dims") is not None else None,
    )


def mapping_body(engine: Engine, spec: VisualSpec, *, label_rank: bool = True) -> dict[str, Any]:
    """The ``mappings`` section: ``_meta`` plus ``visual`` (user fields untouched)."""
    meta: dict[str, Any] = {META_KEY: spec_meta(spec)}
    if label_rank:
        meta[LABEL_RANK_META] = True
    return {
        "_meta": meta,
        "properties": {
            schema.ROOT: visual_properties(engine, spec.dims, spec.face_dims, label_rank=label_rank)
        },
    }


def index_settings(engine: Engine) -> dict[str, Any]:
    """Settings for a new index; OpenSearch needs ``index.knn`` at creation."""
    return {"index": {"knn": True}} if engine == "opensearch" else {}


def template(engine: Engine) -> dict[str, Any]:
    """The whole create-index body with ``{{dims}}`` / ``{{face_dims}}`` / ``{{model}}``
    placeholders: what ``mappings/<engine>.json`` holds."""
    body: dict[str, Any] = {
        "mappings": {
            "_meta": {
                META_KEY: {
                    "model": "{{model}}",
                    "dims": "{{dims}}",
                    "face_model": "{{face_model}}",
                    "face_dims": "{{face_dims}}",
                },
                LABEL_RANK_META: True,
            },
            "properties": {schema.ROOT: visual_properties(engine, "{{dims}}", "{{face_dims}}")},
        }
    }
    settings = index_settings(engine)
    if settings:
        body = {"settings": settings, **body}
    return body
