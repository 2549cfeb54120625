"""A ``DocUpdate`` turned into what the store writes, as Elasticsearch's ``_update``
with ``doc`` would: the source without vectors (dotted keys nested, merged into the
old source key by key, ``unset`` fields dropped) and, per vector target it touches,
the rows of float32 blobs that replace that target's vectors, checked against the
index's spec."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from es_visual.core import schema
from es_visual.core.documents import DocUpdate, VisualSpec, is_utf8

CHILD_TARGETS = schema.CHILD_TARGETS


def dumps_source(doc: dict[str, Any]) -> str:
    """The compact JSON text a source is stored as; NaN and infinity refused."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Elasticsearch ``_update`` with ``doc``: objects merge key by key, the rest is replaced."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merged_source(old: dict[str, Any], doc: dict[str, Any], unset: Sequence[str]) -> dict[str, Any]:
    """The source of an existing document after an update: ``unset`` fields dropped, then
    ``doc`` merged in. An older row may hold flat dotted keys literally: expanded too."""
    return expand_dotted(deep_merge(without_fields(old, unset), doc))


def without_fields(source: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``source`` less each dotted field (``DocUpdate.unset``), in either spelling: nested
    or a flat dotted key an older row may hold literally. Objects left empty go too."""
    if not fields:
        return source
    out = dict(source)
    for dotted in fields:
        out.pop(dotted, None)
        head, dot, rest = dotted.partition(".")
        if dot and isinstance(out.get(head), dict):
            inner = without_fields(out[head], [rest])
            if inner:
                out[head] = inner
            else:
                del out[head]
    return out


def expand_dotted(obj: dict[str, Any]) -> dict[str, Any]:
    """``{"acl.read": [...]}`` as ``{"acl": {"read": [...]}}``, as Elasticsearch maps a
    dotted name, so a filter (and the ACL) reads both spellings alike. Where both
    spellings give one field values, it holds them all (Elasticsearch indexes both);
    an object in one spelling and a value in the other is refused, as there."""
    if not any("." in k or isinstance(v, dict | list) for k, v in obj.items()):
        return dict(obj)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        value = _expand_value(value)
        parts = key.split(".")
        if len(parts) > 1 and all(parts):
            for part in reversed(parts[1:]):
                value = {part: value}
            key = parts[0]
        out[key] = _join(key, out[key], value) if key in out else value
    return out


def _expand_value(value: Any) -> Any:
    if isinstance(value, dict):
        return expand_dotted(value)
    if isinstance(value, list):
        return [expand_dotted(v) if isinstance(v, dict) else v for v in value]
    return value


def _join(key: str, old: Any, new: Any) -> Any:
    if old is None:
        return new
    if new is None:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            out[k] = _join(f"{key}.{k}", out[k], v) if k in out else v
        return out
    if isinstance(old, dict) or isinstance(new, dict):
        raise ItemFailure(f"field {key!r} is given both as an object and as a value")
    return [*(old if isinstance(old, list) else [old]), *(new if isinstance(new, list) else [new])]


class ItemFailure(Exception):
    """One update refused (the others of its batch still apply): its reason and status."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


Rows = list[tuple[int | None, float | None, bytes]]


def prepare_update(
    update: DocUpdate, spec: VisualSpec | None
) -> tuple[dict[str, Any], dict[str, Rows]]:
    """(source without vectors, target -> vector rows replacing that target's)."""
    if not isinstance(update.id, str) or not update.id:
        raise ItemFailure(f"document id must be a non-empty string, not {update.id!r}")
    if not update.id.isascii() and not is_utf8(update.id):
        raise ItemFailure(f"document id {update.id!r} is not valid UTF-8 (lone surrogates)")
    if not isinstance(update.doc, dict):
        raise ItemFailure(f"document must be an object, not {type(update.doc).__name__}")
    doc = expand_dotted(update.doc)
    vectors: dict[str, Rows] = {}
    if schema.ROOT not in doc:
        return _checked(doc), vectors
    visual = doc[schema.ROOT]
    if not isinstance(visual, dict):
        # ``visual`` replaced by a scalar or null: no vector survives it.
        return _checked(doc), {t: [] for t in schema.KNN_TARGETS}
    visual = dict(visual)
    doc[schema.ROOT] = visual
    if "scene" in visual:
        scene = visual.pop("scene")
        vectors["scene"] = (
            [] if scene is None else [(None, None, _blob(scene, spec, "scene", schema.SCENE_FIELD))]
        )
    text_key = schema.key(schema.TEXT_VECTOR_FIELD)
    if text_key in visual:
        text = visual.pop(text_key)
        vectors[schema.TEXT_TARGET] = (
            []
            if text is None
            else [(None, None, _blob(text, spec, schema.TEXT_TARGET, schema.TEXT_VECTOR_FIELD))]
        )
    for target in CHILD_TARGETS:
        if target not in visual:
            continue
        children = visual[target]
        if children is None:
            vectors[target] = []
            continue
        path = schema.NESTED_PATHS[target]
        if not isinstance(children, list):
            raise ItemFailure(f"{path} must be a list of objects")
        rows: Rows = []
        stripped = []
        for i, child in enumerate(children):
            if not isinstance(child, dict):
                raise ItemFailure(f"{path}[{i}] must be an object")
            child = dict(child)
            vec = child.pop("vector", None)
            if vec is not None:
                t = child.get("t")
                t = float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None
                rows.append((i, t, _blob(vec, spec, target, f"{path}[{i}].vector")))
            stripped.append(child)
        visual[target] = stripped
        vectors[target] = rows
    return _checked(doc), vectors


def _checked(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        dumps_source(doc)
    except (TypeError, ValueError) as exc:
        raise ItemFailure(f"document is not JSON: {exc}") from None
    return doc


def _blob(vec: Any, spec: VisualSpec | None, target: str, where: str) -> bytes:
    if spec is None:
        raise ItemFailure(f"{where}: the index has no visual spec yet; call ensure_index first")
    # The text vector's dims are the sentence model's, whatever the scene model.
    dims = (
        schema.TEXT_DIMS
        if target == schema.TEXT_TARGET
        else spec.face_dims
        if target == "faces"
        else spec.dims
    )
    if dims is None:
        raise ItemFailure(f"{where}: the index spec has no face model (face_dims)")
    try:
        arr = np.asarray(vec, dtype=np.float32)
    except (TypeError, ValueError):
        raise ItemFailure(f"{where} must be a list of numbers") from None
    if arr.ndim != 1:
        raise ItemFailure(f"{where} must be a flat list of numbers")
    if arr.shape[0] != dims:
        raise ItemFailure(f"{where} has {arr.shape[0]} dims; the index expects {dims}")
    if not np.all(np.isfinite(arr)):
        raise ItemFailure(f"{where} holds NaN or infinity")
    return arr.tobytes()
