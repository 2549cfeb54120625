"""The immutable, chainable ``Search`` builder.

Every method returns a new ``Search``; the one it was called on never changes,
so a base search can be shared and refined::

    base = Search("media").where("tags=kitten AND uploaded_at>7d").as_user("alice")
    cold = base.similar_to(text="cold night").on("scene").min_score(0.25).limit(30)
    result = cold.execute(backend)

``to_request`` builds the backend-neutral ``SearchRequest``; ``execute`` first
resolves ``similar_to`` (embedding text or an image, reading a stored asset's
vector) - see ``es_visual.query.execute``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeGuard, assert_never, get_args

from es_visual.core import ir, schema
from es_visual.core.cursor import check_cursor, read_cursor
from es_visual.core.errors import QueryError
from es_visual.core.ir import SearchRequest
from es_visual.query.acl import AclPolicy
from es_visual.query.fieldmap import ID_FIELD, FieldMap
from es_visual.query.parser import parse_expression, to_ir, to_scalar
from es_visual.query.similar import (
    BBox,
    ByAsset,
    ByFace,
    ByImage,
    ByRegion,
    ByText,
    ByVector,
    OnTarget,
    SimilarTo,
)

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.config import Settings
    from es_visual.core.results import SearchResult
    from es_visual.models.base import Embedder

ON_TARGETS: tuple[OnTarget, ...] = (*schema.TARGETS, "any")
MediaKind: TypeAlias = Literal["image", "video"]
MAX_SIZE = 10_000  # Elasticsearch's index.max_result_window and kNN k limit
MAX_TEXT = 1_000  # characters of a text query: a sentence, not a document
# A person's name or id -> the person ids it stands for (es_visual.people.PeopleRegistry).
PeopleResolver: TypeAlias = Callable[[str], Sequence[str]]
PERSON_FIELD = schema.PERSONS_FIELD  # the ids of the persons whose faces a document holds


@dataclass(frozen=True)
class _State:
    index: str
    field_map: FieldMap
    acl_policy: AclPolicy
    where: tuple[tuple[str, Any], ...] = ()  # (source text, syntax tree or IR node)
    filters: tuple[ir.Node, ...] = ()
    similar: SimilarTo | None = None
    text: str | None = None  # words to rank by: concepts, the user's text fields, CLIP
    on: OnTarget | None = None
    media: MediaKind | None = None
    min_score: float | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    sort: tuple[ir.Sort, ...] = ()
    size: int = 10
    after: str | None = None
    aggregations: tuple[str, ...] = ()
    aggregation_size: int = 20
    fields: tuple[str, ...] | None = None
    num_candidates: int | None = None
    people: PeopleResolver | None = None


class Search:
    """A search on one index; build it by chaining, run it with ``execute``."""

    __slots__ = ("_s",)
    _s: _State  # set once in __init__ (the builder is immutable)

    def __init__(
        self,
        index: str = "media",
        *,
        field_map: FieldMap | None = None,
        acl_policy: AclPolicy | None = None,
    ) -> None:
        if not index:
            raise QueryError("a search needs an index name")
        state = _State(index, field_map or FieldMap.default(), acl_policy or AclPolicy())
        object.__setattr__(self, "_s", state)

    @classmethod
    def for_index(cls, settings: Settings, backend: object, index: str | None = None) -> Search:
        """A search on ``index`` (default ``settings.index``) with the field map of that
        index (``FieldMap.for_index``) and the configured ACL rule: what the CLI, the
        UI, the API and duplicates all start from, so one input means one query."""
        index = index or settings.index
        return cls(
            index,
            field_map=FieldMap.for_index(settings, backend, index),
            acl_policy=AclPolicy.from_settings(settings),
        )

    @classmethod
    def from_settings(cls, settings: Settings, index: str | None = None) -> Search:
        """A search on ``settings.index`` with the configured field map and ACL rule, for
        code with no backend at hand; the front ends use ``for_index`` (the index's own
        fields, on a cluster read from its mapping)."""
        return cls(
            index or settings.index,
            field_map=FieldMap.from_settings(settings),
            acl_policy=AclPolicy.from_settings(settings),
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Search is immutable: its methods return a new Search")

    def __copy__(self) -> Search:
        return self  # immutable: a copy would be indistinguishable

    def __deepcopy__(self, memo: dict[int, Any]) -> Search:
        return self

    def _with(self, **changes: Any) -> Search:
        new = object.__new__(Search)
        object.__setattr__(new, "_s", replace(self._s, **changes))
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Search) and self._s == other._s

    def __hash__(self) -> int:
        return hash((self._s.index, self._s.where, self._s.filters))

    def __repr__(self) -> str:
        s = self._s
        parts = [repr(s.index)]
        parts += [f".where({text!r})" for text, _ in s.where]
        if s.text is not None:
            parts.append(f".text({s.text!r})")
        if s.similar:
            parts.append(f".similar_to({s.similar.kind}=...)")
        if s.user:
            parts.append(f".as_user({s.user!r}, groups={list(s.groups)!r})")
        return "Search(" + parts[0] + ")" + "".join(parts[1:])

    # --- read-only views -------------------------------------------------------------

    @property
    def index(self) -> str:
        return self._s.index

    @property
    def field_map(self) -> FieldMap:
        return self._s.field_map

    @property
    def similar(self) -> SimilarTo | None:
        return self._s.similar

    @property
    def text_query(self) -> str | None:
        """The words of ``text(...)``, or None."""
        return self._s.text

    @property
    def target(self) -> OnTarget | None:
        """The ``on(...)`` target, or None for the default of the ``similar_to`` kind."""
        return self._s.on

    @property
    def resolved_target(self) -> OnTarget | None:
        """What similar_to compares: ``on(...)``, else the default of its kind, except that
        a picture, text or asset searched among videos only (``media("video")``) compares
        video frames: a video's scene vector is one representative frame, and the user
        asked what happens inside the videos. None without similar_to."""
        if self._s.on is not None or self._s.similar is None:
            return self._s.on
        default = self._s.similar.default_target
        return "frames" if default == "scene" and self._s.media == "video" else default

    @property
    def size(self) -> int:
        return self._s.size

    @property
    def acl(self) -> ir.Node:
        """The caller's ACL filter (MatchAll when no ``as_user`` was given)."""
        return self._s.acl_policy.filter_for(self._s.user, self._s.groups)

    # --- filters ----------------------------------------------------------------------

    def with_field_map(self, field_map: FieldMap) -> Search:
        """The same search with expressions read through another field map."""
        for text, expr in self._s.where:
            if not _is_ir(expr):
                to_ir(expr, field_map, text=text)  # the errors where() would have raised
        return self._with(field_map=field_map)

    def where(self, expression: str | ir.Node) -> Search:
        """AND an expression (``"tags=kitten AND uploaded_at>7d"``) or an IR node.

        The text is parsed now, so syntax errors, unknown fields and values of the
        wrong type surface here; relative dates are resolved in ``to_request``.
        """
        if _is_ir(expression):
            return self._with(where=(*self._s.where, (repr(expression), expression)))
        if not isinstance(expression, str):
            raise QueryError(f"where() takes an expression string, not {type(expression)}")
        tree = parse_expression(expression)
        to_ir(tree, self._s.field_map, text=expression)
        return self._with(where=(*self._s.where, (expression, tree)))

    def filter(self, **exact: Any) -> Search:
        """AND exact conditions: ``filter(tags="kitten", width=1024)``; a list means any of
        its values, None means the field is missing. Keys are DSL names (or index fields
        via ``**{"visual.width": 1024}``)."""
        nodes = [self._exact(name, value) for name, value in exact.items()]
        return self._with(filters=(*self._s.filters, *nodes))

    def _exact(self, name: str, value: Any) -> ir.Node:
        info = self._s.field_map.resolve(name)
        if value is None:
            return ir.Not(ir.Exists(info.field))
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not values:
            raise QueryError(f"filter({name}=[]) matches nothing; give at least one value")
        if info.field == ID_FIELD:
            return ir.Ids(tuple(str(v) for v in values))
        scalars = tuple(to_scalar(info, v) for v in values)
        if info.type == "text":
            return ir.or_(*(ir.Match(info.field, str(v), phrase=True) for v in scalars))
        return (
            ir.Term(info.field, scalars[0]) if len(scalars) == 1 else ir.Terms(info.field, scalars)
        )

    def media(self, kind: MediaKind | None) -> Search:
        """Only images or only videos (None: both)."""
        if kind is not None and kind not in get_args(MediaKind):
            raise QueryError(f"media must be image or video, not {kind!r}")
        return self._with(media=kind)

    def as_user(self, user: str | None, groups: Iterable[str] = ()) -> Search:
        """Search as ``user`` in ``groups``: only documents they may read, everywhere
        (kNN candidates included). ``None`` = operator access (no ACL)."""
        groups = tuple(groups)
        self._s.acl_policy.filter_for(user, groups)  # validates the names now
        return self._with(user=user, groups=groups)

    # --- the vector part -------------------------------------------------------------------

    def similar_to(
        self,
        *,
        image: str | Path | bytes | Any | None = None,
        text: str | None = None,
        vector: Sequence[float] | None = None,
        asset: str | None = None,
        region: tuple[str, Sequence[float]] | None = None,
        face: tuple[str, int] | None = None,
    ) -> Search:
        """Rank by visual similarity to exactly one of: an image (path, bytes or PIL
        image), a text, a raw vector, a stored asset, a region ``(asset, bbox)`` with a
        normalized ``[x0, y0, x1, y1]``, or a face ``(asset, index)`` of a stored asset."""
        given = {
            k: v
            for k, v in dict(
                image=image, text=text, vector=vector, asset=asset, region=region, face=face
            ).items()
            if v is not None
        }
        if len(given) != 1:
            raise QueryError(
                "similar_to takes exactly one of image=, text=, vector=, asset=, region=, face="
                + (f" (got {', '.join(sorted(given))})" if given else "")
            )
        kind, value = next(iter(given.items()))
        return self._with(similar=_similar(kind, value))

    def text(self, query: str | None) -> Search:
        """Rank by words, offline first: the concepts the scene model saw (``visual.labels``,
        matched to the words by meaning: "a puppy" finds a toy poodle), the user's own text
        fields (BM25), and a CLIP text tower when the index's model has one, fused by
        reciprocal rank. With ``similar_to(...)`` the picture's ranking joins the fusion;
        ``where``, ``media`` and ``as_user`` restrict every ranking. None removes it."""
        if query is None:
            return self._with(text=None)
        if not isinstance(query, str) or not query.strip():
            raise QueryError("text() needs a non-empty string")
        if len(query) > MAX_TEXT:
            raise QueryError(f"text() takes at most {MAX_TEXT} characters, not {len(query)}")
        return self._with(text=query.strip())

    def on(self, target: OnTarget) -> Search:
        """Which vectors to compare: the whole ``scene``, detected/drawn ``regions``,
        ``faces``, video ``frames``, or ``any`` (each that the index has; best wins)."""
        if target not in ON_TARGETS:
            raise QueryError(f"on() takes one of {', '.join(ON_TARGETS)}, not {target!r}")
        return self._with(on=target)

    def min_score(self, score: float | None) -> Search:
        """Drop vector matches below this cosine similarity (in [-1, 1])."""
        if score is not None and not (
            isinstance(score, (int, float)) and -1.0 <= score <= 1.0 and not math.isnan(score)
        ):
            raise QueryError(f"min_score is a cosine similarity in [-1, 1], not {score!r}")
        return self._with(min_score=None if score is None else float(score))

    def query_face(self, index: int | None) -> Search:
        """With ``similar_to(image=...)`` searching faces: which face of the picture to
        search by (0-based, most confident first), when it has several."""
        similar = self._s.similar
        if not isinstance(similar, ByImage):
            raise QueryError("query_face() picks a face of similar_to(image=...): add it first")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise QueryError(f"query_face() takes a face number >= 0, not {index!r}")
        if index is not None and index < 0:
            raise QueryError(f"query_face() takes a face number >= 0, not {index}")
        return self._with(similar=replace(similar, face=index))

    @property
    def requested_min_score(self) -> float | None:
        """The ``min_score`` the caller set, or None (a face search then uses the face
        model's same-person threshold)."""
        return self._s.min_score

    def person(self, *names: str) -> Search:
        """Only documents with a face of one of these persons (names or person ids; the
        people registry given to ``with_people`` turns names into ids)."""
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise QueryError("person() takes one or more non-empty names or person ids")
        info = self._s.field_map.get("person")
        field = info.field if info else PERSON_FIELD
        node: ir.Node = (
            ir.Term(field, names[0].strip())
            if len(names) == 1
            else ir.Terms(field, tuple(n.strip() for n in names))
        )
        return self._with(filters=(*self._s.filters, node))

    def with_people(self, resolver: PeopleResolver | None) -> Search:
        """Resolve ``person:"Alice"`` (and ``person(...)``) through ``resolver``: a name
        or id -> the person ids it stands for (merged persons included). Without one,
        values are taken as person ids."""
        return self._with(people=resolver)

    def candidates(self, num_candidates: int) -> Search:
        """How many nearest neighbours each shard considers before taking the best ``limit``
        (more = better recall, slower). Default: max(100, 10 x limit), at most 10000."""
        if not isinstance(num_candidates, int) or not 1 <= num_candidates <= MAX_SIZE:
            raise QueryError(f"num_candidates must be in 1..{MAX_SIZE}, not {num_candidates!r}")
        return self._with(num_candidates=num_candidates)

    # --- shape of the result ------------------------------------------------------------

    def sort_by(self, field: str, order: Literal["asc", "desc"] = "asc") -> Search:
        """Add a sort key (``_score`` for relevance); later calls break ties of earlier ones."""
        if order not in ("asc", "desc"):
            raise QueryError(f"sort order must be asc or desc, not {order!r}")
        if field == "_score":
            return self._with(sort=(*self._s.sort, ir.Sort("_score", order)))
        info = self._s.field_map.resolve(field)
        if info.type == "text":
            raise QueryError(f"field {info.name!r} is text (analyzed words): it cannot be sorted")
        return self._with(sort=(*self._s.sort, ir.Sort(info.field, order)))

    def limit(self, n: int) -> Search:
        """How many hits (for a vector query, the k of kNN)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SIZE:
            raise QueryError(f"limit must be an integer in 1..{MAX_SIZE}, not {n!r}")
        return self._with(size=n)

    def after(self, cursor: str | None) -> Search:
        """The page after the one whose ``SearchResult.next_cursor`` this is."""
        if cursor is not None and not isinstance(cursor, str):
            raise QueryError("after() takes the next_cursor string of a previous result")
        if cursor:
            check_cursor(cursor)  # a malformed cursor fails here, not at execution
        return self._with(after=cursor or None)

    def aggregate(self, *fields: str, size: int | None = None) -> Search:
        """Count documents per value of each field (terms aggregation), up to ``size`` buckets."""
        resolved = []
        for name in fields:
            info = self._s.field_map.resolve(name)
            if info.type == "text" or info.field == ID_FIELD:
                raise QueryError(f"field {info.name!r} cannot be aggregated (use a keyword field)")
            resolved.append(info.field)
        changes: dict[str, Any] = {
            "aggregations": tuple(dict.fromkeys((*self._s.aggregations, *resolved)))
        }
        if size is not None:
            if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
                raise QueryError(f"aggregation size must be in 1..{MAX_SIZE}, not {size!r}")
            changes["aggregation_size"] = size
        return self._with(**changes)

    def with_fields(self, fields: Iterable[str] | None) -> Search:
        """Return only these source fields (DSL names or index fields); None = all."""
        if fields is None:
            return self._with(fields=None)
        if isinstance(fields, str):
            fields = [fields]
        mapped = tuple(dict.fromkeys(self._s.field_map.index_field(f) for f in fields))
        return self._with(fields=mapped)

    # --- output -------------------------------------------------------------------------

    def filter_node(self, *, now: datetime | None = None) -> ir.Node:
        """Everything from ``where``, ``filter`` and ``media``, ANDed (the ACL apart)."""
        s = self._s
        nodes = [
            expr if _is_ir(expr) else to_ir(expr, s.field_map, text=text, now=now)
            for text, expr in s.where
        ]
        nodes.extend(s.filters)
        if s.people is not None:
            info = s.field_map.get("person")
            field = info.field if info else PERSON_FIELD
            nodes = [_resolve_people(n, field, s.people) for n in nodes]
        if s.media:
            info = s.field_map.get("media_type")
            nodes.append(ir.Term(info.field if info else schema.MEDIA_TYPE_FIELD, s.media))
        return ir.and_(*nodes)

    def to_request(
        self,
        *,
        vector: Sequence[float] | None = None,
        target: ir.VectorTarget | None = None,
        model: str | None = None,
        exclude_ids: Sequence[str] = (),
        now: datetime | None = None,
    ) -> SearchRequest:
        """The backend-neutral request.

        A ``similar_to`` other than ``vector=`` needs its resolved ``vector`` (that
        is what ``execute`` does); ``on("any")`` needs the one ``target`` to build.
        ``now`` anchors relative dates (default: the current time).
        """
        s = self._s
        if s.text is not None:
            raise QueryError(
                "a text() search fuses several rankings into one: run it with execute(); "
                "to_request() builds one request"
            )
        query = None
        if s.similar is not None:
            if vector is None:
                if not isinstance(s.similar, ByVector):
                    raise QueryError(
                        f"similar_to({s.similar.kind}=...) must be resolved to a vector first: "
                        "use execute(), or pass vector= to to_request()"
                    )
                vector = s.similar.vector
            chosen = target or self.resolved_target
            if chosen == "any":
                raise QueryError('on("any") makes one request per target: pass target=')
            if chosen not in ir.TARGETS:
                raise QueryError(f"unknown vector target {chosen!r}")
            query = ir.VectorQuery(
                vector=tuple(float(x) for x in vector),
                target=chosen,
                k=s.size,
                num_candidates=s.num_candidates or min(MAX_SIZE, max(100, 10 * s.size)),
                min_similarity=s.min_score,
                model=model,
                exclude_ids=tuple(exclude_ids),
            )
        else:
            if s.min_score is not None:
                raise QueryError("min_score applies to similarity searches: add similar_to(...)")
            if s.on is not None:
                raise QueryError("on() chooses what similar_to compares: add similar_to(...)")
        request = SearchRequest(
            index=s.index,
            filter=self.filter_node(now=now),
            acl=self.acl,
            vector=query,
            size=s.size,
            sort=s.sort,
            fields=s.fields,
            aggregations=s.aggregations,
            aggregation_size=s.aggregation_size,
        )
        if s.after:
            request = replace(request, after=read_cursor(s.after, request))
        return request

    def execute(
        self,
        backend: Backend,
        *,
        embedder: Embedder | None = None,
        now: datetime | None = None,
    ) -> SearchResult:
        """Resolve ``similar_to``, run the request(s) on ``backend``, return the hits."""
        from es_visual.query.execute import execute

        return execute(self, backend, embedder=embedder, now=now)


def is_media_kind(value: object) -> TypeGuard[MediaKind]:
    """Whether ``value`` names a kind of media ``media()`` takes (``image``, ``video``)."""
    return value in get_args(MediaKind)


def _resolve_people(node: ir.Node, field: str, resolver: PeopleResolver) -> ir.Node:
    """``node`` with every exact match on the person field turned from names into ids."""
    match node:
        case ir.Term(name, value) if name == field:
            return _person_ids(field, [str(value)], resolver)
        case ir.Terms(name, values) if name == field:
            return _person_ids(field, [str(v) for v in values], resolver)
        case ir.And(children):
            return ir.and_(*(_resolve_people(c, field, resolver) for c in children))
        case ir.Or(children):
            return ir.or_(*(_resolve_people(c, field, resolver) for c in children))
        case ir.Not(child):
            inner = _resolve_people(child, field, resolver)
            return ir.MatchAll() if isinstance(inner, ir.MatchNone) else ir.Not(inner)
        case (
            ir.MatchAll()
            | ir.MatchNone()
            | ir.Term()
            | ir.Terms()
            | ir.Match()
            | ir.MultiMatch()
            | ir.Prefix()
            | ir.Range()
            | ir.Exists()
            | ir.Ids()
        ):
            return node
        case _:
            assert_never(node)


def _person_ids(field: str, values: list[str], resolver: PeopleResolver) -> ir.Node:
    # An unknown name matches nothing, like any value no document holds: no error, which
    # would tell a user that a person they cannot see exists.
    ids = tuple(dict.fromkeys(i for v in values for i in resolver(v)))
    if not ids:
        return ir.MatchNone()
    return ir.Term(field, ids[0]) if len(ids) == 1 else ir.Terms(field, ids)


def _is_ir(value: object) -> bool:
    return isinstance(value, get_args(ir.Node))


def _similar(kind: str, value: Any) -> SimilarTo:
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise QueryError("similar_to(text=...) needs a non-empty string")
        return ByText(value)
    if kind == "image":
        return ByImage(Path(value) if isinstance(value, str) else value)
    if kind == "vector":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise QueryError("similar_to(vector=...) needs a sequence of numbers")
        try:
            vec = tuple(float(x) for x in value)
        except (TypeError, ValueError) as exc:
            raise QueryError(f"similar_to(vector=...) needs numbers: {exc}") from exc
        if not vec or not all(math.isfinite(x) for x in vec):
            raise QueryError("similar_to(vector=...) needs a non-empty vector of finite numbers")
        return ByVector(vec)
    if kind == "asset":
        return ByAsset(_asset_id(value))
    if kind == "face":
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise QueryError("similar_to(face=(asset_id, face_index))")
        asset, index = value
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise QueryError(f"a face index is an integer >= 0, not {index!r}")
        return ByFace(_asset_id(asset), index)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise QueryError("similar_to(region=(asset_id, [x0, y0, x1, y1]))")
    asset, box = value
    return ByRegion(_asset_id(asset), _bbox(box))


def _asset_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise QueryError(f"an asset id is a non-empty string, not {value!r}")
    return value


def _bbox(box: Any) -> BBox:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"a bbox is [x0, y0, x1, y1], not {box!r}") from exc
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise QueryError(
            f"a bbox is normalized [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and "
            f"0 <= y0 < y1 <= 1, not {list(box)!r}"
        )
    return (x0, y0, x1, y1)
