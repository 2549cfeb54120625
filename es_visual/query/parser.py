"""The expression language: text -> syntax tree -> IR.

A small hand-written recursive-descent parser over a tokenizer. Grammar, by
increasing precedence (NOT > AND > OR; juxtaposition is AND)::

    query      := or_expr? EOF
    or_expr    := and_expr (OR and_expr)*
    and_expr   := unary (AND? unary)*
    unary      := (NOT | "-") unary | primary
    primary    := "(" or_expr ")" | WORD OP value | WORD | QUOTED
    value      := WORD | QUOTED | "[" bound TO bound "]"
    OP         := ":" | "=" | "!=" | ">" | ">=" | "<" | "<="

``parse_expression`` gives the syntax tree (every node knows its position);
``to_ir`` turns it into IR filter nodes through a ``FieldMap``; ``parse`` does
both. ``format_expression`` prints a tree back as text that parses to it.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias

from es_visual.core import ir
from es_visual.core.errors import QueryError, QuerySyntaxError, QueryValueError
from es_visual.query.fieldmap import ID_FIELD, FieldInfo, FieldMap

MAX_DEPTH = 100  # nested groups / NOTs; deeper input is refused, not a RecursionError

Op: TypeAlias = Literal[":", "=", "!=", ">", ">=", "<", "<="]
OPS: tuple[str, ...] = (":", "=", "!=", ">", ">=", "<", "<=")
KEYWORDS = ("AND", "OR", "NOT")

# --- syntax tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False
    pos: int = field(default=0, compare=False)

    @property
    def is_star(self) -> bool:
        return self.text == "*" and not self.quoted


@dataclass(frozen=True)
class RangeValue:
    """``[low TO high]``, both ends inclusive; None is an open end (``*``)."""

    low: Value | None
    high: Value | None
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Compare:
    name: str
    op: Op
    value: Value | RangeValue
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bare:
    """A word or quoted phrase without a field: full text over the text fields."""

    value: Value
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class AndExpr:
    children: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class OrExpr:
    children: tuple[Expr, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NotExpr:
    child: Expr
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Empty:
    """The empty expression: every document."""

    pos: int = field(default=0, compare=False)


Expr: TypeAlias = Compare | Bare | AndExpr | OrExpr | NotExpr | Empty

# --- tokens --------------------------------------------------------------------------

Kind: TypeAlias = Literal[
    "WORD", "QUOTED", "OP", "LPAREN", "RPAREN", "LBRACKET", "RBRACKET",
    "AND", "OR", "NOT", "MINUS", "TO", "EOF",
]  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the value: a word, a phrase without its quotes, an operator
    pos: int
    end: int

    def describe(self) -> str:
        if self.kind == "EOF":
            return "end of input"
        if self.kind == "QUOTED":
            return f'"{self.text}"'
        return f"'{self.text}'"


_SPACE = " \t\r\n\f\v"
_OP_START = ":=!<>"
_NORMAL_STOP = _SPACE + '()[]"' + ":=<>"
_VALUE_STOP = _SPACE + '()[]"'


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text``, ending with EOF.

    The tokenizer has three modes: normal; value (the one token right after an
    operator, where ``:`` and ``-`` belong to the word, as in ISO times or
    negative numbers); and inside ``[...]``, where ``TO`` is a keyword.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    after_op = False
    in_range = False
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            tokens.append(Token("EOF", "", n, n))
            return tokens
        c = text[i]
        start = i
        normal = not (after_op or in_range)
        if c == '"':
            value, i = _read_quoted(text, i)
            tokens.append(Token("QUOTED", value, start, i))
        elif c in "()":
            i += 1
            tokens.append(Token("LPAREN" if c == "(" else "RPAREN", c, start, i))
        elif c == "[":
            i += 1
            in_range = True
            tokens.append(Token("LBRACKET", c, start, i))
        elif c == "]":
            i += 1
            in_range = False
            tokens.append(Token("RBRACKET", c, start, i))
        elif normal and c in _OP_START and (c != "!" or _at(text, i + 1) == "="):
            i += 2 if _at(text, i + 1) == "=" and c in "!<>" else 1
            tokens.append(Token("OP", text[start:i], start, i))
            after_op = True
            continue
        elif normal and c == "-" and _at(text, i + 1) not in _SPACE + ")":
            i += 1
            tokens.append(Token("MINUS", c, start, i))
        else:
            stop = _NORMAL_STOP if normal else _VALUE_STOP
            # In "a!=b" the operator ends the word; a lone "!" is part of it.
            while i < n and text[i] not in stop and not (normal and text[i : i + 2] == "!="):
                i += 1
            i = max(i, start + 1)  # never an empty word: always make progress
            word = text[start:i]
            upper = word.upper()
            if in_range and upper == "TO":
                kind: Kind = "TO"
            elif normal and upper in KEYWORDS:
                kind = upper  # type: ignore[assignment]
            else:
                kind = "WORD"
            tokens.append(Token(kind, word, start, i))
        after_op = False


def _at(text: str, i: int) -> str:
    return text[i] if i < len(text) else " "


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise QuerySyntaxError(text, start, "a closing '\"' for the quote opened here", "end of input")


# --- parser --------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, kind: Kind) -> bool:
        # A call, not ``self.tok.kind == ...``: a type checker would keep the kind it
        # narrowed before ``advance()`` moved on.
        return self.tok.kind == kind

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def fail(self, expected: str, tok: Token | None = None) -> QuerySyntaxError:
        tok = tok or self.tok
        return QuerySyntaxError(self.text, tok.pos, expected, tok.describe())

    def parse(self) -> Expr:
        if self.tok.kind == "EOF":
            return Empty(0)
        expr = self.or_expr()
        if self.tok.kind == "OP":
            raise self.fail(f"a field name right before '{self.tok.text}'")
        if not self.at("EOF"):
            unmatched = " (this ')' closes no '(')" if self.at("RPAREN") else ""
            raise self.fail("AND, OR or the end of the expression" + unmatched)
        return expr

    def or_expr(self) -> Expr:
        start = self.tok.pos
        children = [self.and_expr()]
        while self.tok.kind == "OR":
            self.advance()
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else OrExpr(tuple(children), start)

    def and_expr(self) -> Expr:
        start = self.tok.pos
        children = [self.unary()]
        while True:
            if self.tok.kind == "AND":
                self.advance()
            elif self.tok.kind not in ("WORD", "QUOTED", "LPAREN", "NOT", "MINUS"):
                break
            children.append(self.unary())
        return children[0] if len(children) == 1 else AndExpr(tuple(children), start)

    def unary(self) -> Expr:
        if self.tok.kind in ("NOT", "MINUS"):
            tok = self.advance()
            self.enter(tok)
            child = self.unary()
            self.depth -= 1
            return NotExpr(child, tok.pos)
        return self.primary()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(
                self.text, tok.pos, f"at most {MAX_DEPTH} nested groups or NOTs", tok.describe()
            )

    def primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.advance()
            self.enter(tok)
            inner = self.or_expr()
            self.depth -= 1
            if self.tok.kind != "RPAREN":
                raise self.fail("')' to close the '(' at column " + str(tok.pos + 1))
            self.advance()
            return inner
        if tok.kind == "WORD" and self.peek().kind == "OP":
            self.advance()
            op = self.advance()
            return Compare(tok.text, op.text, self.value(op), tok.pos)  # type: ignore[arg-type]
        if tok.kind in ("WORD", "QUOTED"):
            self.advance()
            return Bare(Value(tok.text, tok.kind == "QUOTED", tok.pos), tok.pos)
        if tok.kind == "OP":
            raise self.fail(f"a field name right before '{tok.text}'")
        raise self.fail("a term, a field:value, '(' or NOT")

    def value(self, op: Token) -> Value | RangeValue:
        tok = self.tok
        if tok.kind in ("WORD", "QUOTED"):
            self.advance()
            return Value(tok.text, tok.kind == "QUOTED", tok.pos)
        if tok.kind == "LBRACKET":
            if op.text not in (":", "="):
                raise self.fail(f"a value after '{op.text}' (ranges go with ':' or '=')")
            self.advance()
            low = self.bound()
            if self.tok.kind != "TO":
                raise self.fail("TO")
            self.advance()
            high = self.bound()
            if not self.at("RBRACKET"):
                raise self.fail("']'")
            self.advance()
            return RangeValue(low, high, tok.pos)
        raise self.fail(f"a value after '{op.text}'")

    def bound(self) -> Value | None:
        tok = self.tok
        if tok.kind in ("WORD", "QUOTED"):
            self.advance()
            value = Value(tok.text, tok.kind == "QUOTED", tok.pos)
            return None if value.is_star else value
        raise self.fail("a range bound (a value or *)")


def parse_expression(text: str) -> Expr:
    """The syntax tree of ``text``; ``QuerySyntaxError`` (with ``.pos``) if it does not parse."""
    return _Parser(text).parse()


def parse(text: str, field_map: FieldMap | None = None, *, now: datetime | None = None) -> ir.Node:
    """``text`` as an IR filter. ``now`` anchors relative dates (default: the current time).

    Raises ``QuerySyntaxError``, ``UnknownFieldError`` or ``QueryValueError`` (a
    value that does not fit its field's type), all three pointing into ``text``.
    """
    return to_ir(parse_expression(text), field_map or FieldMap.default(), text=text, now=now)


# --- syntax tree -> IR -------------------------------------------------------------------


def to_ir(
    expr: Expr, field_map: FieldMap, *, text: str = "", now: datetime | None = None
) -> ir.Node:
    """The IR filter for ``expr``; ``text`` (the source) only makes error messages point."""
    return _Compiler(field_map, text, now or datetime.now(UTC)).node(expr)


class _Compiler:
    def __init__(self, field_map: FieldMap, text: str, now: datetime) -> None:
        self.fields, self.text = field_map, text
        # Whole seconds: the same query in the same second compiles to the same body (caches).
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.now = now.replace(microsecond=0)

    def error(self, message: str, pos: int) -> QueryValueError:
        return QueryValueError(message, text=self.text, pos=pos)

    def node(self, expr: Expr) -> ir.Node:
        if isinstance(expr, Empty):
            return ir.MatchAll()
        if isinstance(expr, AndExpr):
            return ir.and_(*(self.node(c) for c in expr.children))
        if isinstance(expr, OrExpr):
            return ir.or_(*(self.node(c) for c in expr.children))
        if isinstance(expr, NotExpr):
            return _negate(self.node(expr.child))
        if isinstance(expr, Bare):
            return self.bare(expr)
        return self.compare(expr)

    def bare(self, expr: Bare) -> ir.Node:
        if expr.value.is_star:
            return ir.MatchAll()
        if not self.fields.text_fields:
            raise self.error(
                f"{expr.value.text!r} has no field, and no text fields are configured for "
                "bare words (settings: text_fields); write field:value",
                expr.pos,
            )
        return ir.MultiMatch(self.fields.text_fields, expr.value.text, phrase=expr.value.quoted)

    def compare(self, expr: Compare) -> ir.Node:
        info = self.fields.resolve(expr.name)
        if info.field == ID_FIELD:
            return self.ids(info, expr)
        if isinstance(expr.value, RangeValue):
            if info.type in ("text", "boolean"):
                raise self.error(f"field {info.name!r} is {info.type}: it has no ranges", expr.pos)
            lo, hi = expr.value.low, expr.value.high
            return ir.Range(
                info.field,
                gte=None if lo is None else self.scalar(info, lo),
                lte=None if hi is None else self.scalar(info, hi),
            )
        value, op = expr.value, expr.op
        if op in (":", "=", "!="):
            node = self.equals(info, value, fuzzy=op == ":")
            return _negate(node) if op == "!=" else node
        if info.type in ("text", "boolean"):
            raise self.error(
                f"field {info.name!r} is {info.type}: '{op}' needs a number, date or keyword",
                expr.pos,
            )
        if value.is_star:
            raise self.error(f"'{op}' needs a value, not *", value.pos)
        bound = self.scalar(info, value)
        key = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op]
        return ir.Range(info.field, **{key: bound})

    def equals(self, info: FieldInfo, value: Value, *, fuzzy: bool) -> ir.Node:
        """``field:value`` (fuzzy: match on text, prefix with a trailing *) or ``field=value``."""
        if value.is_star:
            return ir.Exists(info.field)
        if info.type == "text":
            if fuzzy and not value.quoted and value.text.endswith("*"):
                return ir.Prefix(info.field, value.text[:-1])
            return ir.Match(info.field, value.text, phrase=value.quoted or not fuzzy)
        if info.type == "keyword":
            if fuzzy and not value.quoted and value.text.endswith("*"):
                return ir.Prefix(info.field, value.text[:-1])
            return ir.Term(info.field, value.text)
        if info.type == "date" and _DAY.fullmatch(value.text):
            # A day is the 24 hours starting at its UTC midnight.
            day = self.date_value(info, value)
            try:
                end = datetime.fromisoformat(day.replace("Z", "+00:00")) + timedelta(days=1)
            except OverflowError:  # 9999-12-31: the calendar's last day, nothing after it
                return ir.Range(info.field, gte=day)
            return ir.Range(info.field, gte=day, lt=_iso(end))
        if info.type == "date" and _RELATIVE.fullmatch(value.text.lower()):
            raise self.error(
                f"{value.text!r} is a moment, not a day: use {info.name}>{value.text} "
                f"(within the last {value.text}) or a range",
                value.pos,
            )
        return ir.Term(info.field, self.scalar(info, value))

    def ids(self, info: FieldInfo, expr: Compare) -> ir.Node:
        value = expr.value
        if expr.op not in (":", "=", "!=") or isinstance(value, RangeValue) or value.is_star:
            raise self.error(f"field {info.name!r} (the document id) takes only = or :", expr.pos)
        node = ir.Ids((value.text,))
        return _negate(node) if expr.op == "!=" else node

    def scalar(self, info: FieldInfo, value: Value) -> ir.Scalar:
        try:
            return to_scalar(info, value.text, now=self.now)
        except QueryError as exc:
            raise self.error(str(exc), value.pos) from None

    def date_value(self, info: FieldInfo, value: Value) -> str:
        return str(self.scalar(FieldInfo(info.name, info.field, "date"), value))


def _negate(node: ir.Node) -> ir.Node:
    match node:
        case ir.MatchAll():
            return ir.MatchNone()
        case ir.MatchNone():
            return ir.MatchAll()
        case ir.Not(child):
            return child
        case _:
            return ir.Not(node)


_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_RELATIVE = re.compile(r"(\d+)([hdwmy])")
# What a "long" holds on every backend (SQLite's INTEGER, Elasticsearch's long).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def to_scalar(info: FieldInfo, value: Any, *, now: datetime | None = None) -> ir.Scalar:
    """``value`` as the IR scalar of ``info``'s type: the one rule for a DSL value (its
    text) and for ``Search.filter(**exact)`` (a Python value; a string there means what
    it means in the DSL). Dates may be relative to ``now`` (default: the current time).
    Raises ``QueryError`` naming the field and the value."""
    shown = repr(value if not isinstance(value, str) or len(value) <= 40 else value[:37] + "...")
    if info.type == "number":
        number: int | float | None = None
        if isinstance(value, str):
            number = parse_number(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
            if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
                number = None
            if isinstance(value, float) and not math.isfinite(value):
                number = None
        else:
            raise QueryError(f"field {info.name!r} is a number; {shown} is not a number")
        if number is None:
            problem = (
                "is beyond the numbers a field holds (64-bit integers, finite decimals)"
                if not isinstance(value, str) or _INT.fullmatch(value) or _FLOAT.fullmatch(value)
                else "is not a number"
            )
            raise QueryError(f"field {info.name!r} is a number; {shown} {problem}")
        return number
    if info.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise QueryError(f"field {info.name!r} is a boolean; {shown} is not true or false")
    if info.type == "date":
        try:
            if isinstance(value, (datetime, date)):
                return date_to_iso(value)
            moment = _date(value, now or datetime.now(UTC)) if isinstance(value, str) else None
        except OverflowError:
            raise QueryError(
                f"field {info.name!r} is a date; {shown} falls outside the calendar "
                "(years 1 to 9999, UTC)"
            ) from None
        if moment is None:
            raise QueryError(
                f"field {info.name!r} is a date; {shown} is not a date (write 2024-05-01, "
                "2024-05-01T10:00:00Z, now, or 7d / 2w / 3m / 1y / 12h ago)"
            )
        return _iso(moment)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise QueryError(f"field {info.name!r} takes text values, not {shown}")


def parse_number(text: str) -> int | float | None:
    """``text`` as an integer (64-bit) or a finite decimal; None when it is neither."""
    if _INT.fullmatch(text):
        # Checked by length first: int() refuses strings over 4300 digits (ValueError).
        if len(text.lstrip("+-").lstrip("0")) > 19:
            return None
        whole = int(text)
        return whole if INT64_MIN <= whole <= INT64_MAX else None
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _date(text: str, now: datetime) -> datetime | None:
    """An absolute ISO date/time (UTC unless it says otherwise), ``now``, or ``now`` minus
    a relative amount: ``12h``, ``7d``, ``2w``, ``3m`` (calendar months), ``1y``.

    None when ``text`` is no date; ``OverflowError`` when it is one outside the calendar
    (``99999999d`` ago, ``0001-01-01T00:00:00+01:00``, which is in year 0 in UTC)."""
    low = text.lower()
    if low == "now":
        return now
    rel = _RELATIVE.fullmatch(low)
    if rel:
        digits, unit = rel.group(1), rel.group(2)
        if len(digits.lstrip("0")) > 12:  # more hours than the calendar has (and int() limits)
            raise OverflowError(f"{text} ago is before year 1")
        amount = int(digits)
        try:
            if unit == "h":
                return now - timedelta(hours=amount)
            if unit in ("d", "w"):
                return now - timedelta(days=amount * (7 if unit == "w" else 1))
            return _months_before(now, amount * (12 if unit == "y" else 1))
        except ValueError as exc:  # year 0 or below from the month arithmetic
            raise OverflowError(str(exc)) from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.,]+(Z|[+-]\d{2}(:?\d{2})?)?)?", text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _months_before(now: datetime, months: int) -> datetime:
    index = now.year * 12 + (now.month - 1) - months
    year, month = divmod(index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def date_to_iso(value: datetime | date | str) -> str:
    """A ``datetime``/``date``/ISO string as the IR's UTC ISO string (for the builder)."""
    try:
        if isinstance(value, datetime):
            return _iso(value if value.tzinfo else value.replace(tzinfo=UTC))
        if isinstance(value, date):
            return _iso(datetime(value.year, value.month, value.day, tzinfo=UTC))
        moment = _date(value, datetime.now(UTC))
        iso = None if moment is None else _iso(moment)
    except OverflowError:
        raise QueryError(f"{value!r} falls outside the calendar (years 1 to 9999, UTC)") from None
    if iso is None:
        raise QueryError(f"{value!r} is not a date")
    return iso


# --- printing ------------------------------------------------------------------------

# Characters that end or change a word in normal mode (the printer quotes values with them).
_UNSAFE_WORD = set(_NORMAL_STOP) | {"!", "\\"}
_UNSAFE_VALUE = set(_VALUE_STOP) | {"\\"}


def format_expression(expr: Expr) -> str:
    """Text that ``parse_expression`` turns back into ``expr`` (positions aside)."""
    if isinstance(expr, Empty):
        return ""
    if isinstance(expr, OrExpr):
        return " OR ".join(_group(c, OrExpr) for c in expr.children)
    if isinstance(expr, AndExpr):
        return " AND ".join(_group(c, (AndExpr, OrExpr)) for c in expr.children)
    if isinstance(expr, NotExpr):
        return "NOT " + _group(expr.child, (AndExpr, OrExpr))
    if isinstance(expr, Bare):
        return _quote(expr.value, bare=True)
    value = expr.value
    if isinstance(value, RangeValue):
        lo = "*" if value.low is None else _quote(value.low, bound=True)
        hi = "*" if value.high is None else _quote(value.high, bound=True)
        shown = f"[{lo} TO {hi}]"
    else:
        shown = _quote(value)
        if expr.op in ("<", ">") and shown.startswith("="):
            # "a>" + "=b" would read back as "a>=" + "b": a space keeps them apart.
            return f"{expr.name}{expr.op} {shown}"
    return f"{expr.name}{expr.op}{shown}"


def _group(expr: Expr, kinds: type | tuple[type, ...]) -> str:
    text = format_expression(expr)
    return f"({text})" if isinstance(expr, kinds) else text


def _quote(value: Value, *, bare: bool = False, bound: bool = False) -> str:
    text = value.text
    unsafe = _UNSAFE_WORD if bare else _UNSAFE_VALUE
    needs = (
        value.quoted
        or not text
        or any(c in unsafe for c in text)
        or (bare and (text.upper() in KEYWORDS or text.startswith("-")))
        or (bound and (text.upper() == "TO" or text == "*"))
    )
    if not needs:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
