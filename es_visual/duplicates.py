"""Find exact and near duplicates in an index: the "find duplicates" use of visual search.

Exact duplicates share ``visual.content_hash`` (the same bytes). Near duplicates
(a resized, re-encoded, slightly cropped or mirrored copy) have scene vectors
whose cosine similarity is at least a threshold. They are found through the
vector index, never by comparing all pairs: one kNN per asset with a small
``k`` and ``min_similarity = threshold`` gives the edges, union-find joins them
into groups. An asset with exact copies is queried once for all of them (their
vectors are the same), with the copies excluded so they do not fill its ``k``.
Near duplicates are only looked for among assets of the same media type: a video
whose representative frame is a photo of the index is not a copy of that photo,
and suggesting to delete one for the other would be wrong.

The where-expression and the caller's ACL restrict both the assets scanned and
every kNN, so a user only ever sees groups made of documents they may read.

Two streaming passes over the index (metadata, then vectors batch by batch)
keep memory at O(assets) small records plus the vectors of assets that have a
neighbour, so 100k assets of 1280-dim vectors never sit in memory at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from es_visual.errors import QueryError
from es_visual.query import ir
from es_visual.query.search import MediaKind, Search

MEDIA_KINDS = get_args(MediaKind)

if TYPE_CHECKING:
    from es_visual.backends.base import Backend

# Default cosine thresholds per scene model (the part of the tag before "@"); measured by
# benchmarks/dup_threshold.py, see docs/duplicates.md for the numbers behind them.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "mobilenet-v2": 0.75,
    "clip": 0.90,
}
FALLBACK_THRESHOLD = 0.95
DEFAULT_K = 8  # neighbours asked per asset; a group larger than k still joins by chains
META_FIELDS = (
    "visual.content_hash",
    "visual.width",
    "visual.height",
    "visual.indexed_at",
    "visual.media_type",
    "visual.path",
    "visual.bytes",
)
Progress = Callable[[int, int], None]  # (assets queried so far, assets to query)


def default_threshold(model_tag: str | None) -> float:
    """The near-duplicate threshold for vectors of ``model_tag`` (``name@version``)."""
    name = (model_tag or "").partition("@")[0]
    return DEFAULT_THRESHOLDS.get(name, FALLBACK_THRESHOLD)


@dataclass(frozen=True)
class Member:
    id: str
    width: int | None
    height: int | None
    bytes: int | None  # file size when known (visual.bytes, or the file at visual.path)
    indexed_at: str | None
    similarity: float  # cosine similarity of its scene vector to the keeper's
    exact: bool  # same content hash as the keeper
    keeper: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class DuplicateGroup:
    """One picture held several times; ``members[0]`` is the suggested keeper."""

    kind: Literal["exact", "near"]  # exact: every member has the keeper's bytes
    members: tuple[Member, ...]

    @property
    def keeper(self) -> Member:
        return self.members[0]

    @property
    def reclaimable_bytes(self) -> int:
        """Bytes freed by deleting every member but the keeper (those of known size)."""
        return sum(m.bytes or 0 for m in self.members[1:])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "keeper": self.keeper.id,
            "size": len(self.members),
            "reclaimable_bytes": self.reclaimable_bytes,
            "members": [m.to_dict() for m in self.members],
        }


@dataclass(frozen=True)
class DuplicateReport:
    index: str
    model: str
    threshold: float
    k: int
    scanned: int  # assets with a scene vector that passed the filter and the ACL
    queries: int  # kNN searches run
    total_groups: int
    groups: tuple[DuplicateGroup, ...]  # the largest first, at most ``limit_groups``
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        """Members that are not keepers, in the returned groups."""
        return sum(len(g.members) - 1 for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "threshold": self.threshold,
            "k": self.k,
            "scanned": self.scanned,
            "queries": self.queries,
            "total_groups": self.total_groups,
            "duplicates": self.duplicates,
            "seconds": round(self.seconds, 3),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass
class _Asset:
    id: str
    hash: str | None
    width: int | None
    height: int | None
    indexed_at: str | None
    path: str | None
    bytes: int | None
    media_type: str | None = None


def find_duplicates(
    backend: Backend,
    search: Search | str,
    *,
    threshold: float | None = None,
    k: int = DEFAULT_K,
    limit_groups: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DuplicateReport:
    """Groups of exact and near duplicates among the assets ``search`` selects.

    ``search`` is an index name or a ``Search`` whose ``where``/``filter``/``media``
    and ``as_user`` restrict the assets (its ``similar_to`` and limit are ignored).
    ``threshold`` is a cosine similarity (default: the index model's, see
    ``default_threshold``). Raises ``QueryError`` for an index without vectors.
    """
    started = time.perf_counter()
    stages: dict[str, float] = {}
    s = Search(search) if isinstance(search, str) else search
    if threshold is not None and not -1.0 <= threshold <= 1.0:
        raise QueryError(f"threshold is a cosine similarity in [-1, 1], not {threshold!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise QueryError(f"k must be an integer in 1..1000, not {k!r}")
    if limit_groups is not None and limit_groups < 0:
        raise QueryError(f"limit_groups must be >= 0, not {limit_groups}")
    spec = backend.visual_spec(s.index)
    if spec is None:
        raise QueryError(
            f"index {s.index!r} has no visual vectors yet: run `es-visual ingest` first"
        )
    threshold = default_threshold(spec.model) if threshold is None else float(threshold)
    scope = ir.and_(s.filter_node(), s.acl)

    # Pass 1: who is there, and which assets are byte-identical.
    t0 = time.perf_counter()
    assets: dict[str, _Asset] = {}
    by_hash: dict[str, list[str]] = {}
    for doc_id, source in backend.iter_docs(s.index, filter=scope, fields=list(META_FIELDS)):
        asset = _asset(doc_id, source)
        if asset is None:
            continue  # never ingested, or its ingest failed
        assets[doc_id] = asset
        if asset.hash:
            by_hash.setdefault(asset.hash, []).append(doc_id)
    stages["scan"] = time.perf_counter() - t0

    uf = _UnionFind()
    for ids in by_hash.values():
        for other in ids[1:]:
            uf.union(ids[0], other)

    # Pass 2: one kNN per distinct picture, batch by batch as the vectors stream in.
    t0 = time.perf_counter()
    vectors: dict[str, np.ndarray] = {}
    base = s.limit(k).min_score(threshold).with_fields(["visual.content_hash"])
    to_query = len(assets) - sum(len(ids) - 1 for ids in by_hash.values())
    done = queries = 0
    n_workers = workers or (1 if backend.name == "embedded" else 8)

    def neighbours(doc_id: str, vector: list[float]) -> list[tuple[str, float]]:
        # The asset and its exact copies are dropped here rather than sent as exclude_ids:
        # an exclusion turns the store's plain scan into a masked one, many times slower.
        asset = assets[doc_id]
        copies = set(by_hash.get(asset.hash or "", [doc_id]))
        same_kind = base.media(asset.media_type) if asset.media_type in MEDIA_KINDS else base
        request = (
            same_kind.limit(k + len(copies))
            .similar_to(vector=vector)
            .to_request(vector=vector, target="scene", model=spec.model)
        )
        hits = [(h.id, float(h.score or 0.0)) for h in backend.search(request).hits]
        return [(i, score) for i, score in hits if i not in copies][:k]

    stream = backend.iter_docs(
        s.index, filter=scope, fields=["visual.content_hash", "visual.scene"], with_vectors=True
    )
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="dups") as pool:
        for batch in _batches(stream, 256):
            todo = []
            for doc_id, source in batch:
                scene = (source.get("visual") or {}).get("scene")
                asset = assets.get(doc_id)
                if asset is None or not scene:
                    continue
                copies = by_hash.get(asset.hash or "")
                if copies and copies[0] != doc_id:
                    continue  # its first copy asks for all of them
                todo.append((doc_id, scene))
            results = pool.map(lambda item: neighbours(*item), todo)
            for (doc_id, scene), hits in zip(todo, results, strict=True):
                queries += 1
                hits = [(other, score) for other, score in hits if other in assets]
                if hits:
                    vectors[doc_id] = _unit(scene)
                for other, _score in hits:
                    uf.union(doc_id, other)
            done += len(todo)
            if progress:
                progress(done, to_query)
    stages["knn"] = time.perf_counter() - t0

    # Groups, keepers and each member's similarity to its keeper.
    t0 = time.perf_counter()
    components: dict[str, list[str]] = {}
    for doc_id in uf.members():
        components.setdefault(uf.find(doc_id), []).append(doc_id)
    found = [ids for ids in components.values() if len(ids) > 1]
    found.sort(key=lambda ids: (-len(ids), min(ids)))
    total = len(found)
    if limit_groups is not None:
        found = found[:limit_groups]
    groups = tuple(_group([assets[i] for i in ids], vectors, by_hash, backend, s) for ids in found)
    groups = tuple(sorted(groups, key=lambda g: (-len(g.members), g.keeper.id)))
    stages["group"] = time.perf_counter() - t0
    return DuplicateReport(
        index=s.index,
        model=spec.model,
        threshold=threshold,
        k=k,
        scanned=len(assets),
        queries=queries,
        total_groups=total,
        groups=groups,
        seconds=time.perf_counter() - started,
        stages=stages,
    )


def keeper_order(asset: _Asset) -> tuple[Any, ...]:
    """Largest resolution first, then the oldest (earliest indexed_at), then by id."""
    pixels = (asset.width or 0) * (asset.height or 0)
    return (-pixels, asset.indexed_at or "\uffff", asset.id)


def _group(
    members: list[_Asset],
    vectors: dict[str, np.ndarray],
    by_hash: dict[str, list[str]],
    backend: Backend,
    search: Search,
) -> DuplicateGroup:
    members = sorted(members, key=keeper_order)
    keeper = members[0]

    def vector_of(asset: _Asset) -> np.ndarray | None:
        first = (by_hash.get(asset.hash or "") or [asset.id])[0]
        if first in vectors:
            return vectors[first]
        doc = backend.get(search.index, first, acl=search.acl, with_vectors=True)
        scene = ((doc or {}).get("visual") or {}).get("scene")
        vectors[first] = _unit(scene) if scene else None  # type: ignore[assignment]
        return vectors[first]

    kv = vector_of(keeper)
    out = []
    for asset in members:
        exact = asset.hash is not None and asset.hash == keeper.hash
        if exact:
            similarity = 1.0
        else:
            mv = vector_of(asset)
            similarity = float(mv @ kv) if mv is not None and kv is not None else float("nan")
        out.append(
            Member(
                id=asset.id,
                width=asset.width,
                height=asset.height,
                bytes=asset.bytes if asset.bytes is not None else _file_size(asset.path),
                indexed_at=asset.indexed_at,
                similarity=similarity,
                exact=exact,
                keeper=asset is keeper,
            )
        )
    kind: Literal["exact", "near"] = "exact" if all(m.exact for m in out) else "near"
    return DuplicateGroup(kind=kind, members=tuple(out))


def _asset(doc_id: str, source: dict[str, Any]) -> _Asset | None:
    visual = source.get("visual")
    if not isinstance(visual, dict) or not visual.get("content_hash"):
        return None
    size = visual.get("bytes")
    return _Asset(
        id=doc_id,
        hash=visual.get("content_hash"),
        width=_int(visual.get("width")),
        height=_int(visual.get("height")),
        indexed_at=visual.get("indexed_at"),
        path=visual.get("path") if isinstance(visual.get("path"), str) else None,
        bytes=_int(size),
        media_type=visual.get("media_type") if isinstance(visual.get("media_type"), str) else None,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _file_size(path: str | None) -> int | None:
    if not path or "://" in path:
        return None
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _unit(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id as the root: groups come out the same whatever the order.
            self.parent[max(ra, rb)] = min(ra, rb)

    def members(self) -> list[str]:
        return list(self.parent)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "DuplicateGroup",
    "DuplicateReport",
    "Member",
    "default_threshold",
    "find_duplicates",
    "keeper_order",
]
