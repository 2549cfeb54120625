"""Ranked lists that are not vector searches, and their fusion: the parts of a text search.

Two rankings join the vector searches of ``SearchRequest``:

* ``LabelRank``: documents by their concept labels, ``sum(weight x probability)``
  over the query's weighted concepts (``labels.concept_score``).
* ``TextRank``: BM25 over the user's own text fields (caption, title, ...), any
  word of the query (OR), each document scored by its best field.

A backend that ranks them itself implements ``RankSearch.rank_search`` (the
embedded store and the clusters do: ``backends/cluster/rank.py``). For any other
backend ``run_rank`` builds them from the plain ``SearchRequest`` every backend
runs: BM25 is a scoring metadata search over one ``MultiMatch`` per word (OR of
words, as ``bool.should``); labels are a ``Terms`` filter on ``visual.labels``
that fetches the candidates' label scores, ranked here with the same formula.
That fallback ranks at most ``LABEL_CANDIDATES`` documents per concept search.

Fusion is reciprocal rank fusion (Cormack et al. 2009, and Elasticsearch's
``rrf`` retriever): a document's fused score is ``sum(1 / (RRF_K + rank))`` over
the lists it is in, ranks from 1; ties are broken by id, so every backend gives
the same order for the same lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from es_visual.core import ir
from es_visual.core import labels as schema
from es_visual.core.ranking import LabelRank, RankRequest, RankSearch, TextRank
from es_visual.core.results import Hit, SearchResult
from es_visual.core.schema import visual_of

RRF_K = 60
LABEL_CANDIDATES = 1000
# Words that carry nothing on their own in a query ("a mug of tea" -> mug, tea). A
# cluster's standard analyzer keeps them, which would rank every caption with "a".
_STOPWORDS = """a an and are as at be but by for from has have in into is it its of on or over
showing shows that the their there these this those to under up was were with"""
STOPWORDS = frozenset(_STOPWORDS.split())
_WORD = re.compile(r"\w+")


def query_words(text: str) -> tuple[str, ...]:
    """The words of a query that a full-text search should look for (lower case, no
    stopwords, each once); all of them when every word is a stopword."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOPWORDS] or words
    return tuple(dict.fromkeys(kept))


# Words for the picture itself, not what it shows ("a photo of my dog", "a black and white
# picture"): alone they name a portrait or a picture frame. Not after a word of taking
# one ("man taking pictures", "posing for a photo"): there they are the thing done.
_MEDIUM = re.compile(r"(?:photo(?:graph)?|picture|pic|image|snapshot)s?", re.IGNORECASE)
_TAKING = frozenset(
    {"take", "takes", "taking", "took", "snap", "snapping", "pose", "posing", "for", "print"}
)
_ARTICLES = frozenset({"a", "an", "the"})


def concept_text(text: str) -> str:
    """The words of a query about what a picture shows: without the words for the picture
    itself ("a photo of my dog" -> "my dog"); the text as it is when nothing else is left."""
    words = text.split()
    kept: list[str] = []
    skip_of = False
    for word in words:
        bare = word.strip(".,;:!?\"'").lower()
        if skip_of and bare == "of":
            skip_of = False
            continue
        skip_of = False
        before = [w.strip(".,;:!?\"'").lower() for w in kept if w.lower() not in _ARTICLES]
        if _MEDIUM.fullmatch(bare) and not (before and before[-1] in _TAKING):
            while kept and kept[-1].lower() in _ARTICLES:
                kept.pop()
            skip_of = True
            continue
        kept.append(word)
    said = {w.lower() for w in _WORD.findall(" ".join(kept))}
    return " ".join(kept) if said - STOPWORDS else text


def query_phrases(text: str) -> tuple[str, ...]:
    """The phrases a query names things by: each run of words between stopwords, its
    words and its pairs of neighbours ("people playing cards" -> "people playing cards",
    "people", "playing", "cards", "people playing", "playing cards"); not the whole
    query when it is one run. Concepts are matched to each (``ConceptMatcher.match``)."""
    runs: list[list[str]] = [[]]
    for word in _WORD.findall(text):
        if word.lower() in STOPWORDS:
            runs.append([])
        else:
            runs[-1].append(word)
    phrases: dict[str, None] = {}
    for run in runs:
        if len(run) > 2:
            phrases[" ".join(run)] = None
        for n in (1, 2):
            for i in range(len(run) - n + 1):
                phrases[" ".join(run[i : i + n])] = None
    phrases.pop(" ".join(_WORD.findall(text)), None)
    return tuple(phrases)


def run_rank(backend: object, request: RankRequest) -> SearchResult:
    """``request`` on ``backend``: natively when it can, else through ``search``."""
    if isinstance(backend, RankSearch):
        return backend.rank_search(request)
    if isinstance(request.rank, TextRank):
        return _text_via_search(backend, request, request.rank)
    return _labels_via_search(backend, request, request.rank)


def _text_via_search(backend: object, request: RankRequest, rank: TextRank) -> SearchResult:
    if not rank.fields or not rank.words:
        return SearchResult(hits=(), took_ms=0.0)
    words = ir.or_(*(ir.MultiMatch(rank.fields, w) for w in rank.words))
    sub = ir.SearchRequest(
        index=request.index,
        filter=ir.and_(words, request.filter),
        acl=request.acl,
        size=request.size,
        sort=(ir.Sort("_score", "desc"),),
        fields=request.fields,
    )
    return backend.search(sub)  # type: ignore[attr-defined,no-any-return]


def _labels_via_search(backend: object, request: RankRequest, rank: LabelRank) -> SearchResult:
    weights = dict(rank.concepts)
    if not weights:
        return SearchResult(hits=(), took_ms=0.0)
    fields = request.fields
    if fields is not None:
        fields = tuple(dict.fromkeys((*fields, schema.LABELS_FIELD, schema.SCORES_FIELD)))
    sub = ir.SearchRequest(
        index=request.index,
        filter=ir.and_(ir.Terms(schema.LABELS_FIELD, tuple(weights)), request.filter),
        acl=request.acl,
        size=max(request.size, LABEL_CANDIDATES),
        fields=fields,
    )
    result: SearchResult = backend.search(sub)  # type: ignore[attr-defined]
    return rank_by_labels(result.hits, weights, request.size, took_ms=result.took_ms)


def rank_by_labels(
    hits: Sequence[Hit], weights: Mapping[str, float], size: int, *, took_ms: float = 0.0
) -> SearchResult:
    """Hits ordered by their concept score (best first, ties by id), those above 0."""
    scored = []
    for hit in hits:
        pairs = schema.read_pairs(visual_of(hit.source))
        score = round(schema.concept_score(pairs, weights), 6)
        if score > 0:
            scored.append(replace(hit, score=score, sort=None))
    scored.sort(key=lambda h: (-(h.score or 0.0), h.id))
    return SearchResult(hits=tuple(scored[:size]), took_ms=took_ms)


@dataclass(frozen=True)
class Fused:
    hit: Hit  # the hit as the first list that had it returned it
    score: float
    ranks: dict[str, tuple[int, Hit]]  # signal -> (1-based rank, that list's hit)


def rrf(
    lists: Mapping[str, Sequence[Hit]],
    size: int,
    *,
    k: int = RRF_K,
    weight: Callable[[str, Hit], float] | None = None,
) -> list[Fused]:
    """Reciprocal rank fusion of named ranked lists; the best ``size``. ``weight(list name,
    hit)`` scales a hit's 1 / (k + rank) (1 when not given): a list whose scores say how
    sure it is (``query.meaning``) counts its weak hits for less."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    ranks: dict[str, dict[str, tuple[int, Hit]]] = {}
    for name, hits in lists.items():
        seen: set[str] = set()
        rank = 0
        for hit in hits:
            if hit.id in seen:
                continue
            seen.add(hit.id)
            rank += 1
            share = 1.0 if weight is None else weight(name, hit)
            scores[hit.id] = scores.get(hit.id, 0.0) + share / (k + rank)
            first.setdefault(hit.id, hit)
            ranks.setdefault(hit.id, {})[name] = (rank, hit)
    order = sorted(scores, key=lambda i: (-round(scores[i], 12), i))[:size]
    return [Fused(first[i], round(scores[i], 8), ranks[i]) for i in order]


# The request types live in core (backends implement them); callers of the fusion get
# them here too.
__all__ = [
    "LABEL_CANDIDATES",
    "RRF_K",
    "STOPWORDS",
    "Fused",
    "LabelRank",
    "RankRequest",
    "RankSearch",
    "TextRank",
    "concept_text",
    "query_phrases",
    "query_words",
    "rank_by_labels",
    "rrf",
    "run_rank",
]
