"""An inverted index of the embedded store: (field, value) -> document rids.

Why: without it every new filter of a vector search is a scan of every JSON
source (0.5-1 s at 1M documents). With it, a ``Term``/``Terms`` leaf is one
index range read and a numeric ``Range`` one range scan; ``And``/``Or``/``Not``
combine sorted rid arrays in numpy.

What is indexed, so that the answer is *identical* to the JSON scan of
``sql`` (which asks ``json_each(source, '$."a"."b"')`` for scalars):
every scalar reached from the root through objects only, either directly or as
an element of a list at that place; stored as the very SQL value ``json_each``
yields (text, integer, real; true/false as 1/0; integers past 64 bits as real).
Strings longer than ``MAX_TERM_CHARS`` are left out, so a leaf that could match
one (a long ``Term`` value) is not answered from here. Keys that a field name
cannot spell (dots, spaces...) are left out too: no filter can name them.
Inside the nested lists (``query.nested``) only ``CHILD_TERMS`` are indexed, as
"some child holds this value" (``visual.regions.label`` -> the rids with a dog
region); every other child field is answered by the JSON scan.

Leaves it does not answer (``Match``, ``Prefix``, ``Exists``, string ranges,
``_id`` prefixes) run on the JSON scan, restricted to the rids the rest of an
``And`` already allowed when that set is small.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any, assert_never

import numpy as np

from es_visual.backends.embedded.sql import FIELD_SEGMENT, ID_FIELD, compile_filter, json_path
from es_visual.core import ir, schema
from es_visual.core.nested import NESTED_PATHS, nested_path

MAX_TERM_CHARS = 256
TERMS_VERSION = "2"  # 2: region labels and kinds
# Child fields worth an index read: few distinct values, asked for often (regions.label:dog).
CHILD_TERMS = frozenset({schema.REGION_LABEL_FIELD, schema.REGION_KIND_FIELD})
_LISTS = frozenset(NESTED_PATHS.values())
_INT64 = (-(2**63), 2**63 - 1)
# A restricted JSON scan (``rid IN (...)``) beats a full one below this share of documents.
RESTRICT_FRACTION = 0.25

TERMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS doc_terms (
    field TEXT NOT NULL,
    value,
    rid INTEGER NOT NULL,
    PRIMARY KEY (field, value, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_terms_by_rid ON doc_terms (rid);
"""

_EMPTY = np.empty(0, np.int64)


# --- writing -----------------------------------------------------------------------------------


def _sql_value(value: Any) -> Any:
    """The value ``json_each`` yields for this JSON scalar; ``None`` when not indexed."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TERM_CHARS else None
    return None


def doc_terms(source: dict[str, Any]) -> set[tuple[str, Any]]:
    """Every (dotted field, SQL value) the filters can ask of this source."""
    out: set[tuple[str, Any]] = set()
    stack: list[tuple[str, dict[str, Any]]] = [("", source)]
    while stack:
        prefix, obj = stack.pop()
        for key, value in obj.items():
            if not isinstance(key, str) or not FIELD_SEGMENT.match(key):
                continue
            field = prefix + key
            if isinstance(value, dict):
                stack.append((field + ".", value))
                continue
            if field in _LISTS:
                out.update(_child_terms(field, value))
                continue
            out.update(_field_terms(field, value))
    return out


def _field_terms(field: str, value: Any) -> set[tuple[str, Any]]:
    """(field, SQL value) for a value or each item of a list, those SQL can hold."""
    items = value if isinstance(value, list) else (value,)
    return {(field, sql) for sql in map(_sql_value, items) if sql is not None}


def _child_terms(path: str, children: Any) -> set[tuple[str, Any]]:
    """The ``CHILD_TERMS`` of the objects of one nested list."""
    out: set[tuple[str, Any]] = set()
    for child in children if isinstance(children, list) else (children,):
        if not isinstance(child, dict):
            continue
        for key, value in child.items():
            field = f"{path}.{key}"
            if field not in CHILD_TERMS:
                continue
            out.update(_field_terms(field, value))
    return out


def index_doc(conn: sqlite3.Connection, rid: int, source: dict[str, Any], *, replace: bool) -> None:
    """Write one document's terms (inside the caller's write transaction)."""
    if replace:
        conn.execute("DELETE FROM doc_terms WHERE rid = ?", (rid,))
    conn.executemany(
        "INSERT OR IGNORE INTO doc_terms (field, value, rid) VALUES (?, ?, ?)",
        [(f, v, rid) for f, v in doc_terms(source)],
    )


def unindex_docs(conn: sqlite3.Connection, rids: list[int]) -> None:
    conn.execute(
        "DELETE FROM doc_terms WHERE rid IN (SELECT value FROM json_each(?))", (json.dumps(rids),)
    )


def ensure_terms(conn: sqlite3.Connection) -> None:
    """Build the terms of a store written before they existed (once; idempotent)."""
    flag = conn.execute("SELECT value FROM meta WHERE key = 'terms'").fetchone()
    if flag is not None and flag[0] == TERMS_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        flag = conn.execute("SELECT value FROM meta WHERE key = 'terms'").fetchone()
        if flag is None or flag[0] != TERMS_VERSION:
            conn.execute("DELETE FROM doc_terms")
            for rid, raw in conn.execute("SELECT rid, source FROM docs").fetchall():
                index_doc(conn, rid, json.loads(raw), replace=False)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('terms', ?)",
                         (TERMS_VERSION,))  # fmt: skip
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# --- reading -----------------------------------------------------------------------------------


def select_rids(
    conn: sqlite3.Connection, sql: str, params: list[Any], *, ordered: bool
) -> np.ndarray:
    """Rids as int64 numpy, sorted and unique. group_concat keeps it to one Python row:
    100k rids cost a few ms instead of 100k Python tuples."""
    row = conn.execute(f"SELECT group_concat(rid) FROM ({sql})", params).fetchone()
    if row is None or not row[0]:
        return _EMPTY
    rids = np.fromstring(row[0], dtype=np.int64, sep=",")
    return rids if ordered else np.unique(rids)


class TermsEvaluator:
    """``evaluate(node)`` -> sorted unique rids of the documents ``node`` matches.

    ``all_rids`` gives every document's rid (for ``Not`` and ``MatchAll``); it is
    called at most once per evaluation.
    """

    def __init__(self, conn: sqlite3.Connection, all_rids: Callable[[], np.ndarray]) -> None:
        self.conn = conn
        self._all_fn = all_rids
        self._all: np.ndarray | None = None

    def all(self) -> np.ndarray:
        if self._all is None:
            self._all = self._all_fn()
        return self._all

    def evaluate(self, node: ir.Node) -> np.ndarray:
        return self._eval(node, None)

    # ``within``: rids the answer will be intersected with anyway (may narrow a scan).
    def _eval(self, node: ir.Node, within: np.ndarray | None) -> np.ndarray:
        match node:
            case ir.MatchAll():
                return self.all()
            case ir.MatchNone():
                return _EMPTY
            case ir.And():
                return self._and(node, within)
            case ir.Or(children):
                parts = [self._eval(c, within) for c in children]
                return _EMPTY if not parts else np.unique(np.concatenate(parts))
            case ir.Not(child):
                return np.setdiff1d(self.all(), self._eval(child, None), assume_unique=True)
            case (
                ir.Term()
                | ir.Terms()
                | ir.Ids()
                | ir.Prefix()
                | ir.Range()
                | ir.Exists()
                | ir.Match()
                | ir.MultiMatch()
            ):
                found = self._leaf(node)
                return found if found is not None else self._scan(node, within)
            case _:
                assert_never(node)

    def _and(self, node: ir.And, within: np.ndarray | None) -> np.ndarray:
        if not node.children:
            return self.all()
        # Indexed children first: their intersection can narrow the scans of the others.
        ordered = sorted(node.children, key=lambda c: 0 if indexed(c) else 1)
        out: np.ndarray | None = within
        for child in ordered:
            part = self._eval(child, out)
            out = part if out is None else np.intersect1d(out, part, assume_unique=True)
            if not len(out):
                return _EMPTY
        assert out is not None
        return out

    def _leaf(self, node: ir.Node) -> np.ndarray | None:
        """From the terms (or the id index); None when this leaf needs the JSON scan."""
        if isinstance(node, ir.Ids) or (
            isinstance(node, ir.Term | ir.Terms) and node.field == ID_FIELD
        ):
            values = node.values if not isinstance(node, ir.Term) else (node.value,)
            ids = json.dumps([str(v) for v in values])
            return select_rids(
                self.conn,
                "SELECT rid FROM docs WHERE id IN (SELECT value FROM json_each(?))",
                [ids],
                ordered=False,
            )
        if not indexed(node):
            return None
        if isinstance(node, ir.Term):
            compile_filter(node)  # the same validation (field name, value type) as the scan
            return select_rids(
                self.conn,
                "SELECT rid FROM doc_terms WHERE field = ? AND value = ?",
                [node.field, node.value],
                ordered=True,
            )
        if isinstance(node, ir.Terms):
            compile_filter(node)
            if not node.values:
                return _EMPTY
            return select_rids(
                self.conn,
                "SELECT rid FROM doc_terms WHERE field = ? AND value IN "
                "(SELECT value FROM json_each(?))",
                [node.field, json.dumps(list(node.values))],
                ordered=len(node.values) == 1,
            )
        assert isinstance(node, ir.Range)
        json_path(node.field)
        conds = ["typeof(value) IN ('integer', 'real')"]
        params: list[Any] = [node.field]
        for op, v in ((">", node.gt), (">=", node.gte), ("<", node.lt), ("<=", node.lte)):
            if v is not None:
                conds.append(f"value {op} ?")
                params.append(float(v))
        return select_rids(
            self.conn,
            f"SELECT rid FROM doc_terms WHERE field = ? AND {' AND '.join(conds)}",
            params,
            ordered=False,
        )

    def _scan(self, node: ir.Node, within: np.ndarray | None) -> np.ndarray:
        where, params = compile_filter(node)
        if within is not None and len(within) < RESTRICT_FRACTION * max(len(self.all()), 1):
            sql = (
                f"SELECT d.rid AS rid FROM docs AS d WHERE d.rid IN "
                f"(SELECT value FROM json_each(?)) AND {where}"
            )
            return select_rids(
                self.conn, sql, [json.dumps(within.tolist()), *params], ordered=False
            )
        return select_rids(
            self.conn, f"SELECT d.rid AS rid FROM docs AS d WHERE {where}", params, ordered=False
        )


def indexed(node: ir.Node) -> bool:
    """Whether the terms answer this leaf exactly as the JSON scan would."""
    match node:
        case ir.Term() | ir.Terms() | ir.Range() if (
            nested_path(node.field) is not None and node.field not in CHILD_TERMS
        ):
            return False
        case ir.Term(field, value):
            return field != ID_FIELD and _answerable(value)
        case ir.Terms(field, values):
            return field != ID_FIELD and all(_answerable(v) for v in values)
        case ir.Range(_, gt, gte, lt, lte):
            bounds = [b for b in (gt, gte, lt, lte) if b is not None]
            return bool(bounds) and all(
                isinstance(b, int | float) and not isinstance(b, bool) for b in bounds
            )
        case (
            ir.MatchAll()
            | ir.MatchNone()
            | ir.Match()
            | ir.MultiMatch()
            | ir.Prefix()
            | ir.Exists()
            | ir.Ids()
            | ir.And()
            | ir.Or()
            | ir.Not()
        ):
            return False
        case _:
            assert_never(node)


def _answerable(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TERM_CHARS
    return isinstance(value, int | float | bool)
