"""Terms aggregations of the embedded store: counts per value of a field, in SQL over the
documents a filter matches, or over sources already in hand (a vector search's page)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from es_visual.backends.embedded.handle import IndexHandle
from es_visual.backends.embedded.sources import values_at
from es_visual.backends.embedded.sql import json_path
from es_visual.core.ir import Scalar


def _bucket_order(item: tuple[Scalar, int]) -> tuple[int, bool, Any]:
    key, count = item
    return (-count, isinstance(key, str), key)


def aggregate_sql(
    h: IndexHandle, where: str, params: list[Any], field: str, size: int
) -> list[tuple[Scalar, int]]:
    """Terms counts over the documents matching ``where``; list elements count one by one."""
    rows = (
        h.store.conn()
        .execute(
            f"SELECT je.value, je.type, count(DISTINCT d.rid) AS c "
            f"FROM docs AS d, json_each(d.source, ?) AS je "
            f"WHERE ({where}) AND je.type NOT IN ('object', 'array', 'null') "
            f"GROUP BY je.value, je.type ORDER BY c DESC, je.value LIMIT ?",
            [json_path(field), *params, size],
        )
        .fetchall()
    )
    buckets = [(bool(v) if t in ("true", "false") else v, c) for v, t, c in rows]
    return sorted(buckets, key=_bucket_order)


def aggregate_values(
    sources: Iterable[dict[str, Any]], field: str, size: int
) -> list[tuple[Scalar, int]]:
    """The same terms counts, over sources already in hand (a vector query's hits)."""
    json_path(field)  # validates
    counts: Counter = Counter()
    for src in sources:
        counts.update(set(values_at(src, field.split("."))))
    return sorted(counts.items(), key=_bucket_order)[:size]
