"""Running a ``Search``: resolve ``similar_to`` into a vector, build the request(s), merge.

Kept apart from the builder because it is the one part that does I/O: it calls
the embedder (text, image, a crop of a stored asset) and the backend (the
source asset, read *as the caller*, so a user never learns the vector or the
existence of an asset they may not read).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, assert_never

from es_visual.core import schema
from es_visual.core.cursor import bind_cursor
from es_visual.core.errors import ModelMismatchError, NotFoundError, QueryError
from es_visual.core.ir import SearchRequest, VectorTarget
from es_visual.core.results import Hit, SearchResult
from es_visual.query.similar import (
    ByAsset,
    ByFace,
    ByImage,
    ByRegion,
    ByText,
    ByVector,
    SimilarTo,
)

if TYPE_CHECKING:
    from es_visual.backends.base import Backend, VisualSpec
    from es_visual.models.base import Embedder
    from es_visual.query.search import Search

BBOX_TOLERANCE = 1e-3  # a drawn box this close to a stored region's reuses its vector


@dataclass(frozen=True)
class ResolvedVector:
    vector: tuple[float, ...]
    space: Literal["scene", "face"]  # scene-embedder space (scene/regions/frames) or faces
    model: str | None
    exclude_ids: tuple[str, ...] = ()


def execute(
    search: Search,
    backend: Backend,
    *,
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> SearchResult:
    """Run ``search`` on ``backend``; ``on("any")`` runs one request per target and keeps
    each document's best match; a ``text()`` search fuses its rankings (``query.hybrid``)."""
    if search.text_query is not None:
        from es_visual.query.hybrid import execute_text

        return execute_text(search, backend, embedder=embedder, now=now)
    requests = plan(search, backend, embedder=embedder, now=now)
    if len(requests) == 1:
        result = backend.search(requests[0])
        result = replace(result, next_cursor=bind_cursor(result.next_cursor, requests[0]))
        return _faces_labelled(result, requests[0], search, backend)
    started = time.perf_counter()
    results = [backend.search(r) for r in requests]
    return merge(results, search.size, took_ms=(time.perf_counter() - started) * 1000)


def _faces_labelled(
    result: SearchResult, request: SearchRequest, search: Search, backend: Backend
) -> SearchResult:
    """A face search's hits say same person / similar (``query.faces``)."""
    vq = request.vector
    if vq is None or vq.target != "faces":
        return result
    from es_visual.query.faces import annotate, same_person_threshold

    model = vq.model
    if model is None:
        spec = backend.cached_spec(search.index)
        model = spec.face_model if spec else None
    return annotate(result, same_person_threshold(model))


def plan(
    search: Search,
    backend: Backend,
    *,
    embedder: Embedder | None = None,
    now: datetime | None = None,
) -> list[SearchRequest]:
    """The request(s) ``execute`` would send: one, or one per target for ``on("any")``."""
    similar = search.similar
    if similar is None:
        return [search.to_request(now=now)]
    spec = backend.cached_spec(search.index)
    if spec is None:
        raise QueryError(
            f"index {search.index!r} has no visual vectors yet: run `es-visual ingest` first"
        )
    resolved = resolve(search, backend, spec, embedder=embedder)
    if resolved.space == "face" and search.requested_min_score is None:
        # Faces: the same person by default, not every face ranked by likeness.
        from es_visual.query.faces import same_person_threshold

        threshold = same_person_threshold(resolved.model or spec.face_model)
        if threshold is not None:
            search = search.min_score(threshold)
    return [
        search.to_request(
            vector=resolved.vector,
            target=target,
            model=resolved.model,
            exclude_ids=resolved.exclude_ids,
            now=now,
        )
        for target in targets_for(search, backend, resolved)
    ]


def targets_for(search: Search, backend: Backend, resolved: ResolvedVector) -> list[VectorTarget]:
    """The vector fields to search: the chosen one, or for ``any`` each one the index
    holds vectors in that live in the query vector's space."""
    similar = search.similar
    assert similar is not None
    space_targets = (
        schema.FACE_SPACE_TARGETS if resolved.space == "face" else schema.SCENE_SPACE_TARGETS
    )
    chosen = search.resolved_target
    if chosen != "any":
        if chosen in space_targets:
            return [t for t in space_targets if t == chosen]
        raise QueryError(_wrong_space(similar, str(chosen)))
    counts = backend.stats(search.index).vectors
    present = [t for t in space_targets if counts.get(t, 0) > 0]
    return present or [space_targets[0]]


def _wrong_space(similar: SimilarTo, target: str) -> str:
    if target == "faces":
        return (
            f"similar_to({similar.kind}=...) gives a scene-model vector; faces hold face-model "
            "vectors: search faces by a picture (similar_to(image=...)) or by a stored face "
            "(similar_to(face=(asset, index)))"
        )
    return f'a face vector can only search faces, not on("{target}")'


def resolve(
    search: Search,
    backend: Backend,
    spec: VisualSpec,
    *,
    embedder: Embedder | None = None,
) -> ResolvedVector:
    """``similar_to(...)`` as a plain vector of the index's model."""
    similar = search.similar
    assert similar is not None
    match similar:
        case ByVector(vector):
            on_faces = search.resolved_target == "faces"
            dims = spec.face_dims if on_faces else spec.dims
            if dims is not None and len(vector) != dims:
                which = "face" if on_faces else "scene"
                raise ModelMismatchError(
                    f"the query vector has {len(vector)} dims; the index's {which} vectors "
                    f"have {dims} ({spec.face_model if on_faces else spec.model})"
                )
            return ResolvedVector(vector, "face" if on_faces else "scene", None)
        case ByText(text):
            model = _embedder_for(spec, embedder)
            return ResolvedVector(_row(model.embed_texts([text])), "scene", spec.model)
        case ByImage() if search.resolved_target == "faces":
            return _face_in_picture(similar, spec)
        case ByImage(image):
            model = _embedder_for(spec, embedder)
            return ResolvedVector(_row(model.embed_images([_load(image)])), "scene", spec.model)
        case ByAsset(asset):
            scene = _stored_visual(search, backend, asset).get("scene")
            if not scene:
                raise QueryError(
                    f"asset {asset!r} has no scene vector (not ingested, or its ingest failed)"
                )
            return ResolvedVector(_floats(scene), "scene", spec.model, (asset,))
        case ByFace(asset, index):
            faces = _stored_visual(search, backend, asset).get("faces") or []
            if index >= len(faces) or not faces[index].get("vector"):
                raise QueryError(f"asset {asset!r} has {len(faces)} face(s); no face #{index}")
            return ResolvedVector(
                _floats(faces[index]["vector"]), "face", spec.face_model, (asset,)
            )
        case ByRegion(asset):
            visual = _stored_visual(search, backend, asset)
            return _region(similar, visual, spec, embedder)
        case _:
            assert_never(similar)


def _stored_visual(search: Search, backend: Backend, asset: str) -> dict[str, Any]:
    """The ``visual`` object of a stored asset, with its vectors, read as the caller."""
    doc = backend.get(search.index, asset, acl=search.acl, with_vectors=True)
    if doc is None:
        # The same words whether it is missing or forbidden: nothing leaks.
        raise NotFoundError(f"asset {asset!r} not found")
    return schema.visual_of(doc)


def _face_in_picture(similar: ByImage, spec: VisualSpec) -> ResolvedVector:
    """A face search by a picture: the face model finds its faces; one is searched by."""
    from es_visual.query.faces import pick, query_faces

    if spec.face_model is None:
        raise QueryError("this index has no face vectors: ingest with a preset that finds faces")
    face = pick(query_faces(_load(similar.image), spec.face_model), similar.face)
    return ResolvedVector(_floats(face.vector.tolist()), "face", spec.face_model)


def _region(
    similar: ByRegion, visual: dict[str, Any], spec: VisualSpec, embedder: Embedder | None
) -> ResolvedVector:
    exclude = (similar.asset,)
    for region in visual.get("regions") or []:
        box = region.get("bbox") or ()
        if region.get("vector") and _same_box(box, similar.bbox):
            return ResolvedVector(_floats(region["vector"]), "scene", spec.model, exclude)
    path = visual.get("path")
    if not path:
        raise QueryError(
            f"asset {similar.asset!r} has no stored region at {list(similar.bbox)} and no "
            f"{schema.PATH_FIELD} to crop a new one from"
        )
    from es_visual.media.crops import crop_normalized
    from es_visual.media.image import open_image

    model = _embedder_for(spec, embedder)
    crop = crop_normalized(open_image(path).image, similar.bbox)
    return ResolvedVector(_row(model.embed_images([crop])), "scene", spec.model, exclude)


def _same_box(box: Sequence[float], other: Sequence[float]) -> bool:
    return len(box) == 4 and all(
        abs(float(a) - b) <= BBOX_TOLERANCE for a, b in zip(box, other, strict=True)
    )


def _embedder_for(spec: VisualSpec, embedder: Embedder | None) -> Embedder:
    if embedder is None:
        from es_visual.models.registry import get_embedder_for_tag

        embedder = get_embedder_for_tag(spec.model)
    if embedder.tag != spec.model or embedder.dims != spec.dims:
        raise ModelMismatchError(
            f"the index holds vectors of {spec.model} ({spec.dims} dims); the query's embedder "
            f"is {embedder.tag} ({embedder.dims} dims): embed the query with the index's model"
        )
    return embedder


def _load(image: Any) -> Any:
    """A PIL image in RGB from a path, bytes or a PIL image."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    from es_visual.media.image import open_image

    source = str(image) if isinstance(image, Path) else image
    return open_image(source).image


def _row(matrix: Any) -> tuple[float, ...]:
    return tuple(float(x) for x in matrix[0])


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(x) for x in values)


def merge(results: Sequence[SearchResult], size: int, *, took_ms: float) -> SearchResult:
    """One result from several targets' results: each document once, with its best
    match (``Hit.matched`` says which target), best first, at most ``size``.

    Aggregations are the first target's (counts cannot be added across targets
    without double counting); there is no next page across merged targets.
    """
    best: dict[str, Hit] = {}
    for result in results:
        for hit in result.hits:
            current = best.get(hit.id)
            if current is None or _score(hit) > _score(current):
                best[hit.id] = hit
    hits = sorted(best.values(), key=lambda h: (-_score(h), h.id))[:size]
    return SearchResult(
        hits=tuple(hits),
        took_ms=took_ms,
        aggregations=results[0].aggregations if results else {},
    )


def _score(hit: Hit) -> float:
    return hit.score if hit.score is not None else float("-inf")


__all__ = ["ResolvedVector", "execute", "merge", "plan", "resolve"]
