"""What a backend is asked when a text search ranks by something other than a vector.

Two rankings join the vector searches of ``SearchRequest``: ``LabelRank`` (documents
by their concept labels) and ``TextRank`` (BM25 over the user's own text fields). A
backend that ranks them itself implements ``RankSearch``; ``query.ranking`` runs them
through a plain search on every other backend and fuses the lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from es_visual.core import ir
from es_visual.core.results import Hit, SearchResult


@dataclass(frozen=True)
class LabelRank:
    """Rank by concept labels; ``concepts`` are (label, weight) pairs."""

    concepts: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TextRank:
    """BM25 over ``fields``, any of ``words``."""

    fields: tuple[str, ...]
    words: tuple[str, ...]


@dataclass(frozen=True)
class RankRequest:
    index: str
    rank: LabelRank | TextRank
    filter: ir.Node = field(default_factory=ir.MatchAll)
    acl: ir.Node = field(default_factory=ir.MatchAll)
    size: int = 100
    fields: tuple[str, ...] | None = None

    @property
    def scoped_filter(self) -> ir.Node:
        return ir.and_(self.filter, self.acl)


@runtime_checkable
class RankSearch(Protocol):
    """A backend that runs ``RankRequest`` itself."""

    def rank_search(self, request: RankRequest) -> SearchResult: ...


@runtime_checkable
class LabelRanks(Protocol):
    """A backend that ranks labels by a representation of its own (the clusters'
    ``visual.label_rank``), which documents labelled before it existed lack."""

    def ranks_labels(self, index: str) -> bool:
        """Whether every labelled document of ``index`` has it (the engine ranks)."""
        ...

    def complete_label_ranks(self, index: str) -> int:
        """Give it to every labelled document; the number written."""
        ...


@dataclass(frozen=True)
class FuseRequest:
    """Named rankings and vector searches of one text search, to be fused by reciprocal
    rank (``k``) over their best ``window`` each; the best ``size`` fused hits."""

    index: str
    ranks: tuple[tuple[str, RankRequest], ...] = ()
    vectors: tuple[tuple[str, ir.SearchRequest], ...] = ()
    size: int = 10
    window: int = 100
    k: int = 60
    fields: tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.ranks) + tuple(n for n, _ in self.vectors)


@dataclass(frozen=True)
class FusedResult:
    """The engine's fused hits, best first; ``ranks``: id -> signal -> its 1-based rank
    in that signal's list, where the engine says (an engine that does not leaves it
    out, and the caller explains the hit from its source)."""

    hits: tuple[Hit, ...]
    ranks: dict[str, dict[str, int]]
    took_ms: float
    fused_by: str


@runtime_checkable
class FuseSearch(Protocol):
    """A backend that may fuse a text search's rankings itself."""

    def can_fuse(self) -> bool:
        """Whether this server fuses at all (cheap: asked before the query is embedded)."""
        ...

    def fuse_search(self, request: FuseRequest) -> FusedResult | None:
        """The fused hits, or None where this server cannot fuse this request (the
        caller then runs each ranking and fuses them, ``query.ranking.rrf``)."""
        ...
