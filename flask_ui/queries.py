"""From a page's or the API's parameters to an executed ``Search``, always as the caller.

The one module of the UI that talks to the query builder, so both the HTML
pages and ``/api/`` ask exactly the same question of the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from es_visual.config import Settings
from es_visual.core import schema
from es_visual.core.errors import NotFoundError, QueryError
from es_visual.core.ir import Ids, Node
from es_visual.core.results import SearchResult, Segment
from es_visual.query.acl import AclPolicy
from es_visual.query.params import SearchParams
from es_visual.query.params import build_search as build_from_params
from flask_ui.state import AppState
from flask_ui.uploads import Upload
from flask_ui.users import User

if TYPE_CHECKING:
    from es_visual.query.search import Search

Kind = Literal["browse", "text", "image", "asset", "region", "face"]
MediaChoice = Literal["all", "image", "video"]
TargetChoice = Literal["", schema.VectorTarget, "any"]  # "": the kind's default
MEDIA_CHOICES: tuple[MediaChoice, ...] = ("all", "image", "video")
TARGET_CHOICES: tuple[TargetChoice, ...] = ("", *schema.TARGETS, "any")
MAX_LIMIT = 100
_C = TypeVar("_C", bound=str)


@dataclass(frozen=True)
class Query:
    """Everything a search page URL can say; parsing never raises (bad values fall back)."""

    text: str = ""
    where: str = ""
    media: MediaChoice = "all"
    min_score: float = 0.0
    on: TargetChoice = ""
    similar: str = ""
    region: str = ""
    bbox: tuple[float, float, float, float] | None = None
    face: str = ""
    face_index: int = 0
    upload: str = ""
    query_face: int | None = None  # which face of an uploaded picture a face search uses
    sort: str = ""  # flask_ui/browse.py SORTS; "" = the kind's default
    group: str = ""  # group a date-sorted page by "day", "month" or "year"
    after: str = ""
    back: str = ""  # the cursors of the pages before this one ("."-joined), for "Previous"
    page: int = 1
    limit: int = 24

    @classmethod
    def from_args(cls, args: Any) -> Query:
        def text(name: str) -> str:
            return (args.get(name) or "").strip()[:2000]

        from flask_ui.browse import GROUPS, SORTS

        media = text("media") or "all"
        on = text("on")
        sort, group = text("sort"), text("group")
        return cls(
            text=text("q"),
            where=text("where"),
            media=_choice(media, MEDIA_CHOICES, "all"),
            min_score=_clamp(_float(args.get("min_score"), 0.0), 0.0, 1.0),
            on=_choice(on, TARGET_CHOICES, ""),
            similar=text("similar"),
            region=text("region"),
            bbox=_bbox(args.get("bbox")),
            face=text("face"),
            face_index=max(0, _int(args.get("face_index"), 0)),
            upload=text("upload"),
            query_face=_face_number(args.get("query_face")),
            sort=sort if sort in SORTS else "",
            group=group if group in GROUPS else "",
            after=text("after"),
            back=text("back") if text("after") else "",
            page=int(_clamp(_int(args.get("page"), 1), 1, 100_000)) if text("after") else 1,
            limit=int(_clamp(_int(args.get("limit"), 24), 1, MAX_LIMIT)),
        )

    @property
    def kind(self) -> Kind:
        if self.upload:
            return "image"
        if self.region and self.bbox:
            return "region"
        if self.face:
            return "face"
        if self.similar:
            return "asset"
        if self.text:
            return "text"
        return "browse"

    @property
    def subject(self) -> str | None:
        """The asset a find-similar, region or face search starts from."""
        return {"asset": self.similar, "region": self.region, "face": self.face}.get(self.kind)

    def to_args(self, **changes: Any) -> dict[str, Any]:
        """URL parameters for this query (with ``changes``), defaults left out."""
        q = replace(self, **changes)
        out: dict[str, Any] = {}
        names = {"text": "q"}
        for f in fields(q):
            value = getattr(q, f.name)
            if value == f.default or value in ("", None):
                continue
            if f.name == "bbox":
                value = ",".join(f"{v:.4f}" for v in value)
            if f.name == "min_score":
                value = f"{value:.2f}"
            out[names.get(f.name, f.name)] = value
        return out

    def without_paging(self) -> Query:
        return replace(self, after="", back="", page=1)


def _choice(value: str, choices: tuple[_C, ...], default: _C) -> _C:
    """``value`` as the one of ``choices`` it equals, else ``default``."""
    return next((c for c in choices if c == value), default)


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _face_number(value: Any) -> int | None:
    number = _int(value, -1)
    return number if 0 <= number < 1000 else None


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _bbox(value: Any) -> tuple[float, float, float, float] | None:
    try:
        parts = [float(v) for v in str(value).split(",")]
    except ValueError:
        return None
    if len(parts) != 4:
        return None
    x0, y0, x1, y1 = (_clamp(v, 0.0, 1.0) for v in parts)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x1 - x0 < 0.01 or y1 - y0 < 0.01:
        return None
    return (x0, y0, x1, y1)


# --- access control -----------------------------------------------------------------


def acl_node(settings: Settings, user: User) -> Node:
    """What ``user`` may read, by the very rule ``Search.as_user`` applies; used for
    ``backend.get(..., acl=...)`` on the asset, thumbnail and original routes."""
    return AclPolicy.from_settings(settings).filter_for(user.name, user.groups)


def readable_doc(
    state: AppState, user: User, asset_id: str, *, with_vectors: bool = False
) -> dict[str, Any] | None:
    """The asset's document if ``user`` may read it, else None (missing and forbidden alike)."""
    if not asset_id:
        return None
    return state.backend().get(
        state.index, asset_id, acl=acl_node(state.settings, user), with_vectors=with_vectors
    )


# --- running a search ----------------------------------------------------------------


def open_upload(data: bytes, settings: Settings) -> Any:
    """An uploaded query image, decoded in memory with the media layer's safety limits."""
    from es_visual.media.image import open_image

    return open_image(bytes(data), max_pixels=settings.max_pixels).image


def build_search(
    state: AppState, user: User, query: Query, upload: Upload | None = None
) -> tuple[Search, bool]:
    """The ``Search`` that ``query`` describes, as ``user``, and whether it is a vector
    search (one that needs the embedder).

    Raises ``NotFoundError`` when the asset it starts from is not readable by
    ``user``, ``QuerySyntaxError`` / ``UnknownFieldError`` for a bad expression,
    ``MediaError`` for an unreadable upload, ``QueryError`` for a bad combination.
    """
    subject = query.subject
    if subject is not None and readable_doc(state, user, subject) is None:
        raise NotFoundError(f"no asset {subject!r}")
    params = search_params(state, user, query, upload)
    search = build_from_params(
        state.settings, state.backend(), params, people=people_registry(state).resolver(state.index)
    )
    if not params.is_similarity:  # a similarity search ranks by score; browsing sorts
        from flask_ui.browse import sort_search  # like a library

        search = sort_search(search, query)
    return search, params.is_similarity


def search_params(
    state: AppState, user: User, query: Query, upload: Upload | None = None
) -> SearchParams:
    """The page's parameters as the ``SearchParams`` every front end builds from."""
    kind = query.kind
    vector = None
    if kind == "image":
        if upload is None:
            raise QueryError("the uploaded image has expired; upload it again")
        vector = upload_vector(state, query, upload)
    similarity = kind != "browse"
    return SearchParams(
        where=query.where,
        media=query.media if query.media != "all" else None,
        vector=vector,
        asset=query.similar if kind == "asset" else None,
        region=(query.region, query.bbox) if kind == "region" and query.bbox else None,
        face=(query.face, query.face_index) if kind == "face" else None,
        text=query.text if kind == "text" else None,  # concepts + text fields (+ CLIP), fused
        # "Auto" leaves the choice to Search: its default follows the kind of
        # similarity and the media toggle.
        on=query.on or None if similarity else None,
        min_score=query.min_score if similarity and query.min_score > 0 else None,
        user=user.name,
        groups=tuple(user.groups),
        after=query.after or None,
        limit=query.limit,
    )


def upload_vector(state: AppState, query: Query, upload: Upload) -> tuple[float, ...]:
    """The query vector of an uploaded picture for this search, worked out once per
    upload (flask_ui/uploads.py): reloading, paging and the video timeline reuse it.
    Scene, regions, frames and "any" share the scene model's vector; faces use the
    face the user picked. Raises as the search would (``MediaError`` for a file that
    is not a picture, ``AmbiguousFaceError``, ``ModelMismatchError``)."""
    from es_visual.query.execute import resolve
    from es_visual.query.search import Search

    spec = state.backend().cached_spec(state.index)
    if spec is None:
        raise QueryError(f"index {state.index!r} has no visual vectors yet: ingest some first")
    faces = query.on == "faces"
    key = ("face", spec.face_model, query.query_face) if faces else ("scene", spec.model)

    def compute() -> tuple[float, ...]:
        search = Search.for_index(state.settings, state.backend(), state.index)
        search = search.similar_to(image=open_upload(upload.data, state.settings))
        if faces:
            search = search.on("faces").query_face(query.query_face)
        embedder = None if faces else state.embedder()
        return resolve(search, state.backend(), spec, embedder=embedder).vector

    return upload.derive(key, compute)


def run_search(
    state: AppState, user: User, query: Query, upload: Upload | None = None
) -> SearchResult:
    """Execute the search ``query`` describes, as ``user`` (errors: see ``build_search``)."""
    search, vector = build_search(state, user, query, upload)
    embedder = state.embedder() if vector else None
    return search.execute(state.backend(), embedder=embedder)


def video_segments(
    state: AppState, user: User, query: Query, asset_id: str, upload: Upload | None = None
) -> list[Segment]:
    """Where in the video ``asset_id`` the search ``query`` matches: the same question
    asked of this one asset's frames, so an asset page opened from a link, a bookmark
    or its own "find in this video" form draws the timeline without a result list."""
    if query.kind == "browse":
        return []
    one = replace(query, media="all", on="frames", after="", limit=1)
    search, _ = build_search(state, user, one, upload)
    result = search.where(Ids((asset_id,))).execute(state.backend(), embedder=state.embedder())
    hit = next((h for h in result.hits if h.id == asset_id), None)
    return list(hit.segments) if hit is not None else []


def people_registry(state: AppState) -> Any:
    """The people registry (names, merges) of the app's data dir, opened once."""
    from flask import current_app

    from es_visual.people.registry import PeopleRegistry

    registry = current_app.extensions.get("es_visual_people")
    if registry is None:
        registry = PeopleRegistry.in_data_dir(state.settings.data_dir)
        current_app.extensions["es_visual_people"] = registry
    return registry


def query_face_boxes(state: AppState, query: Query, upload: Upload | None) -> dict[str, Any] | None:
    """The faces of an uploaded picture searched on faces, to draw on it (the same
    cached detection the search itself uses, kept with the upload):
    ``{"width", "height", "faces"}``, or None when that is not the search."""
    if query.kind != "image" or query.on != "faces" or upload is None:
        return None
    from es_visual.query.faces import describe, query_faces

    spec = state.backend().cached_spec(state.index)
    if spec is None or spec.face_model is None:
        return None
    face_model = spec.face_model

    def compute() -> dict[str, Any]:
        image = open_upload(upload.data, state.settings)
        faces = describe(query_faces(image, face_model))
        return {"width": image.width, "height": image.height, "faces": faces}

    try:
        return upload.derive(("face-boxes", face_model), compute)
    except Exception:  # an unreadable upload or no face model: the search says why
        return None


def person_names(state: AppState, result: SearchResult) -> dict[str, str]:
    """Names of the persons the hits' faces belong to."""
    ids = {
        m.person
        for h in result.hits
        for m in (h.matched, *h.children)
        if m is not None and m.person
    }
    return people_registry(state).names(state.index, sorted(ids)) if ids else {}


def text_search_support(state: AppState) -> tuple[bool, str]:
    """Whether the index's model can embed text, and if not, why (shown by the text box)."""
    spec = state.backend().cached_spec(state.index)
    if spec is None:
        return False, f"Index {state.index!r} holds no vectors yet: ingest some media first."
    from es_visual.models.labels import has_labeler
    from es_visual.query.fieldmap import FieldMap

    fields = FieldMap.for_index(state.settings, state.backend(), state.index)
    if has_labeler(spec.model) or fields.text_fields:
        return True, ""  # concept labels or the user's own text fields rank the words
    try:
        embedder = state.embedder()
    except Exception as exc:  # a missing model must not take the search page down
        return False, f"The index's model {spec.model} cannot be loaded here: {exc}"
    if embedder.supports_text:
        return True, ""
    return False, (
        f"Search by text needs a model with a text tower (CLIP); this index's model, "
        f"{spec.model}, embeds images only. Search by image, or filter with an expression."
    )
