"""The intermediate form between the DSL and the backends.

Everything here is a frozen dataclass: the builder produces it, each backend's
compiler consumes it, nobody mutates it. It holds no references to models or
clients: by the time a request is built, every ``similar_to`` has already been
resolved to a plain vector (see ``Search.execute``).

Conventions every compiler and backend follows:

* Field names are the *index* field names (after the DSL's field map), dotted
  for object fields (``acl.read``, ``visual.media_type``).
* A field holding a list matches a ``Term``/``Terms``/``Prefix`` when any of
  its elements matches (Elasticsearch semantics).
* ``Term`` is an exact comparison (keyword, number, boolean, date).
  ``Match`` is full-text on an analyzed field: every word of ``text`` must
  occur (``operator: and``); ``phrase=True`` requires them in order, adjacent.
* Dates are ISO-8601 strings in UTC; relative dates (``7d``) are resolved by
  the parser against its ``now`` so that every backend sees the same instant.
* Vector scores are cosine similarity in [-1, 1], whatever the backend's native
  score: Elasticsearch's cosine ``_score`` is ``(1 + cos) / 2``, so its backend
  converts back. ``VectorQuery.min_similarity`` is in the same units.
* ``SearchRequest.acl`` is kept apart from ``filter`` so that no compiler can
  forget it: use ``scoped_filter``, which ANDs the two, everywhere a filter goes
  (inside every kNN clause and every query part; never a post_filter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

# The vector targets are the schema's; re-exported for the IR's users.
from es_visual.core.schema import TARGETS as TARGETS
from es_visual.core.schema import KnnTarget as KnnTarget
from es_visual.core.schema import VectorTarget as VectorTarget

Scalar: TypeAlias = str | int | float | bool


# --- filter nodes -------------------------------------------------------------


@dataclass(frozen=True)
class MatchAll:
    """Every document."""


@dataclass(frozen=True)
class MatchNone:
    """No document (e.g. a user with no principals and no public rule)."""


@dataclass(frozen=True)
class Term:
    field: str
    value: Scalar


@dataclass(frozen=True)
class Terms:
    """Any of ``values`` (an OR of ``Term``)."""

    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Match:
    field: str
    text: str
    phrase: bool = False


@dataclass(frozen=True)
class MultiMatch:
    """Bare words in an expression: full-text over the configured text fields."""

    fields: tuple[str, ...]
    text: str
    phrase: bool = False


@dataclass(frozen=True)
class Prefix:
    field: str
    prefix: str


@dataclass(frozen=True)
class Range:
    field: str
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None


@dataclass(frozen=True)
class Exists:
    """The field holds a value. ``as_written=True`` reads the document as written
    instead: a key holding null, ``[]`` or any other value counts, and so does a
    non-object where the path needs an object (``acl: 5`` for ``acl.read``) or a
    flat dotted key (``"acl.read": ...``). The ACL's missing rule uses it so that a
    malformed ACL is never "no ACL" (fail closed). Elasticsearch and OpenSearch do
    not index null or ``[]``; a compiler that cannot see them emits a plain exists."""

    field: str
    as_written: bool = False


@dataclass(frozen=True)
class Ids:
    values: tuple[str, ...]


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node: TypeAlias = (
    MatchAll
    | MatchNone
    | Term
    | Terms
    | Match
    | MultiMatch
    | Prefix
    | Range
    | Exists
    | Ids
    | And
    | Or
    | Not
)


def and_(*nodes: Node) -> Node:
    """AND that flattens nested Ands and drops MatchAll, so bodies stay small."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, MatchAll):
            continue
        if isinstance(node, MatchNone):
            return node
        flat.extend(node.children if isinstance(node, And) else (node,))
    if not flat:
        return MatchAll()
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def or_(*nodes: Node) -> Node:
    """OR that flattens nested Ors; any MatchAll makes the whole thing MatchAll."""
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, MatchAll):
            return node
        if isinstance(node, MatchNone):
            continue
        flat.extend(node.children if isinstance(node, Or) else (node,))
    if not flat:
        return MatchNone()
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


# --- the vector part -------------------------------------------------------------


@dataclass(frozen=True)
class VectorQuery:
    """kNN over one vector field.

    ``target`` picks the field: ``scene`` is ``visual.scene``; ``regions``,
    ``faces`` and ``frames`` are the nested ``visual.<target>`` children, scored
    per document by their best child, with every child above ``min_similarity``
    reported (that is what builds a video's timeline segments). ``on("any")`` in
    the builder becomes one request per target, merged by the executor. ``text`` is
    ``visual.text_vector``, the meaning of the document's own text (``query.meaning``).
    """

    vector: tuple[float, ...]
    target: KnnTarget = "scene"
    k: int = 10
    num_candidates: int = 100
    min_similarity: float | None = None
    # "name@version" of the model that made ``vector``; a backend refuses an index of another.
    model: str | None = None
    # The asset a "find similar" started from, left out of its own results.
    exclude_ids: tuple[str, ...] = ()


# --- the request -------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    field: str
    order: Literal["asc", "desc"] = "asc"


@dataclass(frozen=True)
class SearchRequest:
    index: str
    filter: Node = field(default_factory=MatchAll)
    acl: Node = field(default_factory=MatchAll)
    vector: VectorQuery | None = None
    size: int = 10
    sort: tuple[Sort, ...] = ()
    # Opaque sort values of the last hit of the previous page (search_after).
    after: tuple[Scalar | None, ...] | None = None
    # Source fields to return; None = the whole source (vectors are never returned).
    fields: tuple[str, ...] | None = None
    # Terms aggregations: field -> up to ``aggregation_size`` buckets, counted over
    # the documents that match ``scoped_filter`` (and, for a vector query, its hits).
    aggregations: tuple[str, ...] = ()
    aggregation_size: int = 20

    @property
    def scoped_filter(self) -> Node:
        """The filter AND the caller's ACL: the only filter a compiler should emit."""
        return and_(self.filter, self.acl)
