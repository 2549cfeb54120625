"""Find exact and near duplicates in an index: the "find duplicates" use of visual search.

A near duplicate is *the same picture* (resized, re-encoded, cropped a little,
lightly edited; mirrored only when asked), never "a similar scene". Three checks
must all agree (``NearRule``, calibrated per model by benchmarks/dup_threshold.py,
numbers in docs/duplicates.md):

1. the scene vectors' cosine similarity >= ``cosine`` (found through the vector
   index: one kNN per distinct picture, never all pairs);
2. the perceptual hashes (``visual.phash``) differ in <= ``hamming`` bits;
3. the 32x32 thumbs (``visual.phash_thumb``) line up as one picture, one possibly
   a small crop of the other (``media.phash.same_picture_score`` >= ``picture``):
   what tells a copy from a second photo of the same scene or person.

Exact duplicates share ``visual.content_hash`` (the same bytes) and need no check.
A picture ingested before the prints existed has none: it can still be an exact
duplicate, never a near one (the report counts them: re-ingest with ``--force``).

No chains: checks 1-2 give candidate edges, union-find gives candidate
components, and each component is split around keepers: the best asset keeps
every member that passes all three checks *against it*, and the rest start over.
So A~B and B~C never put A and C in one group unless A~C.

Videos are only compared with videos, by frame sequence (``match_frames``): the
same video re-encoded or trimmed has its frames, in order, at one time offset.

The where-expression and the caller's ACL restrict the assets scanned, every kNN
and every fetch, so a user only ever sees groups made of documents they may read.
Memory: pass 1 keeps one small record per asset; vectors stream batch by batch;
prints and vectors are fetched only for the members of candidate components.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from es_visual.core import ir, schema
from es_visual.core.batching import batched
from es_visual.core.errors import QueryError
from es_visual.core.vectors import l2_normalize
from es_visual.media.phash import (
    decode_thumb,
    hamming,
    hash_of_thumb,
    parse_hash,
    same_picture_score,
)
from es_visual.query.search import Search, is_media_kind

if TYPE_CHECKING:
    from es_visual.backends.base import Backend


@dataclass(frozen=True)
class NearRule:
    """When two pictures are the same picture: all three at once."""

    cosine: float  # scene vectors' cosine similarity, at least
    hamming: int  # perceptual-hash bits that differ, at most (of 64)
    picture: float  # media.phash.same_picture_score, at least

    def to_dict(self) -> dict[str, Any]:
        return {"cosine": self.cosine, "hamming": self.hamming, "picture": self.picture}


# Per scene model (the part of the tag before "@"); measured by benchmarks/dup_threshold.py,
# see docs/duplicates.md. The hash and picture checks do not depend on the model.
RULES: dict[str, NearRule] = {
    "mobilenet-v2": NearRule(cosine=0.75, hamming=28, picture=0.90),
}
# Unmeasured models (CLIP: no weights can be downloaded here): the embedding only picks
# candidates; the model-free checks decide, at the values measured with MobileNetV2.
FALLBACK_RULE = NearRule(cosine=0.90, hamming=28, picture=0.90)
# A video copy: this share of the shorter video's frames found in the longer one, in order,
# at one time offset (within OFFSET_SLACK seconds, plus 5% of the shorter's length).
VIDEO_MIN_COVERAGE = 0.8
VIDEO_OFFSET_SLACK = 2.0
DEFAULT_K = 8  # neighbours asked per asset; a group larger than k still joins by chains
FETCH_BATCH = 128  # members fetched (with prints and vectors) per request
META_FIELDS = (
    schema.CONTENT_HASH_FIELD,
    schema.WIDTH_FIELD,
    schema.HEIGHT_FIELD,
    schema.INDEXED_AT_FIELD,
    schema.MEDIA_TYPE_FIELD,
    schema.PATH_FIELD,
    schema.BYTES_FIELD,
    schema.PHASH_FIELD,
    schema.FORMAT_FIELD,
    schema.DURATION_FIELD,
)
# Formats by how likely a file in them is the original: lossless first, then camera
# formats, then the formats pictures are re-encoded to for the web.
_LOSSLESS = frozenset({"png", "tiff", "bmp", "ppm", "pgm", "pbm", "tga", "qoi", "dng"})
_CAMERA = frozenset({"jpeg", "mpo", "heic", "heif", "jpeg2000", "jp2"})
Progress = Callable[[int, int], None]  # (assets queried so far, assets to query)


def near_rule(model_tag: str | None, threshold: float | None = None) -> NearRule:
    """The rule for vectors of ``model_tag`` (``name@version``); ``threshold`` replaces
    its cosine (the hash and picture checks stay)."""
    name = (model_tag or "").partition("@")[0]
    rule = RULES.get(name, FALLBACK_RULE)
    return rule if threshold is None else replace(rule, cosine=float(threshold))


def default_threshold(model_tag: str | None) -> float:
    """The default cosine threshold for vectors of ``model_tag``."""
    return near_rule(model_tag).cosine


@dataclass(frozen=True)
class Match:
    """How a member matched its keeper."""

    cosine: float | None = None
    hamming: int | None = None
    picture: float | None = None
    mirrored: bool = False
    frames: str | None = None  # videos: "12/13 frames, in order"
    offset: float | None = None  # videos: where the shorter one starts in the longer (s)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is None or (key == "mirrored" and not value):
                continue
            out[key] = round(value, 4) if isinstance(value, float) else value
        return out


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
    media_type: str | None = None
    format: str | None = None
    duration: float | None = None
    metadata_fields: int = 0  # how many metadata values the document holds besides `visual`
    match: Match | None = None  # how it matched the keeper (None: the keeper, or exact)

    def to_dict(self) -> dict[str, Any]:
        out = {**self.__dict__, "similarity": round(self.similarity, 4)}
        out["match"] = self.match.to_dict() if self.match else None
        return out


@dataclass(frozen=True)
class DuplicateGroup:
    """One picture held several times; ``members[0]`` is the suggested keeper and
    ``keep_reason`` says why it was chosen."""

    kind: Literal["exact", "near"]  # exact: every member has the keeper's bytes
    members: tuple[Member, ...]
    keep_reason: str = ""

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
            "keep_reason": self.keep_reason,
            "size": len(self.members),
            "reclaimable_bytes": self.reclaimable_bytes,
            "members": [m.to_dict() for m in self.members],
        }


@dataclass(frozen=True)
class DuplicateReport:
    index: str
    model: str
    threshold: float  # the rule's cosine
    k: int
    scanned: int  # assets with a scene vector that passed the filter and the ACL
    queries: int  # kNN searches run
    total_groups: int
    groups: tuple[DuplicateGroup, ...]  # the largest first, at most ``limit_groups``
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)
    rule: NearRule | None = None
    mirrored: bool = False
    without_prints: int = 0  # pictures with no perceptual hash: exact duplicates only
    rejected: int = 0  # candidate comparisons the hash, picture or frame checks turned down

    @property
    def duplicates(self) -> int:
        """Members that are not keepers, in the returned groups."""
        return sum(len(g.members) - 1 for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "threshold": self.threshold,
            "rule": self.rule.to_dict() if self.rule else None,
            "mirrored": self.mirrored,
            "k": self.k,
            "scanned": self.scanned,
            "without_prints": self.without_prints,
            "queries": self.queries,
            "rejected": self.rejected,
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
    phash: int | None = None
    format: str | None = None
    duration: float | None = None
    metadata_fields: int = 0


@dataclass
class _Prints:
    """What the checks need of one distinct picture (fetched only for candidates)."""

    vector: np.ndarray | None
    thumb: np.ndarray | None
    phash: int | None
    size: tuple[int, int] | None
    frames: list[tuple[float, np.ndarray | None, int | None]] | None = None  # videos


def find_duplicates(
    backend: Backend,
    search: Search | str,
    *,
    threshold: float | None = None,
    mirrored: bool = False,
    k: int = DEFAULT_K,
    limit_groups: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> DuplicateReport:
    """Groups of exact and near duplicates among the assets ``search`` selects.

    ``search`` is an index name or a ``Search`` whose ``where``/``filter``/``media``
    and ``as_user`` restrict the assets (its ``similar_to`` and limit are ignored).
    ``threshold`` replaces the model's cosine (see ``near_rule``); the hash and
    picture checks always apply. ``mirrored``: a left-right mirror image counts as
    a copy. Raises ``QueryError`` for an index without vectors.
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
    spec = backend.cached_spec(s.index)
    if spec is None:
        raise QueryError(
            f"index {s.index!r} has no visual vectors yet: run `es-visual ingest` first"
        )
    rule = near_rule(spec.model, threshold)
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
    without_prints = sum(1 for a in assets.values() if a.media_type != "video" and a.phash is None)

    def rep(doc_id: str) -> str:
        """The first of an asset's exact copies stands for all of them."""
        return (by_hash.get(assets[doc_id].hash or "") or [doc_id])[0]

    # Pass 2: one kNN per distinct picture, batch by batch as the vectors stream in; an edge
    # needs the cosine (the kNN's min_score) and, between pictures, the hash check.
    t0 = time.perf_counter()
    uf = _UnionFind()
    for ids in by_hash.values():
        for other in ids[1:]:
            uf.union(ids[0], other)
    base = s.limit(k).min_score(rule.cosine).with_fields([schema.CONTENT_HASH_FIELD])
    to_query = len({rep(i) for i in assets})
    done = queries = rejected = 0
    n_workers = workers or backend.capabilities.search_workers

    def neighbours(doc_id: str, vector: list[float]) -> list[tuple[str, float]]:
        # The asset and its exact copies are dropped here rather than sent as exclude_ids:
        # an exclusion turns the store's plain scan into a masked one, many times slower.
        asset = assets[doc_id]
        copies = set(by_hash.get(asset.hash or "", [doc_id]))
        same_kind = base.media(asset.media_type) if is_media_kind(asset.media_type) else base
        # A video's copy may be trimmed: its representative frame is one of the other's
        # frames, not necessarily the other's representative frame.
        target: ir.VectorTarget = "frames" if asset.media_type == "video" else "scene"
        request = (
            same_kind.limit(k + len(copies))
            .similar_to(vector=vector)
            .to_request(vector=vector, target=target, model=spec.model)
        )
        hits = [(h.id, float(h.score or 0.0)) for h in backend.search(request).hits]
        return [(i, score) for i, score in hits if i not in copies][:k]

    fields = [schema.CONTENT_HASH_FIELD, schema.SCENE_FIELD]
    if mirrored:
        fields.append(schema.PHASH_THUMB_FIELD)
    stream = backend.iter_docs(s.index, filter=scope, fields=fields, with_vectors=True)
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="dups") as pool:
        for batch in batched(stream, 256):
            todo = []
            mirror_hash: dict[str, int] = {}
            for doc_id, source in batch:
                visual = schema.visual_of(source)
                asset = assets.get(doc_id)
                if asset is None or not visual.get("scene") or rep(doc_id) != doc_id:
                    continue  # not scanned, no vector, or its first copy asks for all of them
                todo.append((doc_id, visual["scene"]))
                thumb = decode_thumb(visual.get("phash_thumb")) if mirrored else None
                if thumb is not None:
                    mirror_hash[doc_id] = hash_of_thumb(thumb, mirror=True)
            results = pool.map(lambda item: neighbours(*item), todo)
            for (doc_id, _scene), hits in zip(todo, results, strict=True):
                queries += 1
                a = assets[doc_id]
                for other, _score in hits:
                    b = assets.get(other)
                    if b is None or b.media_type != a.media_type:
                        continue
                    if a.media_type != "video" and not _hash_close(
                        a, b, mirror_hash.get(doc_id), rule
                    ):
                        rejected += 1
                        continue
                    uf.union(doc_id, rep(other))
            done += len(todo)
            if progress:
                progress(done, to_query)
    stages["knn"] = time.perf_counter() - t0

    # Candidate components, split around keepers by the full checks.
    t0 = time.perf_counter()
    components: dict[str, list[str]] = {}
    for doc_id in assets:
        if doc_id in uf.parent:
            components.setdefault(uf.find(doc_id), []).append(doc_id)
    found = [ids for ids in components.values() if len(ids) > 1]
    found.sort(key=lambda ids: min(ids))
    groups: list[DuplicateGroup] = []
    for chunk in _chunked_components(found, FETCH_BATCH):
        wanted = [i for ids in chunk for i in ids]
        prints, metadata = _fetch(backend, s, wanted, scope)
        for i, n in metadata.items():
            assets[i].metadata_fields = n
        for ids in chunk:
            made, turned_down = _split([assets[i] for i in ids], prints, rep, rule, mirrored)
            groups.extend(made)
            rejected += turned_down
    groups.sort(key=lambda g: (-len(g.members), g.keeper.id))
    total = len(groups)
    if limit_groups is not None:
        groups = groups[:limit_groups]
    stages["verify"] = time.perf_counter() - t0
    return DuplicateReport(
        index=s.index,
        model=spec.model,
        threshold=rule.cosine,
        k=k,
        scanned=len(assets),
        queries=queries,
        total_groups=total,
        groups=tuple(groups),
        seconds=time.perf_counter() - started,
        stages=stages,
        rule=rule,
        mirrored=mirrored,
        without_prints=without_prints,
        rejected=rejected,
    )


def _hash_close(a: _Asset, b: _Asset, a_mirror: int | None, rule: NearRule) -> bool:
    """The cheap gate on a candidate edge between two pictures: their phashes."""
    if a.hash and a.hash == b.hash:
        return True
    if a.phash is None or b.phash is None:
        return False  # no prints: only ever an exact duplicate
    if hamming(a.phash, b.phash) <= rule.hamming:
        return True
    return a_mirror is not None and hamming(a_mirror, b.phash) <= rule.hamming


def same_picture(a: _Prints, b: _Prints, rule: NearRule, *, mirrored: bool) -> Match | None:
    """The three checks between two pictures' prints; the Match, or None."""
    if a.vector is None or b.vector is None or a.thumb is None or b.thumb is None:
        return None
    if a.phash is None or b.phash is None:
        return None
    cosine = float(a.vector @ b.vector)
    if cosine < rule.cosine - 1e-6:
        return None
    tries = [False, True] if mirrored else [False]
    best: Match | None = None
    for flip in tries:
        bits = hamming(a.phash, hash_of_thumb(b.thumb, mirror=True) if flip else b.phash)
        if bits > rule.hamming:
            continue
        score = same_picture_score(
            a.thumb, a.size, b.thumb, b.size, mirror=flip, enough=rule.picture
        )
        if score >= rule.picture and (best is None or score > (best.picture or -1)):
            best = Match(cosine=cosine, hamming=bits, picture=score, mirrored=flip)
    return best


def match_frames(a: _Prints, b: _Prints, rule: NearRule) -> Match | None:
    """Whether two videos are one video (re-encoded, resized or trimmed): the frames of
    the shorter are found in the longer (cosine and phash per frame), in order, at one
    time offset. A different cut of the same shots, or the shots in another order, is not."""
    fa, fb = a.frames or [], b.frames or []
    if not fa or not fb:
        return None
    short, long_ = (fa, fb) if _span(fa) <= _span(fb) else (fb, fa)
    long_vecs = [(t, v, h) for t, v, h in long_ if v is not None and h is not None]
    if not long_vecs:
        return None
    matrix = np.stack([v for _t, v, _h in long_vecs])
    pairs: list[tuple[float, float]] = []  # (t in short, t in long)
    for t, vector, bits in short:
        if vector is None or bits is None:
            continue
        sims = matrix @ vector
        best_t, best_sim = None, rule.cosine - 1e-6
        for j in np.argsort(-sims)[:8]:
            lt, _v, lh = long_vecs[j]
            if sims[j] >= best_sim and hamming(bits, lh) <= rule.hamming:  # type: ignore[arg-type]
                best_t, best_sim = lt, float(sims[j])
                break
        if best_t is not None:
            pairs.append((t, best_t))
    in_order = _longest_in_order(pairs)
    if len(in_order) < VIDEO_MIN_COVERAGE * len(short):
        return None
    offsets = [lt - st for st, lt in in_order]
    slack = VIDEO_OFFSET_SLACK + 0.05 * _span(short)
    if max(offsets) - min(offsets) > slack:
        return None
    cosine = float(a.vector @ b.vector) if a.vector is not None and b.vector is not None else None
    return Match(
        cosine=cosine,
        frames=f"{len(in_order)}/{len(short)} frames, in order",
        offset=float(np.median(offsets)),
    )


def _span(frames: Sequence[tuple[float, Any, Any]]) -> float:
    return max(t for t, _v, _h in frames) - min(t for t, _v, _h in frames)


def _longest_in_order(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The longest run of matches whose times in the longer video never go back."""
    import bisect

    tails: list[float] = []
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for i, (_st, lt) in enumerate(pairs):
        pos = bisect.bisect_right(tails, lt)
        if pos == len(tails):
            tails.append(lt)
            tail_idx.append(i)
        else:
            tails[pos] = lt
            tail_idx[pos] = i
        prev[i] = tail_idx[pos - 1] if pos else -1
    out = []
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        out.append(pairs[i])
        i = prev[i]
    return out[::-1]


def _split(
    members: list[_Asset],
    prints: dict[str, _Prints],
    rep: Callable[[str], str],
    rule: NearRule,
    mirrored: bool,
) -> tuple[list[DuplicateGroup], int]:
    """A candidate component as groups: the best asset keeps what matches *it*; the rest
    start over. Returns the groups and how many comparisons were turned down."""
    groups = []
    rejected = 0
    # Distinct pictures (one per content hash), ordered by their best copy.
    copies: dict[str, list[_Asset]] = {}
    for asset in sorted(members, key=keeper_order):
        copies.setdefault(rep(asset.id), []).append(asset)
    remaining = list(copies)  # in keeper order, since dicts keep insertion order
    while remaining:
        head, rest = remaining[0], remaining[1:]
        keeper_prints = prints.get(head)
        kept: list[tuple[str, Match]] = []
        left = []
        for other in rest:
            match = _compare(keeper_prints, prints.get(other), copies[head][0], rule, mirrored)
            if match is None:
                left.append(other)
                rejected += 1
            else:
                kept.append((other, match))
        remaining = left
        if not kept and len(copies[head]) == 1:
            continue
        groups.append(_group(copies, head, kept, keeper_prints))
    return groups, rejected


def _compare(
    a: _Prints | None, b: _Prints | None, keeper: _Asset, rule: NearRule, mirrored: bool
) -> Match | None:
    if a is None or b is None:
        return None
    if keeper.media_type == "video":
        return match_frames(a, b, rule)
    return same_picture(a, b, rule, mirrored=mirrored)


def _group(
    copies: dict[str, list[_Asset]],
    head: str,
    kept: list[tuple[str, Match]],
    keeper_prints: _Prints | None,
) -> DuplicateGroup:
    chosen: list[tuple[_Asset, Match | None]] = [(a, None) for a in copies[head]]
    for other, found in kept:
        chosen.extend((a, found) for a in copies[other])
    chosen.sort(key=lambda item: keeper_order(item[0]))
    keeper = chosen[0][0]
    out = []
    for asset, match in chosen:
        exact = asset.hash is not None and asset.hash == keeper.hash
        similarity = 1.0 if exact or match is None else float(match.cosine or 0.0)
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
                media_type=asset.media_type,
                format=asset.format,
                duration=asset.duration,
                metadata_fields=asset.metadata_fields,
                match=None if exact else match,
            )
        )
    kind: Literal["exact", "near"] = "exact" if all(m.exact for m in out) else "near"
    return DuplicateGroup(
        kind=kind, members=tuple(out), keep_reason=keep_reason([a for a, _m in chosen])
    )


def keeper_order(asset: _Asset) -> tuple[Any, ...]:
    """The best copy first: the largest resolution; for videos the longest (a trimmed copy
    is shorter); the original format (lossless, then camera formats, then web re-encodes);
    the richest metadata; the oldest (earliest indexed_at); then by id."""
    return (
        -_pixels(asset),
        -(asset.duration or 0.0),
        _format_rank(asset.format),
        -asset.metadata_fields,
        asset.indexed_at or "\uffff",
        asset.id,
    )


def keep_reason(ordered: Sequence[_Asset]) -> str:
    """Why the first of ``ordered`` (sorted by ``keeper_order``) is the one to keep: the
    first criterion that sets it apart from the runner-up."""
    keeper = ordered[0]
    if len(ordered) < 2:
        return "the only copy"
    runner = ordered[1]
    if _pixels(keeper) != _pixels(runner):
        return (
            f"largest resolution: {_size(keeper)} (next: {_size(runner)})"
            if _pixels(runner)
            else f"largest resolution: {_size(keeper)}"
        )
    if (keeper.duration or 0.0) != (runner.duration or 0.0):
        return f"longest: {keeper.duration:g} s (next: {runner.duration or 0:g} s)"
    if _format_rank(keeper.format) != _format_rank(runner.format):
        others = sorted({(a.format or "unknown").upper() for a in ordered[1:]})
        return (
            f"original format: {(keeper.format or '').upper()} "
            f"({_format_kind(keeper.format)}; the others: {', '.join(others)})"
        )
    if keeper.metadata_fields != runner.metadata_fields:
        return f"richest metadata: {keeper.metadata_fields} fields (next: {runner.metadata_fields})"
    if keeper.indexed_at and keeper.indexed_at != runner.indexed_at:
        return f"oldest: indexed {keeper.indexed_at}"
    return "all equal in size, format, metadata and age: the first by id"


def _pixels(asset: _Asset) -> int:
    return (asset.width or 0) * (asset.height or 0)


def _size(asset: _Asset) -> str:
    return f"{asset.width}x{asset.height}" if asset.width and asset.height else "unknown size"


def _format_rank(fmt: str | None) -> int:
    if not fmt:
        return 3
    if fmt in _LOSSLESS:
        return 0
    return 1 if fmt in _CAMERA else 2


def _format_kind(fmt: str | None) -> str:
    return ("lossless", "a camera format", "a web format", "unknown")[_format_rank(fmt)]


def _fetch(
    backend: Backend, s: Search, ids: list[str], scope: ir.Node
) -> tuple[dict[str, _Prints], dict[str, int]]:
    """Prints and vectors of ``ids`` (within ``scope``: never a document the caller may
    not read), and how many metadata values each holds besides ``visual``."""
    prints: dict[str, _Prints] = {}
    metadata: dict[str, int] = {}
    flt = ir.and_(ir.Ids(tuple(ids)), scope)
    for doc_id, source in backend.iter_docs(s.index, filter=flt, with_vectors=True):
        visual = schema.visual_of(source)
        scene = visual.get("scene")
        w, h = _int(visual.get("width")), _int(visual.get("height"))
        frames = None
        if visual.get("media_type") == "video":
            frames = [
                (
                    float(f.get("t") or 0.0),
                    l2_normalize(f["vector"]) if f.get("vector") else None,
                    parse_hash(f.get("phash")),
                )
                for f in visual.get("frames") or []
                if isinstance(f, dict)
            ]
        prints[doc_id] = _Prints(
            vector=l2_normalize(scene) if scene else None,
            thumb=decode_thumb(visual.get("phash_thumb")),
            phash=parse_hash(visual.get("phash")),
            size=(w, h) if w and h else None,
            frames=frames,
        )
        metadata[doc_id] = _count_values(
            {k: v for k, v in source.items() if k not in _NOT_METADATA}
        )
    return prints, metadata


# Not the user's metadata: what es-visual writes, and who may read or change the document.
_NOT_METADATA = frozenset({schema.ROOT, "acl"})


def _count_values(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count_values(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_values(v) for v in value)
    return 0 if value is None or value == "" else 1


def _chunked_components(found: list[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    count = 0
    for ids in found:
        if chunk and count + len(ids) > size:
            yield chunk
            chunk, count = [], 0
        chunk.append(ids)
        count += len(ids)
    if chunk:
        yield chunk


def _asset(doc_id: str, source: dict[str, Any]) -> _Asset | None:
    visual = source.get(schema.ROOT)
    if not isinstance(visual, dict) or not visual.get("content_hash"):
        return None
    fmt = visual.get("format")
    duration = visual.get("duration")
    return _Asset(
        id=doc_id,
        hash=visual.get("content_hash"),
        width=_int(visual.get("width")),
        height=_int(visual.get("height")),
        indexed_at=visual.get("indexed_at"),
        path=visual.get("path") if isinstance(visual.get("path"), str) else None,
        bytes=_int(visual.get("bytes")),
        media_type=visual.get("media_type") if isinstance(visual.get("media_type"), str) else None,
        phash=parse_hash(visual.get("phash")),
        format=fmt.lower() if isinstance(fmt, str) else None,
        duration=float(duration) if isinstance(duration, int | float) else None,
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


__all__ = [
    "RULES",
    "DuplicateGroup",
    "DuplicateReport",
    "Match",
    "Member",
    "NearRule",
    "default_threshold",
    "find_duplicates",
    "keep_reason",
    "keeper_order",
    "match_frames",
    "near_rule",
    "same_picture",
]
