"""People as first-class objects: list, look at, name, merge and split them.

Everything a user sees goes through the backend with the caller's ACL: a person is
listed only if at least one of their faces is on a document the caller may read,
counts and covers come from those documents only, and an unreadable document never
appears through a person. Names and merges are in the ``PeopleRegistry``; which
face is whom is on the documents (``visual.faces[i].person``, ``visual.persons``),
rewritten here on merge and split (vectors included: a partial update replaces
the whole ``faces`` list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from es_visual.backends.base import Backend
from es_visual.core import schema
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import BackendError, NotFoundError, QueryError
from es_visual.core.ir import Exists, MatchAll, Node, SearchRequest, Terms, and_
from es_visual.core.results import Segment
from es_visual.core.segments import merge_segments
from es_visual.people.registry import PeopleRegistry, is_person_id, new_person_id

PERSONS = schema.PERSONS_FIELD
MAX_PEOPLE = 10_000  # persons listed at most (one terms aggregation)
BATCH = 200


@dataclass(frozen=True)
class FaceRef:
    """One face of a person: where it is."""

    asset: str
    index: int
    bbox: tuple[float, float, float, float] | None
    t: float | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"asset": self.asset, "index": self.index}
        if self.bbox is not None:
            out["bbox"] = list(self.bbox)
        if self.t is not None:
            out["t"] = self.t
        return out


@dataclass(frozen=True)
class PersonSummary:
    id: str
    name: str | None
    assets: int  # documents with a face of this person that the caller may read
    cover: FaceRef | None = None
    merged: tuple[str, ...] = ()  # ids merged into this one still present on documents

    @property
    def label(self) -> str:
        return self.name or f"Unnamed {self.id}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "assets": self.assets}
        if self.cover is not None:
            out["cover"] = self.cover.to_dict()
        return out


@dataclass(frozen=True)
class PersonInAsset:
    """A person in one document: their faces there and, in a video, when they are on screen."""

    asset: str
    source: dict[str, Any]
    faces: tuple[FaceRef, ...]
    segments: tuple[Segment, ...] = field(default=())


class People:
    """The people of one index, as seen through one backend and one registry."""

    def __init__(self, backend: Backend, index: str, registry: PeopleRegistry) -> None:
        self.backend, self.index, self.registry = backend, index, registry

    # --- reading, always as the caller ----------------------------------------------------

    def list(self, *, acl: Node = MatchAll(), covers: bool = True) -> list[PersonSummary]:
        """Every person with a face on a document the caller may read, most photos first."""
        result = self.backend.search(
            SearchRequest(
                index=self.index,
                filter=Exists(PERSONS),
                acl=acl,
                size=0,
                aggregations=(PERSONS,),
                aggregation_size=MAX_PEOPLE,
            )
        )
        counts: dict[str, int] = {}
        merged: dict[str, list[str]] = {}
        for key, count in result.aggregations.get(PERSONS, []):
            pid = self.registry.canonical(self.index, str(key))
            counts[pid] = counts.get(pid, 0) + int(count)
            if pid != key:
                merged.setdefault(pid, []).append(str(key))
        names = self.registry.names(self.index, list(counts))
        people = [
            PersonSummary(
                id=pid,
                name=names.get(pid),
                assets=n,
                cover=self.cover(pid, acl=acl) if covers else None,
                merged=tuple(merged.get(pid, ())),
            )
            for pid, n in counts.items()
        ]
        people.sort(key=lambda p: (p.name is None, -p.assets, (p.name or "").lower(), p.id))
        return people

    def get(self, value: str, *, acl: Node = MatchAll()) -> PersonSummary:
        """A person by id or name, if the caller may see at least one of their faces."""
        pid = self.person_id(value)
        ids = self.registry.aliases(self.index, pid)
        result = self.backend.search(
            SearchRequest(
                index=self.index,
                filter=Terms(PERSONS, tuple(ids)),
                acl=acl,
                size=1,
                fields=(schema.FACES_FIELD, schema.MEDIA_TYPE_FIELD),
            )
        )
        if not result.hits:
            raise NotFoundError(f"no person {value!r}")
        total = result.total if result.total is not None else len(result.hits)
        names = self.registry.names(self.index, [pid])
        cover = _best_face(result.hits[0].id, result.hits[0].source, set(ids))
        return PersonSummary(pid, names.get(pid), total, cover, tuple(i for i in ids if i != pid))

    def cover(self, pid: str, *, acl: Node = MatchAll()) -> FaceRef | None:
        ids = set(self.registry.aliases(self.index, pid))
        result = self.backend.search(
            SearchRequest(
                index=self.index,
                filter=Terms(PERSONS, tuple(sorted(ids))),
                acl=acl,
                size=3,
                fields=(schema.FACES_FIELD, schema.MEDIA_TYPE_FIELD),
            )
        )
        faces = [f for h in result.hits if (f := _best_face(h.id, h.source, ids)) is not None]
        # The most confident face of the first few photos: a sharp, frontal cover.
        return max(faces, key=lambda f: f.score or 0.0, default=None)

    def person_id(self, value: str) -> str:
        """The current id of a person named or numbered ``value``."""
        value = (value or "").strip()
        if is_person_id(value):
            return self.registry.canonical(self.index, value)
        found = self.registry.find_named(self.index, value)
        if found is None:
            raise NotFoundError(f"no person {value!r}")
        return found

    def in_asset(self, asset: str, source: Mapping[str, Any], pid: str) -> PersonInAsset:
        """The faces of ``pid`` (and its merged ids) in one document, with video moments."""
        ids = set(self.registry.aliases(self.index, pid))
        visual = schema.visual_of(source)
        faces = tuple(
            _ref(asset, i, f)
            for i, f in enumerate(visual.get("faces") or [])
            if isinstance(f, Mapping) and f.get("person") in ids
        )
        return PersonInAsset(asset, dict(source), faces, tuple(on_screen(faces, visual)))

    # --- changing them (operator; callers check who may) ----------------------------------

    def name(self, value: str, name: str | None) -> str:
        pid = self.person_id(value)
        self._require_present(pid)
        self.registry.set_name(self.index, pid, name)
        return pid

    def merge(self, target: str, sources: Sequence[str]) -> tuple[str, int]:
        """Make every face of ``sources`` a face of ``target``; returns (target id,
        documents rewritten). The target keeps its name, or takes the first source's."""
        into = self.person_id(target)
        others = [p for p in dict.fromkeys(self.person_id(s) for s in sources) if p != into]
        if not others:
            raise QueryError("merge needs at least one other person than the target")
        self._require_present(into)
        for pid in others:
            self._require_present(pid)
        names = self.registry.names(self.index, [into, *others])
        inherited = names.get(into) or next((names[p] for p in others if p in names), None)
        for pid in others:
            self.registry.mark_merged(self.index, pid, into)
        if inherited and not names.get(into):
            self.registry.set_name(self.index, into, inherited)
        moved = {alias: into for pid in others for alias in self.registry.aliases(self.index, pid)}
        return into, self._rewrite(Terms(PERSONS, tuple(moved)), lambda f: moved.get(f))

    def split(
        self, faces: Iterable[tuple[str, int]], *, name: str | None = None
    ) -> tuple[str, int]:
        """Move these faces (asset id, face index) to a new person; returns (its id,
        documents rewritten)."""
        wanted: dict[str, set[int]] = {}
        for asset, index in faces:
            wanted.setdefault(asset, set()).add(int(index))
        if not wanted:
            raise QueryError("split needs at least one face (ASSET:N)")
        docs: dict[str, dict[str, Any]] = {}
        for asset, indexes in wanted.items():
            doc = self.backend.get(self.index, asset, with_vectors=True)
            faces_there = schema.visual_of(doc).get("faces") or []
            for i in indexes:
                if doc is None or not 0 <= i < len(faces_there):
                    raise NotFoundError(f"no face #{i} in asset {asset!r}")
            docs[asset] = doc  # type: ignore[assignment]
        new = new_person_id()
        if name:
            self.registry.set_name(self.index, new, name)
        updates = []
        for asset, doc in docs.items():
            faces_there = [dict(f) for f in doc[schema.ROOT]["faces"]]
            for i in wanted[asset]:
                faces_there[i]["person"] = new
            updates.append(_update(asset, faces_there))
        self._write(updates)
        return new, len(updates)

    # --- internals -------------------------------------------------------------------------

    def _require_present(self, pid: str) -> None:
        ids = tuple(self.registry.aliases(self.index, pid))
        found = self.backend.search(
            SearchRequest(index=self.index, filter=Terms(PERSONS, ids), size=1, fields=())
        )
        if not found.hits:
            raise NotFoundError(f"no person {pid!r} in index {self.index!r}")

    def _rewrite(self, which: Node, change: Any) -> int:
        """Rewrite the faces' persons of every document ``which`` selects (operator)."""
        updates: list[DocUpdate] = []
        written = 0
        # The whole source: with a source filter, OpenSearch 3 hands back a placeholder
        # instead of each nested vector (derived source), and the rewrite would lose them.
        docs = self.backend.iter_docs(self.index, filter=and_(which), with_vectors=True)
        for asset, source in docs:
            faces = [dict(f) for f in (schema.visual_of(source).get("faces") or [])]
            for f in faces:
                new = change(f.get("person"))
                if new is not None:
                    f["person"] = new
            updates.append(_update(asset, faces))
            if len(updates) >= BATCH:
                written += self._write(updates)
                updates = []
        if updates:
            written += self._write(updates)
        return written

    def _write(self, updates: Sequence[DocUpdate]) -> int:
        result = self.backend.bulk_update(self.index, updates)
        if result.errors:
            first = result.errors[0]
            raise BackendError(
                f"{len(result.errors)} document(s) could not be rewritten "
                f"(first: {first.id}: {first.reason}); run the command again to finish"
            )
        self.backend.refresh(self.index)
        return len(updates)


def on_screen(faces: Sequence[FaceRef], visual: Mapping[str, Any]) -> list[Segment]:
    """When a person is on screen in a video: the kept frames where one of their faces
    was found, merged into segments like a search's timeline (a frame without them
    ends a run)."""
    points = [(f.t, 1.0) for f in faces if f.t is not None]
    if not points:
        return []
    frames = visual.get("frames") or ()
    times = [
        f["t"] for f in frames if isinstance(f, Mapping) and isinstance(f.get("t"), int | float)
    ]
    duration = visual.get("duration")
    return merge_segments(
        points,  # type: ignore[arg-type]
        0.5,
        duration=float(duration) if isinstance(duration, int | float) else None,
        times=times,
    )


def _update(asset: str, faces: list[dict[str, Any]]) -> DocUpdate:
    persons = sorted({f["person"] for f in faces if isinstance(f.get("person"), str)})
    return DocUpdate(asset, {schema.ROOT: {"faces": faces, "persons": persons}}, upsert=False)


def _ref(asset: str, index: int, face: Mapping[str, Any]) -> FaceRef:
    bbox = face.get("bbox")
    t = face.get("t")
    score = face.get("score")
    return FaceRef(
        asset,
        index,
        tuple(float(v) for v in bbox)
        if isinstance(bbox, list | tuple) and len(bbox) == 4
        else None,  # type: ignore[arg-type]
        float(t) if isinstance(t, int | float) else None,
        float(score) if isinstance(score, int | float) else None,
    )


def _best_face(asset: str, source: Mapping[str, Any], ids: set[str]) -> FaceRef | None:
    faces = schema.visual_of(source).get("faces") or []
    mine = [
        _ref(asset, i, f)
        for i, f in enumerate(faces)
        if isinstance(f, Mapping) and f.get("person") in ids
    ]
    return max(mine, key=lambda f: f.score or 0.0, default=None)
