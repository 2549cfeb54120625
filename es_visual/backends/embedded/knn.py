"""A search with a query vector on one embedded index (kNN).

The scoped filter (filter AND acl) is resolved to candidate
documents FIRST, then ranking runs only over those documents' vectors, so the
page holds the best matches among the documents the caller may see, however
few match. On a nested target, the filter's conditions on that target's own
children (``query.nested.child_filter``: ``regions.label:dog``) also pick which
children compete and which are reported. The exact-or-ANN rule lives in
``TargetVectors.use_exact``. Ranking is by (score desc, id asc); scores are cosine
similarities rounded to 1e-6 so that a cursor's score compares equal on the next
page whichever path ran.
Pages are ``size`` hits; the cursor is ``(score, id)`` of the last one, and
paging goes on past ``k`` (``k``/``num_candidates`` only widen the ANN search).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from es_visual.backends.embedded.aggregations import aggregate_values
from es_visual.backends.embedded.handle import IndexHandle
from es_visual.backends.embedded.sources import project
from es_visual.backends.embedded.sql import compile_child_filter, json_path
from es_visual.backends.embedded.store import IndexStore
from es_visual.backends.embedded.vectors import Selection, TargetVectors
from es_visual.core import schema
from es_visual.core.cursor import encode_cursor
from es_visual.core.documents import VisualSpec
from es_visual.core.errors import CursorError, ModelMismatchError, QueryError
from es_visual.core.ir import MatchAll, Scalar, SearchRequest, VectorQuery
from es_visual.core.nested import NESTED_PATHS, child_filter
from es_visual.core.results import Hit, Matched, SearchResult
from es_visual.core.segments import video_segments
from es_visual.core.vectors import l2_normalize

# Without min_similarity, a hit reports this many best children.
CHILDREN_WITHOUT_THRESHOLD = 5
# ANN widening rounds (each: 4x the vectors fetched, 2x the lists probed) before exact.
ANN_ROUNDS = 4
SCORE_DECIMALS = 6

Ranked = list[tuple[int, str, float]]  # (rid, id, score), best first


def check_query_vector(name: str, spec: VisualSpec | None, vq: VectorQuery) -> np.ndarray:
    """The normalized query vector, after checking it fits the index's model and dims."""
    if spec is None:
        raise QueryError(f"index {name!r} has no visual vectors yet (no ensure_index/ingest)")
    faces = vq.target == "faces"
    model, dims = (spec.face_model, spec.face_dims) if faces else (spec.model, spec.dims)
    if vq.target == schema.TEXT_TARGET:
        # The sentence model's space: its documents say which model (visual.text_model).
        model, dims = vq.model, schema.TEXT_DIMS
    if dims is None:
        raise QueryError(f"index {name!r} has no face vectors: its spec has no face model")
    if vq.model is not None and model is not None and vq.model != model:
        raise ModelMismatchError(
            f"the query vector was made by {vq.model}; index {name!r} holds {vq.target} "
            f"vectors of {model}: embed the query with {model}"
        )
    if len(vq.vector) != dims:
        raise ModelMismatchError(
            f"the query vector has {len(vq.vector)} dims; index {name!r} holds {dims}-dim "
            f"{vq.target} vectors ({model})"
        )
    q = np.asarray(vq.vector, dtype=np.float32)
    if not np.all(np.isfinite(q)) or not np.any(q):
        raise QueryError("the query vector must be finite and not all zeros")
    return l2_normalize(q)


def vector_search(h: IndexHandle, req: SearchRequest, spec: VisualSpec | None) -> SearchResult:
    started = time.perf_counter()
    vq = req.vector
    assert vq is not None
    q = check_query_vector(h.name, spec, vq)
    after = _vector_after(req.after)
    need = req.size + 1  # one more than the page tells whether another page exists
    candidates = h.candidates(req.scoped_filter)
    excluded = h.store.rids_of(vq.exclude_ids) if vq.exclude_ids else []
    allowed = _allowed_children(h, req, candidates)
    tv = h.targets[vq.target]
    with tv.lock:
        tv.sync()
        ranked = rank(tv, h.store, q, candidates, excluded, vq, need, after, allowed)
    page, more = ranked[: req.size], len(ranked) > req.size
    sources = h.store.sources([rid for rid, _, _ in page])
    page = [p for p in page if p[0] in sources]  # deleted meanwhile
    children = (
        _children(h.store, vq, q, [rid for rid, _, _ in page], sources, allowed)
        if vq.target in NESTED_PATHS
        else {}
    )
    hits = []
    for rid, doc_id, score in page:
        source = sources[rid][1]
        kids, segments = children.get(rid, ((), ()))
        matched = kids[0] if kids else Matched(kind="scene", score=score)
        hits.append(
            Hit(
                id=doc_id,
                score=score,
                source=project(source, req.fields),
                matched=matched,
                children=tuple(kids),
                segments=tuple(segments),
                sort=(score, doc_id),
            )
        )
    aggs = {
        f: aggregate_values((sources[rid][1] for rid, _, _ in page), f, req.aggregation_size)
        for f in req.aggregations
    }
    return SearchResult(
        hits=tuple(hits),
        took_ms=(time.perf_counter() - started) * 1000,
        total=None,
        next_cursor=encode_cursor(hits[-1].sort) if more and hits else None,  # type: ignore[arg-type]
        aggregations=aggs,
    )


# Below this many candidate documents, the child filter's SQL is restricted to them.
CHILD_FILTER_RESTRICT = 50_000


def _allowed_children(
    h: IndexHandle, req: SearchRequest, candidates: np.ndarray | None
) -> np.ndarray | None:
    """The vids of the children of the searched target that its child filter lets compete
    (sorted), or None when the filter says nothing about them."""
    vq = req.vector
    assert vq is not None
    node = child_filter(req.filter, vq.target)
    if isinstance(node, MatchAll):
        return None
    path = NESTED_PATHS[vq.target]
    where, params = compile_child_filter(node, path, "nc.value")
    sql = (
        "SELECT v.vid FROM vectors AS v JOIN docs AS d ON d.rid = v.doc_rid "
        "JOIN json_each(d.source, ?) AS nc ON nc.key = v.child "
        f"WHERE v.target = ? AND nc.type = 'object' AND {where}"
    )
    args: list[Any] = [json_path(path), vq.target, *params]
    if candidates is not None and len(candidates) <= CHILD_FILTER_RESTRICT:
        sql += " AND v.doc_rid IN (SELECT value FROM json_each(?))"
        args.append(json.dumps(candidates.tolist()))
    rows = h.store.conn().execute(sql, args).fetchall()
    return np.unique(np.fromiter((r[0] for r in rows), np.int64, len(rows)))


def _vector_after(after: Sequence[Scalar | None] | None) -> tuple[float, str] | None:
    if after is None:
        return None
    if (
        len(after) != 2
        or not isinstance(after[0], int | float)
        or isinstance(after[0], bool)
        or not isinstance(after[1], str)
    ):
        raise CursorError("this cursor is not from a vector search (expected [score, id])")
    return float(after[0]), after[1]


def rank(
    tv: TargetVectors,
    store: IndexStore,
    q: np.ndarray,
    candidates: np.ndarray | None,
    excluded: Sequence[int],
    vq: VectorQuery,
    need: int,
    after: tuple[float, str] | None,
    allowed: np.ndarray | None = None,
) -> Ranked:
    """The ``need`` best documents after ``after`` among ``candidates``, each scored by its
    best vector of the target (of the ``allowed`` vids only, when given). Caller holds
    ``tv.lock`` and has synced ``tv``."""
    n = tv.n
    if n == 0 or tv.n_alive == 0:
        return []
    sel = tv.select(candidates, list(excluded))
    if allowed is not None:
        sel = _only_vids(tv, sel, allowed)
    n_selected = sel.count
    if n_selected == 0:
        return []
    pick = _Picker(store, tv.doc_rids, vq.min_similarity, after, need)
    if tv.use_exact(n_selected):
        return pick(*tv.exact(q, sel))

    per_doc = max(1.0, tv.n_alive / max(tv.n_docs, 1))
    k_vec = math.ceil(max(vq.num_candidates, 2 * need) * per_doc)
    nprobe = tv.default_nprobe(n_selected / tv.n_alive)
    for _ in range(ANN_ROUNDS):
        pos, scores, exhausted = tv.ann(q, sel, k_vec, nprobe)
        picked = pick(pos, scores)
        if len(picked) >= need:
            return picked
        if exhausted and nprobe >= tv.nlist:
            return picked  # every selected vector was seen: this is the exact answer
        if (
            vq.min_similarity is not None
            and not exhausted
            and len(scores)
            and scores[-1] < vq.min_similarity
        ):
            return picked  # whatever lies further scores below the threshold
        k_vec, nprobe = min(k_vec * 4, n_selected), min(tv.nlist, nprobe * 2)
    return pick(*tv.exact(q, sel))


def _only_vids(tv: TargetVectors, sel: Selection, vids: np.ndarray) -> Selection:
    """``sel`` narrowed to the rows holding ``vids`` (the rows' vids ascend)."""
    n = tv.n
    mask = np.zeros(n, bool)
    if len(vids) and n:
        pos = np.searchsorted(tv.vids[:n], vids)
        pos = pos[pos < n]
        mask[pos[tv.vids[pos] == vids[: len(pos)]]] = True
    if sel.mask is not None:
        mask &= sel.mask
    elif tv.n_dead:
        mask &= tv.alive[:n]
    return Selection(mask, int(np.count_nonzero(mask)))


class _Picker:
    """Vector scores -> best-per-document ranking, cutoff, cursor and (score, id) order."""

    def __init__(self, store, doc_rids, min_similarity, after, need) -> None:  # type: ignore[no-untyped-def]
        self.store, self.doc_rids = store, doc_rids
        self.min_similarity, self.after, self.need = min_similarity, after, need

    def __call__(self, pos: np.ndarray, raw: np.ndarray) -> Ranked:
        if self.min_similarity is not None:
            keep = raw >= self.min_similarity
            pos, raw = pos[keep], raw[keep]
        if not len(pos):
            return []
        scores = np.round(raw.astype(np.float64), SCORE_DECIMALS)
        if self.after is None:
            pos, scores = top_docs(pos, scores, self.doc_rids, self.need)
        order = np.argsort(-scores, kind="stable")
        rids = self.doc_rids[pos[order]]
        _, first = np.unique(rids, return_index=True)
        first.sort()  # each document's best row, in descending score order
        docs, best = rids[first], scores[order][first]
        if self.after is not None:
            s_after, id_after = self.after
            keep = best < s_after
            equal = np.flatnonzero(best == s_after)
            if len(equal):
                ids = self.store.ids_of(docs[equal].tolist())
                keep[equal] = [ids.get(int(r), "") > id_after for r in docs[equal]]
            docs, best = docs[keep], best[keep]
        if len(docs) > self.need:
            # Keep every tie of the last place: ids decide among them.
            cut = int(np.count_nonzero(best >= best[self.need - 1]))
            docs, best = docs[:cut], best[:cut]
        ids = self.store.ids_of(docs.tolist())
        out = [
            (int(r), ids[int(r)], float(s))
            for r, s in zip(docs, best, strict=True)
            if int(r) in ids
        ]
        out.sort(key=lambda x: (-x[2], x[1]))
        return out[: self.need]


def top_docs(
    pos: np.ndarray, scores: np.ndarray, doc_rids: np.ndarray, need: int
) -> tuple[np.ndarray, np.ndarray]:
    """Only the rows that can matter for the ``need`` best documents, without sorting all.

    With t = the m-th best (rounded) score, every row scoring >= t is kept; if those rows
    cover at least ``need`` documents, a document left out has every row below t, so below
    ``need`` documents that are kept: the answer (ties on t included) is unchanged.
    """
    m = need
    while 4 * m < len(scores):
        t = np.partition(scores, len(scores) - m)[len(scores) - m]
        keep = scores >= t
        if np.unique(doc_rids[pos[keep]]).size >= need:
            return pos[keep], scores[keep]
        m *= 4
    return pos, scores


def _children(
    store: IndexStore,
    vq: VectorQuery,
    q: np.ndarray,
    rids: list[int],
    sources: dict[int, tuple[str, dict[str, Any]]],
    allowed: np.ndarray | None = None,
) -> dict[int, tuple[list[Matched], list]]:
    """Per document: its children scored (best first) and, in a video, the segments; only
    the ``allowed`` vids' children when given (the child filter)."""
    if not rids:
        return {}
    rows = store.child_rows(rids, vq.target)
    if allowed is not None and len(rows):
        rows = rows.subset(np.isin(rows.vid, allowed))
    if not len(rows):
        return {}
    scores = np.round((l2_normalize(rows.matrix) @ q).astype(np.float64), SCORE_DECIMALS)
    kind = vq.target[:-1]
    out: dict[int, tuple[list[Matched], list]] = {}
    for rid in rids:
        sel = np.flatnonzero(rows.doc_rid == rid)
        if not len(sel):
            continue
        visual = schema.visual_of(sources[rid][1])
        stored = visual.get(vq.target) or []
        ranked = sel[np.argsort(-scores[sel], kind="stable")]
        if vq.min_similarity is not None:
            chosen = [i for i in ranked if scores[i] >= vq.min_similarity] or list(ranked[:1])
        else:
            chosen = list(ranked[:CHILDREN_WITHOUT_THRESHOLD])
        kids = [_matched(kind, float(scores[i]), int(rows.child[i]), stored) for i in chosen]
        # Frames, and faces/regions seen in a video's frames, give it timeline segments.
        moments = [(float(rows.t[i]), float(scores[i])) for i in sel if not math.isnan(rows.t[i])]
        out[rid] = (kids, video_segments(moments, vq.min_similarity, visual))
    return out


def _matched(kind: str, score: float, index: int, stored: list[Any]) -> Matched:
    child = stored[index] if 0 <= index < len(stored) and isinstance(stored[index], dict) else {}
    bbox = child.get("bbox")
    t = child.get("t")
    label = child.get("label")
    return Matched(
        kind=kind,  # type: ignore[arg-type]
        score=score,
        index=index,
        label=label if isinstance(label, str) else None,
        bbox=tuple(float(v) for v in bbox) if isinstance(bbox, list) and len(bbox) == 4 else None,  # type: ignore[arg-type]
        t=float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None,
    )
