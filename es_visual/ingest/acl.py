"""The ACL an asset brings with it, checked before anything is written: fail closed.

A document's ACL (``acl.read`` by default) is either absent, which the
``missing_acl_public`` setting decides, or a non-empty list of principals
(``["group:design", "user:ana"]``). Anything else (``[]``, null, a bare string,
a number, an object, a list holding a non-string or an empty string, or a
non-object where ``acl`` should be an object) is a mistake that must not turn
into "no ACL, so public": the item is refused with a per-item error naming the
line and the field, and the batch goes on.

Metadata keys are read as Elasticsearch reads them: a flat dotted key
(``"acl.read": [...]``) is the nested object, so the check sees one shape and
every backend is sent the nested form.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from es_visual.ingest.sources import Asset, SourceError


class MetadataError(ValueError):
    """Metadata that cannot be stored as given (the message names the field)."""


def nest_dotted(metadata: dict[str, Any]) -> dict[str, Any]:
    """``{"acl.read": x}`` -> ``{"acl": {"read": x}}``, at every level. One field given
    in both spellings is refused: which of the two was meant cannot be known."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, dict):
            value = nest_dotted(value)
        parts = key.split(".") if isinstance(key, str) else [key]
        if len(parts) > 1 and all(parts):
            for part in reversed(parts[1:]):
                value = {part: value}
            key = parts[0]
        out[key] = _merge(key, out[key], value) if key in out else value
    return out


def _merge(path: str, old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            out[k] = _merge(f"{path}.{k}", out[k], v) if k in out else v
        return out
    raise MetadataError(f"{path!r} is given twice (as a dotted key and as an object)")


def acl_problem(metadata: dict[str, Any], acl_field: str) -> str | None:
    """Why the ACL in (nested) ``metadata`` cannot be stored, or None when it can."""
    node: Any = metadata
    parts = acl_field.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict):
            where = ".".join(parts[:depth])
            return f"{where!r} must be an object holding {acl_field!r}, not {_kind(node)}"
        if part not in node:
            return None  # no ACL at all: the missing_acl_public setting decides
        node = node[part]
    example = '["group:design", "user:ana"]'
    if not isinstance(node, list):
        hint = " (a CSV cell holds no list: use a JSONL manifest)" if isinstance(node, str) else ""
        return (
            f"{acl_field!r} must be a list of principals such as {example}, not {_kind(node)}{hint}"
        )
    if not node:
        return (
            f"{acl_field!r} is an empty list: name who may read it, such as {example} "
            f"(leave the field out for the default)"
        )
    for value in node:
        if not isinstance(value, str) or not value.strip():
            return f"{acl_field!r} holds {_kind(value)}: every principal is a non-empty string"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a bare string {value[:40]!r}"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def checked_assets(
    source: Iterable[Asset | SourceError], acl_field: str
) -> Iterator[Asset | SourceError]:
    """``source`` with dotted keys nested and every malformed ACL a ``SourceError``
    (nothing is written for it: a refused item never reaches the store)."""
    for item in source:
        if not isinstance(item, Asset) or not item.metadata:
            yield item
            continue
        try:
            metadata = nest_dotted(item.metadata)
        except MetadataError as exc:
            yield SourceError(item.id, item.origin, str(exc))
            continue
        problem = acl_problem(metadata, acl_field)
        if problem is not None:
            yield SourceError(item.id, item.origin, problem)
            continue
        yield replace(item, metadata=metadata) if metadata != item.metadata else item
