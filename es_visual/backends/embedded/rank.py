"""The embedded store's own rankings for a text search: concept labels and BM25.

Labels: the documents that carry any of the query's concepts come from the terms
index (``visual.labels`` is a keyword list), ANDed with the caller's filter and
ACL; each is scored ``sum(weight x probability)`` (``labels.concept_score``, the
formula every backend uses), best first, ties by id.

BM25 (Lucene's: k1 = 1.2, b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
per field), tokens as the store's ``Match`` reads them (``\\w+``, lower case).
Each query word counts once, in the field where it scores best, and the words'
scores add up: what the clusters compute for one ``multi_match`` per word in a
``bool.should``. Statistics are over every document of the index (as a shard's
are), built on the first text search and kept until the next write.
"""

from __future__ import annotations

import json
import math
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from es_visual.backends.embedded.handle import IndexHandle
from es_visual.backends.embedded.sources import project, values_at
from es_visual.backends.embedded.sql import tokenize
from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.ranking import LabelRank, RankRequest, TextRank
from es_visual.core.results import Hit, SearchResult

K1 = 1.2
B = 0.75
SCORE_DECIMALS = 6


def rank_search(h: IndexHandle, request: RankRequest) -> SearchResult:
    started = time.perf_counter()
    if isinstance(request.rank, LabelRank):
        ranked = _rank_labels(h, request, request.rank)
    else:
        ranked = _rank_text(h, request, request.rank)
    page = ranked[: max(0, request.size)]
    sources = h.store.sources([rid for rid, _, _ in page])
    hits = tuple(
        Hit(id=doc_id, score=score, source=project(sources[rid][1], request.fields))
        for rid, doc_id, score in page
        if rid in sources
    )
    return SearchResult(hits=hits, took_ms=(time.perf_counter() - started) * 1000)


Ranked = list[tuple[int, str, float]]  # (rid, id, score), best first


def _order(scored: dict[int, float], ids: dict[int, str]) -> Ranked:
    ranked = [(rid, ids[rid], round(s, SCORE_DECIMALS)) for rid, s in scored.items() if s > 0]
    ranked.sort(key=lambda r: (-r[2], r[1]))
    return ranked


def _rank_labels(h: IndexHandle, request: RankRequest, rank: LabelRank) -> Ranked:
    weights = dict(rank.concepts)
    if not weights:
        return []
    node = ir.and_(ir.Terms(schema.LABELS_FIELD, tuple(weights)), request.scoped_filter)
    rids = h.candidates(node)
    if rids is not None and len(rids) == 0:
        return []
    rows = h.store.conn().execute(
        "SELECT rid, id, json_extract(source, '$.visual') FROM docs "
        "WHERE rid IN (SELECT value FROM json_each(?))",
        (json.dumps([int(r) for r in rids] if rids is not None else []),),
    )
    scored: dict[int, float] = {}
    ids: dict[int, str] = {}
    for rid, doc_id, visual in rows:
        pairs = schema.read_pairs(json.loads(visual) if visual else None)
        scored[rid] = schema.concept_score(pairs, weights)
        ids[rid] = doc_id
    return _order(scored, ids)


@dataclass
class _FieldStats:
    docs: int = 0
    total_length: int = 0

    @property
    def average(self) -> float:
        return self.total_length / self.docs if self.docs else 0.0


class _TextStats:
    """Per-field token statistics of one generation of an index."""

    def __init__(self, h: IndexHandle, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self.stats = {f: _FieldStats() for f in self.fields}
        self.lengths: dict[str, dict[int, int]] = {f: {} for f in self.fields}
        # field -> token -> {rid: term frequency}
        self.postings: dict[str, dict[str, dict[int, int]]] = {
            f: defaultdict(dict) for f in self.fields
        }
        self.ids: dict[int, str] = {}
        paths = [f.split(".") for f in self.fields]
        for rid, doc_id, raw in h.store.conn().execute("SELECT rid, id, source FROM docs"):
            source = json.loads(raw)
            for field, parts in zip(self.fields, paths, strict=True):
                tokens = [t for v in values_at(source, parts) for t in tokenize(str(v))]
                if not tokens:
                    continue
                self.ids[rid] = doc_id
                stats = self.stats[field]
                stats.docs += 1
                stats.total_length += len(tokens)
                self.lengths[field][rid] = len(tokens)
                postings = self.postings[field]
                for token in tokens:
                    postings[token][rid] = postings[token].get(rid, 0) + 1

    def scores(self, words: Sequence[str]) -> dict[int, float]:
        total: dict[int, float] = defaultdict(float)
        for word in dict.fromkeys(words):
            best: dict[int, float] = {}
            for field in self.fields:
                posting = self.postings[field].get(word)
                stats = self.stats[field]
                if not posting or not stats.docs:
                    continue
                df = len(posting)
                idf = math.log(1.0 + (stats.docs - df + 0.5) / (df + 0.5))
                lengths = self.lengths[field]
                for rid, tf in posting.items():
                    norm = 1.0 - B + B * lengths[rid] / stats.average
                    score = idf * tf / (tf + K1 * norm)
                    if score > best.get(rid, 0.0):
                        best[rid] = score
            for rid, score in best.items():
                total[rid] += score
        return total


_cache: weakref.WeakKeyDictionary[IndexHandle, tuple[tuple[int, tuple[str, ...]], _TextStats]]
_cache = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _text_stats(h: IndexHandle, fields: tuple[str, ...]) -> _TextStats:
    key = (h.store.generation(), fields)
    with _cache_lock:
        cached = _cache.get(h)
        if cached is not None and cached[0] == key:
            return cached[1]
    stats = _TextStats(h, fields)
    with _cache_lock:
        _cache[h] = (key, stats)
    return stats


def _rank_text(h: IndexHandle, request: RankRequest, rank: TextRank) -> Ranked:
    if not rank.fields or not rank.words:
        return []
    stats = _text_stats(h, tuple(rank.fields))
    scored = stats.scores([w.lower() for w in rank.words])
    if not scored:
        return []
    allowed = h.candidates(request.scoped_filter)
    if allowed is not None:
        keep = set(allowed.tolist())
        scored = {rid: s for rid, s in scored.items() if rid in keep}
    return _order(scored, stats.ids)
