"""``SearchParams -> Search``: the one way every front end turns its input into a query.

The CLI (its options), the UI and the JSON API (a page's parameters) and both
duplicates front ends each read their input into a ``SearchParams`` and call
``build_search``, which starts from ``Search.for_index`` (the index's own field map,
the configured ACL rule). So one input means one query everywhere; what differs is
only how each front end reads and checks its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from es_visual.config import Settings
from es_visual.core.errors import QueryError
from es_visual.query.search import Search


@dataclass(frozen=True)
class SearchParams:
    """One search, as a front end states it. At most one of ``image``, ``vector``,
    ``asset``, ``region`` and ``face`` (what is compared); ``text`` fuses with it."""

    where: str = ""
    media: Literal["image", "video"] | None = None
    text: str | None = None
    image: Any = None  # a path or a decoded picture
    query_face: int | None = None  # with ``image`` on faces: which face of the picture
    vector: Sequence[float] | None = None
    asset: str | None = None
    region: tuple[str, Sequence[float]] | None = None  # (asset id, normalized box)
    face: tuple[str, int] | None = None  # (asset id, face number)
    on: str | None = None
    min_score: float | None = None
    user: str | None = None
    groups: Sequence[str] = ()
    sort: Sequence[tuple[str, Literal["asc", "desc"]]] = ()
    aggregates: Sequence[str] = ()
    fields: Sequence[str] = ()
    after: str | None = None
    limit: int = 10

    @property
    def compares(self) -> str | None:
        """Which of ``image``, ``vector``, ``asset``, ``region``, ``face`` is given."""
        candidates = (
            ("image", self.image),
            ("vector", self.vector),
            ("asset", self.asset),
            ("region", self.region),
            ("face", self.face),
        )
        given = [name for name, value in candidates if value is not None]
        if len(given) > 1:
            raise QueryError(f"compare one thing at a time, not {' and '.join(given)}")
        return given[0] if given else None

    @property
    def is_similarity(self) -> bool:
        """Whether the search ranks by similarity (and so needs an embedder)."""
        return self.compares is not None or self.text is not None


def build_search(
    settings: Settings,
    backend: object,
    params: SearchParams,
    *,
    index: str | None = None,
    people: Any = None,
) -> Search:
    """The ``Search`` ``params`` describe on ``index`` (default ``settings.index``).
    ``people`` resolves ``person:"Name"`` (a ``PeopleRegistry.resolver``). Raises
    what the builder raises for a bad value (``QueryError``, ``QuerySyntaxError``,
    ``UnknownFieldError``, ``CursorError``)."""
    s = Search.for_index(settings, backend, index)
    if people is not None:
        s = s.with_people(people)
    if params.where:
        s = s.where(params.where)
    kind = params.compares
    if kind == "image":
        s = s.similar_to(image=params.image)
        if params.query_face is not None:
            s = s.query_face(params.query_face)
    elif kind == "vector":
        s = s.similar_to(vector=params.vector)
    elif kind == "asset":
        s = s.similar_to(asset=params.asset)
    elif kind == "region":
        s = s.similar_to(region=params.region)
    elif kind == "face":
        s = s.similar_to(face=params.face)
    if params.text is not None:
        s = s.text(params.text)  # concepts + text fields (+ CLIP), fused with the above
    if params.on:
        s = s.on(params.on)  # type: ignore[arg-type]
    if params.media:
        s = s.media(params.media)
    if params.min_score is not None:
        s = s.min_score(params.min_score)
    if params.user:
        s = s.as_user(params.user, groups=list(params.groups))
    elif params.groups:
        raise QueryError("groups need a user: as_user(name, groups=...)")
    for field, order in params.sort:
        s = s.sort_by(field, order)
    if params.aggregates:
        s = s.aggregate(*params.aggregates)
    if params.fields:
        s = s.with_fields(list(params.fields))
    if params.after:
        s = s.after(params.after)
    return s.limit(params.limit)
