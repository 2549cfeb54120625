"""IR filter -> a SQLite boolean expression over the JSON source in ``docs.source``.

Semantics follow Elasticsearch:

* A field holding a list matches when any element matches (``json_each`` yields
  one row for a scalar and one per element for a list, so one form serves both).
* A missing or null field matches no leaf, and ``Not`` of a leaf matches the
  documents that lack the field. SQL's NULL would break that (``NOT NULL`` is
  NULL), so every leaf is forced to 0/1 with ``coalesce``.
* ``Match`` is case-insensitive: every word of the query must occur as a token
  (``\\w+``, lower-cased) of the field; ``phrase`` wants them adjacent, in order,
  inside one value. ``MultiMatch`` wants every word in some field, each in any of them
  (a cluster's ``cross_fields``); a phrase must occur inside one field.
* ``Range`` compares numbers with numbers and strings with strings (ISO dates
  through ``julianday`` so ``Z`` and ``+00:00`` agree), never across types.
* A field inside a nested list (``visual.regions.label``, see ``query.nested``)
  matches when some child object of the list matches the leaf, as a ``nested``
  query does on a cluster. ``compile_child_filter`` compiles a filter over one
  child instead (the regions that may compete in a kNN).

Values are always bound as parameters; field names are validated and turned into
quoted JSON paths, which are parameters too.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import Any, assert_never

from es_visual.core import ir
from es_visual.core.errors import CursorError, QueryError
from es_visual.core.nested import nested_path, relative

FIELD_SEGMENT = re.compile(r"^[A-Za-z0-9_@$\-][A-Za-z0-9_@$\-]*$")
_TOKEN = re.compile(r"\w+")
ID_FIELD = "_id"


def json_path(field: str) -> str:
    """``a.b`` -> ``$."a"."b"``; ``QueryError`` for names that are not plain dotted fields."""
    parts = field.split(".") if isinstance(field, str) else []
    if not parts or not all(FIELD_SEGMENT.match(p) for p in parts):
        raise QueryError(f"invalid field name {field!r}: use letters, digits, _ - @ and dots")
    return "$" + "".join(f'."{p}"' for p in parts)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _sql_match(value: Any, json_type: str | None, query: str, phrase: int) -> int:
    """SQLite function ``es_match``: the Match semantics above, on one field's value."""
    if value is None or json_type in (None, "null", "object"):
        return 0
    if json_type == "array":
        values = [str(v) for v in json.loads(value) if isinstance(v, str | int | float)]
    else:
        values = [str(value)]
    words = tokenize(query)
    if not words:
        return 0
    if not phrase:
        have: set[str] = set()
        for v in values:
            have.update(tokenize(v))
        return int(all(w in have for w in words))
    n = len(words)
    for v in values:
        toks = tokenize(v)
        if any(toks[i : i + n] == words for i in range(len(toks) - n + 1)):
            return 1
    return 0


def register_functions(conn: sqlite3.Connection) -> None:
    """Install the Python functions compiled filters call; once per connection."""
    conn.create_function("es_match", 4, _sql_match, deterministic=True)


class FilterCompiler:
    """A visitor: ``compile(node)`` -> ``(sql, params)`` for ``WHERE`` over ``docs AS <alias>``."""

    def __init__(self, alias: str = "d", *, src: str | None = None) -> None:
        # ``src``: the JSON the fields are read from (a child object's, for a child filter).
        self.src = src or f"{alias}.source"
        self.id = f"{alias}.id"

    def compile(self, node: ir.Node) -> tuple[str, list[Any]]:
        params: list[Any] = []
        return self._visit(node, params), params

    def _visit(self, node: ir.Node, params: list[Any]) -> str:
        match node:
            case ir.MatchAll():
                return self._visit_matchall(node, params)
            case ir.MatchNone():
                return self._visit_matchnone(node, params)
            case ir.And():
                return self._visit_and(node, params)
            case ir.Or():
                return self._visit_or(node, params)
            case ir.Not():
                return self._visit_not(node, params)
            case ir.Term():
                return self._visit_term(node, params)
            case ir.Terms():
                return self._visit_terms(node, params)
            case ir.Ids():
                return self._visit_ids(node, params)
            case ir.Prefix():
                return self._visit_prefix(node, params)
            case ir.Range():
                return self._visit_range(node, params)
            case ir.Exists():
                return self._visit_exists(node, params)
            case ir.Match():
                return self._visit_match(node, params)
            case ir.MultiMatch():
                return self._visit_multimatch(node, params)
            case _:
                assert_never(node)

    # --- boolean structure -----------------------------------------------------------

    def _visit_matchall(self, node: ir.MatchAll, params: list[Any]) -> str:
        return "1"

    def _visit_matchnone(self, node: ir.MatchNone, params: list[Any]) -> str:
        return "0"

    def _visit_and(self, node: ir.And, params: list[Any]) -> str:
        if not node.children:
            return "1"
        return "(" + " AND ".join(self._visit(c, params) for c in node.children) + ")"

    def _visit_or(self, node: ir.Or, params: list[Any]) -> str:
        if not node.children:
            return "0"
        return "(" + " OR ".join(self._visit(c, params) for c in node.children) + ")"

    def _visit_not(self, node: ir.Not, params: list[Any]) -> str:
        return f"(NOT {self._visit(node.child, params)})"

    # --- leaves -------------------------------------------------------------------------

    def _any(self, field: str, cond: str, cond_params: Sequence[Any], params: list[Any]) -> str:
        """True when some scalar element of ``field`` satisfies ``cond`` (over ``value``)."""
        path = nested_path(field)
        if path is not None:
            return self._some_child(path, field, cond, cond_params, params)
        params.append(json_path(field))
        params.extend(cond_params)
        return (
            f"coalesce(EXISTS(SELECT 1 FROM json_each({self.src}, ?) "
            f"WHERE type NOT IN ('object', 'array', 'null') AND ({cond})), 0)"
        )

    def _some_child(
        self, path: str, field: str, cond: str, cond_params: Sequence[Any], params: list[Any]
    ) -> str:
        """Some object of the nested list ``path`` has a scalar at ``field`` (relative to
        it) satisfying ``cond``; the inner ``value``/``type`` are the innermost table's."""
        params.extend([json_path(path), json_path(field[len(path) + 1 :]), *cond_params])
        return (
            f"coalesce(EXISTS(SELECT 1 FROM json_each({self.src}, ?) AS nc "
            f"WHERE nc.type = 'object' AND EXISTS(SELECT 1 FROM json_each(nc.value, ?) "
            f"WHERE type NOT IN ('object', 'array', 'null') AND ({cond}))), 0)"
        )

    def _visit_term(self, node: ir.Term, params: list[Any]) -> str:
        _check_scalar(node.value, node.field)
        if node.field == ID_FIELD:
            params.append(str(node.value))
            return f"({self.id} = ?)"
        return self._any(node.field, "value = ?", [node.value], params)

    def _visit_terms(self, node: ir.Terms, params: list[Any]) -> str:
        for v in node.values:
            _check_scalar(v, node.field)
        if not node.values:
            return "0"
        if node.field == ID_FIELD:
            return self._visit_ids(ir.Ids(tuple(str(v) for v in node.values)), params)
        # One JSON parameter however many values: no limit on bound variables.
        return self._any(
            node.field,
            "value IN (SELECT value FROM json_each(?))",
            [json.dumps(list(node.values))],
            params,
        )

    def _visit_ids(self, node: ir.Ids, params: list[Any]) -> str:
        if not node.values:
            return "0"
        params.append(json.dumps([str(v) for v in node.values]))
        return f"({self.id} IN (SELECT value FROM json_each(?)))"

    def _visit_prefix(self, node: ir.Prefix, params: list[Any]) -> str:
        if node.field == ID_FIELD:
            params.extend([len(node.prefix), node.prefix])
            return f"(substr({self.id}, 1, ?) = ?)"
        return self._any(
            node.field,
            "typeof(value) = 'text' AND substr(value, 1, ?) = ?",
            [len(node.prefix), node.prefix],
            params,
        )

    def _visit_range(self, node: ir.Range, params: list[Any]) -> str:
        bounds = [
            (op, v)
            for op, v in ((">", node.gt), (">=", node.gte), ("<", node.lt), ("<=", node.lte))
            if v is not None
        ]
        if not bounds:
            return self._visit_exists(ir.Exists(node.field), params)
        kinds = {isinstance(v, str) for _, v in bounds}
        if len(kinds) > 1:
            raise QueryError(f"range on {node.field!r} mixes text and number bounds")
        conds: list[str] = []
        cond_params: list[Any] = []
        if kinds == {True}:
            conds.append("typeof(value) = 'text'")
            for op, v in bounds:
                # Dates compare as instants; other strings (keywords) as text.
                conds.append(f"coalesce(julianday(value) {op} julianday(?), value {op} ?)")
                cond_params.extend([v, v])
        else:
            conds.append("typeof(value) IN ('integer', 'real')")
            for op, v in bounds:
                conds.append(f"value {op} ?")
                cond_params.append(float(v))
        return self._any(node.field, " AND ".join(conds), cond_params, params)

    def _visit_exists(self, node: ir.Exists, params: list[Any]) -> str:
        if node.field == ID_FIELD:
            return "1"
        if node.as_written:
            json_path(node.field)  # the same validation of the name
            return self._written(node.field.split("."), "$", params)
        path = nested_path(node.field)
        if path is not None:
            return self._some_child(path, node.field, "1", [], params)
        params.append(json_path(node.field))
        # null, [], [null] and {} do not exist, as in Elasticsearch.
        return f"coalesce(EXISTS(SELECT 1 FROM json_each({self.src}, ?) WHERE type != 'null'), 0)"

    def _written(self, parts: list[str], base: str, params: list[Any]) -> str:
        """Some spelling of ``parts`` under ``base`` is a key of the source, whatever it
        holds, or a non-object blocks the path: ``a.b`` is ``$."a"."b"``, ``$."a.b"``, or
        ``$."a"`` holding null, a list or a scalar (one OR per way to group the names)."""
        ors: list[str] = []
        for k in range(1, len(parts) + 1):
            path = base + '."' + ".".join(parts[:k]) + '"'
            if k == len(parts):
                params.append(path)
                ors.append(f"json_type({self.src}, ?) IS NOT NULL")
                continue
            params.extend([path, path])
            rest = self._written(parts[k:], path, params)
            ors.append(
                f"(json_type({self.src}, ?) IS NOT NULL AND "
                f"(json_type({self.src}, ?) != 'object' OR {rest}))"
            )
        return "(" + " OR ".join(ors) + ")"

    def _visit_match(self, node: ir.Match, params: list[Any]) -> str:
        nested = nested_path(node.field)
        if nested is not None:
            inner_params: list[Any] = []
            child = FilterCompiler(src="nc.value")
            inner = child._visit_match(relative(node, nested), inner_params)  # type: ignore[arg-type]
            params.extend([json_path(nested), *inner_params])
            return (
                f"coalesce(EXISTS(SELECT 1 FROM json_each({self.src}, ?) AS nc "
                f"WHERE nc.type = 'object' AND {inner}), 0)"
            )
        path = json_path(node.field)
        params.extend([path, path, node.text, int(node.phrase)])
        return f"es_match(json_extract({self.src}, ?), json_type({self.src}, ?), ?, ?)"

    def _visit_multimatch(self, node: ir.MultiMatch, params: list[Any]) -> str:
        if not node.fields:
            return "0"
        words = _TOKEN.findall(node.text.lower())
        if node.phrase or len(words) < 2:
            parts = [
                self._visit_match(ir.Match(f, node.text, node.phrase), params) for f in node.fields
            ]
            return "(" + " OR ".join(parts) + ")"
        # As a cluster's cross_fields with operator "and": every word occurs, each in
        # any of the fields ("red dog" matches title "red" with caption "dog").
        per_word = [
            "(" + " OR ".join(self._visit_match(ir.Match(f, w), params) for f in node.fields) + ")"
            for w in dict.fromkeys(words)
        ]
        return "(" + " AND ".join(per_word) + ")"


def _check_scalar(value: Any, field: str) -> None:
    if not isinstance(value, str | int | float | bool):
        raise QueryError(f"value for {field!r} must be a string, number or boolean, not {value!r}")


def compile_filter(node: ir.Node, alias: str = "d") -> tuple[str, list[Any]]:
    """``(sql, params)``: a 0/1 expression true for the documents ``node`` matches."""
    return FilterCompiler(alias).compile(node)


def compile_child_filter(node: ir.Node, path: str, child: str) -> tuple[str, list[Any]]:
    """``(sql, params)``: a 0/1 expression true for the child objects of the nested list
    ``path`` that ``node`` (fields written in full: ``visual.regions.label``) matches;
    ``child`` is the SQL expression of one child object's JSON."""
    return FilterCompiler(src=child).compile(relative(node, path))


# --- sorting and search_after --------------------------------------------------------------


def sort_expr(field: str, order: str, alias: str = "d") -> tuple[str, list[Any]]:
    """The value a document sorts by: lists by their min (asc) or max (desc), as ES does."""
    if field == ID_FIELD:
        return f"{alias}.id", []
    path = json_path(field)
    agg = "min" if order == "asc" else "max"
    src = f"{alias}.source"
    return (
        f"(CASE json_type({src}, ?) WHEN 'array' THEN "
        f"(SELECT {agg}(value) FROM json_each({src}, ?) WHERE type NOT IN ('object', 'array')) "
        f"WHEN 'object' THEN NULL ELSE json_extract({src}, ?) END)",
        [path, path, path],
    )


def order_and_after(
    sort: Sequence[ir.Sort], after: Sequence[Any] | None, alias: str = "d"
) -> tuple[str, list[Any], str, str, list[Any]]:
    """``(select_sql, select_params, order_sql, after_sql, after_params)`` for a keyset page.

    The select list computes each sort key as ``s0, s1, ...`` (id last); ``order_sql``
    sorts missing values last in both directions, like Elasticsearch; ``after_sql``
    keeps the rows strictly after ``after`` in that order (``1`` without ``after``).
    """
    keys = [s for s in sort if s.field != ID_FIELD]
    for s in sort:
        if s.order not in ("asc", "desc"):
            raise QueryError(f"sort order must be asc or desc, not {s.order!r}")
    id_order = next((s.order for s in sort if s.field == ID_FIELD), "asc")
    cols: list[str] = []
    col_params: list[Any] = []
    for i, s in enumerate(keys):
        expr, p = sort_expr(s.field, s.order, alias)
        cols.append(f"{expr} AS s{i}")
        col_params.extend(p)
    names = [f"s{i}" for i in range(len(keys))]
    orders = [s.order for s in keys]
    order_sql = ", ".join(
        [f"({n} IS NULL), {n} {o.upper()}" for n, o in zip(names, orders, strict=True)]
        + [f"{alias}.id {id_order.upper()}"]
    )
    if after is None:
        return ", ".join(cols), col_params, order_sql, "1", []
    if len(after) != len(keys) + 1:
        raise CursorError(
            f"the cursor holds {len(after)} sort values; this search sorts by {len(keys) + 1}: "
            "it comes from another search"
        )
    # (k1 after a1) OR (k1 = a1 AND ((k2 after a2) OR (k2 = a2 AND ... id after)))
    after_sql, after_params = _after_id(alias, id_order, after[-1])
    for name, order, value in reversed(list(zip(names, orders, after[:-1], strict=True))):
        if value is None:
            # Missing sorts last: only other missing values are equal, nothing is after.
            after_sql = f"({name} IS NULL AND {after_sql})"
        else:
            op = ">" if order == "asc" else "<"
            after_sql = f"({name} IS NULL OR {name} {op} ? OR ({name} = ? AND {after_sql}))"
            after_params = [value, value, *after_params]
    return ", ".join(cols), col_params, order_sql, after_sql, after_params


def _after_id(alias: str, order: str, value: Any) -> tuple[str, list[Any]]:
    return f"({alias}.id {'>' if order == 'asc' else '<'} ?)", [str(value)]
