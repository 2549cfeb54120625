"""What a search returns, whichever backend ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from es_visual.core.ir import Scalar


@dataclass(frozen=True)
class Matched:
    """Which part of a document matched a vector query.

    ``kind`` is ``scene``, ``region``, ``face`` or ``frame``; ``index`` is the
    child's position in ``visual.<kind>s``; ``bbox`` is normalized
    ``[x0, y0, x1, y1]``; ``t`` is seconds into a video. For a face, ``same_person``
    says whether the score reaches the face model's calibrated same-person threshold
    (False: only a similar face), and ``person`` is the person it was clustered into.
    """

    kind: Literal["scene", "region", "face", "frame"]
    score: float
    index: int | None = None
    label: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    t: float | None = None
    same_person: bool | None = None
    person: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.t is not None:
            out["t"] = round(self.t, 3)
        return out


@dataclass(frozen=True)
class Segment:
    """A run of matching video moments: the timeline's green bar, from the first matching
    frame's time to where the last one's interval ends (the next kept frame)."""

    start: float
    end: float
    score: float  # the best similarity inside the run
    t: float | None = None  # when that best moment is

    def to_dict(self) -> dict[str, float]:
        out = {"start": round(self.start, 3), "end": round(self.end, 3), "score": self.score}
        if self.t is not None:
            out["t"] = round(self.t, 3)
        return out


@dataclass(frozen=True)
class Hit:
    id: str
    score: float | None  # cosine similarity for vector queries; backend relevance otherwise
    source: dict[str, Any]
    matched: Matched | None = None
    # Every child that matched (all regions/faces/frames above the threshold), best first.
    children: tuple[Matched, ...] = ()
    segments: tuple[Segment, ...] = ()
    sort: tuple[Scalar | None, ...] | None = None  # search_after values of this hit

    @property
    def moment(self) -> tuple[float, float] | None:
        """A video hit's best moment, ``(t, score)``: where its thumbnail and player go."""
        if self.matched is not None and self.matched.t is not None:
            return self.matched.t, self.matched.score
        best = max(self.segments, key=lambda s: s.score, default=None)
        if best is None:
            return None
        return (best.t if best.t is not None else best.start), best.score

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "score": self.score,
            "source": self.source,
            "matched": self.matched.to_dict() if self.matched else None,
        }
        moment = self.moment
        if moment is not None:
            out["moment"] = {"t": round(moment[0], 3), "score": moment[1]}
        if self.segments:
            out["segments"] = [s.to_dict() for s in self.segments]
        return out


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    took_ms: float
    # Documents matching the filter (metadata searches); None when the backend cannot tell cheaply.
    total: int | None = None
    # Pass to ``Search.after`` for the next page; None on the last page.
    next_cursor: str | None = None
    aggregations: dict[str, list[tuple[Scalar, int]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hits": [h.to_dict() for h in self.hits],
            "took_ms": round(self.took_ms, 2),
        }
        if self.total is not None:
            out["total"] = self.total
        if self.next_cursor:
            out["next_cursor"] = self.next_cursor
        if self.aggregations:
            out["aggregations"] = {
                name: [{"key": k, "count": c} for k, c in buckets]
                for name, buckets in self.aggregations.items()
            }
        return out
