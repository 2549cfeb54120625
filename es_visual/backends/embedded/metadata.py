"""A search without a query vector on the embedded store: SQL over the JSON source,
sorted by ``sort`` then id, with keyset paging (``search_after``) and a total count."""

from __future__ import annotations

import json
import time

from es_visual.backends.embedded.aggregations import aggregate_sql
from es_visual.backends.embedded.handle import IndexHandle
from es_visual.backends.embedded.sources import project
from es_visual.backends.embedded.sql import compile_filter, order_and_after
from es_visual.core.cursor import encode_cursor
from es_visual.core.ir import SearchRequest
from es_visual.core.results import Hit, SearchResult


def metadata_search(h: IndexHandle, req: SearchRequest) -> SearchResult:
    started = time.perf_counter()
    where, params = compile_filter(req.scoped_filter)
    sort = tuple(s for s in req.sort if s.field != "_score")
    cols, col_params, order, after_sql, after_params = order_and_after(sort, req.after)
    conn = h.store.conn()
    total = conn.execute(f"SELECT count(*) FROM docs AS d WHERE {where}", params).fetchone()[0]
    inner = "d.rid, d.id, d.source" + (f", {cols}" if cols else "")
    rows = conn.execute(
        f"SELECT * FROM (SELECT {inner} FROM docs AS d WHERE {where}) AS d "
        f"WHERE {after_sql} ORDER BY {order} LIMIT ?",
        [*col_params, *params, *after_params, req.size + 1],
    ).fetchall()
    more = len(rows) > req.size
    hits = []
    for row in rows[: req.size]:
        _, doc_id, raw, *keys = row
        source = json.loads(raw)
        hits.append(
            Hit(id=doc_id, score=None, source=project(source, req.fields), sort=(*keys, doc_id))
        )
    aggs = {f: aggregate_sql(h, where, params, f, req.aggregation_size) for f in req.aggregations}
    return SearchResult(
        hits=tuple(hits),
        took_ms=(time.perf_counter() - started) * 1000,
        total=total,
        next_cursor=encode_cursor(hits[-1].sort) if more and hits else None,  # type: ignore[arg-type]
        aggregations=aggs,
    )
