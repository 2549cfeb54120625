"""A stored source on its way out: only the fields asked for, the vectors put back on
request, the scalars at a dotted path (for aggregations and text statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from es_visual.core import schema
from es_visual.core.ir import Scalar


def project(source: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Source includes: only the dotted ``fields`` (``*`` matches one key), structure kept."""
    if fields is None:
        return source
    out: dict[str, Any] = {}
    for f in fields:
        _include(source, out, f.split("."))
    return out


def _include(src: Any, dst: dict[str, Any], parts: list[str]) -> None:
    if not isinstance(src, dict):
        return
    head, rest = parts[0], parts[1:]
    keys = list(src) if head == "*" else [head] if head in src else []
    for key in keys:
        value = src[key]
        if not rest:
            dst[key] = value
        elif isinstance(value, dict):
            sub = dst.setdefault(key, {})
            if isinstance(sub, dict):
                _include(value, sub, rest)
        elif isinstance(value, list):
            prev = dst.get(key)
            items = (
                prev
                if isinstance(prev, list) and len(prev) == len(value)
                else [{} if isinstance(v, dict) else None for v in value]
            )
            for item, v in zip(items, value, strict=True):
                if isinstance(item, dict):
                    _include(v, item, rest)
            dst[key] = items


def put_vectors_back(source: dict[str, Any], rows: list[tuple[str, int | None, bytes]]) -> None:
    """The stored vectors (``IndexStore.doc_vectors``) back into ``source``, in place, as
    they were written: ``visual.scene``, and each child's ``vector`` beside its fields."""
    visual = source.get(schema.ROOT)
    if not isinstance(visual, dict):
        return
    for target, child, blob in rows:
        vector = np.frombuffer(blob, dtype=np.float32).tolist()
        if target == "scene":
            visual["scene"] = vector
            continue
        if target == schema.TEXT_TARGET:
            visual[schema.key(schema.TEXT_VECTOR_FIELD)] = vector
            continue
        children = visual.get(target)
        if not isinstance(children, list) or child is None or not 0 <= child < len(children):
            continue
        if isinstance(children[child], dict):
            children[child] = {**children[child], "vector": vector}


def values_at(value: Any, parts: list[str]) -> list[Scalar]:
    """The scalars at the dotted path ``parts`` of a source, lists flattened at any level."""
    if isinstance(value, list):
        return [v for item in value for v in values_at(item, parts)]
    if not parts:
        return [value] if isinstance(value, str | int | float) else []
    if isinstance(value, dict) and parts[0] in value:
        return values_at(value[parts[0]], parts[1:])
    return []
