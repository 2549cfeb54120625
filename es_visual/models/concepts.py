"""Words -> the scene model's concepts: "a puppy" -> toy poodle 0.64, Maltese dog 0.60, ...

The query and every concept are embedded by the offline sentence model
(``models.sentence``); the concepts nearest the query, with their cosine
similarity as weight, are what a text search looks for in ``visual.labels``.

A concept is embedded from its WordNet lemmas and from its lemmas with their
definition, the two vectors averaged: lemmas alone match names ("a mug of tea" ->
coffee mug), the definition brings the kind of thing ("a horse" -> sorrel, which
WordNet defines as a horse). The kinds above the classes (``models.hierarchy``:
"dog", "fruit", "vehicle", "beverage") are matched too, by their words and by
their first name alone; a kind the query names gives every class under it the
kind's similarity (times ``KIND_FACTOR``), so "an animal" reaches a tabby and
"my dog" a Pekinese. The one-class nodes just above a class (``Hierarchy.broader``)
are the names people use for it ("swan" for the black swan, "cows" for the ox,
"airplane" for the airliner): a class is as near a query as its nearest such name,
times ``BROADER_FACTOR``. The 1000 concept vectors take tens of seconds to
compute on two cores, so they are cached on disk (``$ES_VISUAL_CACHE`` or
``~/.cache/es-visual``), keyed by the model files and the concept texts; an
unwritable cache only costs the recomputation.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from es_visual.core.vectors import l2_normalize
from es_visual.models.hierarchy import Hierarchy, imagenet_hierarchy
from es_visual.models.sentence import SentenceEmbedder, get_sentence_embedder
from es_visual.models.vocabulary import Vocabulary, imagenet_1k

log = logging.getLogger(__name__)

CACHE_ENV = "ES_VISUAL_CACHE"
RECIPE = "lemmas+definition/mean/v1"
# Concepts kept per query: the best TOP, and of those only the ones within SPREAD of the
# best and at least MIN_SIMILARITY (below that MiniLM pairs unrelated words).
TOP = 12
SPREAD = 0.25
MIN_SIMILARITY = 0.30
# A kind the query names ("a dog", "fruit") stands for every class under it, each at the
# kind's similarity times KIND_FACTOR (below 1: a class the query names itself comes first).
KIND_FACTOR = 0.9
# A class's broader name ("swan" of the black swan) counts this much of its similarity:
# the class's own words, when the query says them, still come first.
BROADER_FACTOR = 0.9
# ... and only where the query names it plainly: a broader name is an is-a that can be
# far from the picture ("participant" above the groom, "ball" above the bubble), so a
# loose match to it ("an astronaut" 0.37 to "participant") says nothing of the class.
BROADER_MIN_SIMILARITY = 0.5
# A kind also needs this similarity: loosely related kinds ("vehicle" for "a car on the
# road") would rank every member above what the words name.
KIND_MIN_SIMILARITY = 0.6
# How many kinds one query names at most: the one its words name best ("a car on the
# road" names "car"; the next, "vehicle", would rank every motorbike with the car).
KIND_TOP = 1
# A phrase of the query (``match(parts=...)``) names concepts from PART_MIN_SIMILARITY up
# (a word alone is matched more loosely than a sentence: "cards" is near "goldfinch"),
# at PART_FACTOR of their weight (see ``match``).
PART_FACTOR = 0.9
PART_MIN_SIMILARITY = 0.5
# The most concepts one query looks for (each is a clause of a cluster's query; OpenSearch
# allows 1024): "an animal" names 398.
MAX_CONCEPTS = 500


@dataclass(frozen=True)
class Concept:
    name: str
    weight: float  # cosine similarity of the query to the concept, in (0, 1]
    via: str = ""  # the kind the query named, when the weight is the kind's ("dog")


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "es-visual"


class ConceptMatcher:
    """Matches free text to the names of a classifier's vocabulary."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        sentence: SentenceEmbedder,
        *,
        hierarchy: Hierarchy | None = None,
        aliases: Mapping[str, Sequence[str]] | None = None,
        scale: Mapping[str, float] | None = None,
        literal: Mapping[str, Sequence[str]] | None = None,
        cache: Path | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.sentence = sentence
        self.hierarchy = hierarchy
        cache = cache if cache is not None else cache_dir()
        self.matrix = self._matrix(cache, "concepts", vocabulary.lemmas, vocabulary.definitions)
        # Other words for a concept, each its own vector (one blended vector of many words
        # is near none of them): a concept is as near a query as its nearest words.
        pairs = [(vocabulary.index(n), a) for n, words in (aliases or {}).items() for a in words]
        self.alias_of = np.array([i for i, _ in pairs], dtype=np.int64)
        self.aliases = np.zeros((0, sentence.dims), dtype=np.float32)
        if pairs:
            words = tuple(a for _, a in pairs)
            self.aliases = self._matrix(cache, "aliases", words, ("",) * len(words))
        self.kinds = np.zeros((0, sentence.dims), dtype=np.float32)
        self.kind_names = self.kinds
        broader = hierarchy.broader if hierarchy is not None else ()
        self.broader_of = np.array([i for i, _, _ in broader], dtype=np.int64)
        self.broader = np.zeros((0, sentence.dims), dtype=np.float32)
        if broader:
            self.broader = self._matrix(
                cache, "broader", tuple(b[1] for b in broader), tuple(b[2] for b in broader)
            )
        if hierarchy is not None and len(hierarchy):
            self.kinds = self._matrix(cache, "kinds", hierarchy.lemmas, hierarchy.definitions)
            # A kind's own name alone too: its rarer lemmas ("animate being, brute, fauna")
            # and a long definition blur the plain word people type ("an animal").
            first = tuple(lemmas.split(",")[0].strip() for lemmas in hierarchy.lemmas)
            self.kind_names = self._matrix(cache, "kind-names", first, ("",) * len(first))
        # What a concept counts for once matched, when the query is mostly about other
        # things (1 unless given; see ``match``), and the kinds each such concept is under.
        self.scale = {vocabulary.index(n): float(f) for n, f in (scale or {}).items()}
        self._kinds_of: dict[int, set[str]] = {i: set() for i in self.scale}
        for lemmas, members in zip(
            hierarchy.lemmas if hierarchy else (),
            hierarchy.members if hierarchy else (),
            strict=True,
        ):
            for i in self.scale.keys() & set(members):
                self._kinds_of[i].add(lemmas.split(",")[0].strip())
        # Concepts matched only where the text says one of their words (lower case).
        self.literal = {
            vocabulary.index(n): tuple(w.lower() for w in ws) for n, ws in (literal or {}).items()
        }
        self._lock = threading.Lock()

    @staticmethod
    def _texts(
        lemmas: tuple[str, ...], definitions: tuple[str, ...]
    ) -> tuple[list[str], list[str]]:
        names = list(lemmas)
        described = [
            f"{lemma}: {d}" if d else lemma for lemma, d in zip(lemmas, definitions, strict=True)
        ]
        return names, described

    def _key(self, described: list[str]) -> str:
        digest = hashlib.sha256(RECIPE.encode())
        for text in described:
            digest.update(text.encode("utf-8") + b"\0")
        for name in ("config.json", "tokenizer.json", "model.safetensors"):
            path = self.sentence.model_dir / name
            digest.update(f"{name}:{path.stat().st_size}".encode())
        return digest.hexdigest()[:20]

    def _matrix(
        self, cache: Path, what: str, lemmas: tuple[str, ...], definitions: tuple[str, ...]
    ) -> np.ndarray:
        names, described = self._texts(lemmas, definitions)
        path = cache / f"{what}-{self._key(described)}.npy"
        try:
            matrix = np.load(path, allow_pickle=False)
            if matrix.shape == (len(names), self.sentence.dims):
                return matrix.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass  # not there yet, or unreadable: compute it
        log.info("embedding %d %s for text search (cached in %s)", len(names), what, cache)
        both = self.sentence.embed(names) + self.sentence.embed(described)
        matrix = l2_normalize(both)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=cache, suffix=".npy", delete=False) as fh:
                np.save(fh, matrix)
            os.replace(fh.name, path)  # atomic: a concurrent reader never sees half a file
        except OSError as exc:
            log.warning("cannot cache concept vectors in %s: %s", cache, exc)
        return matrix

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to every concept, in vocabulary order."""
        return self._similarities(self._embed(text))

    def _similarities(self, query: np.ndarray) -> np.ndarray:
        sims: np.ndarray = self.matrix @ query
        if len(self.aliases):
            np.maximum.at(sims, self.alias_of, self.aliases @ query)
        if len(self.broader):
            named = self.broader @ query
            named = np.where(named >= BROADER_MIN_SIMILARITY, BROADER_FACTOR * named, -1.0)
            np.maximum.at(sims, self.broader_of, named)
        return sims

    def _embed(self, text: str) -> np.ndarray:
        with self._lock:
            vector: np.ndarray = self.sentence.embed([text])[0]
        return vector

    def match(
        self,
        text: str,
        *,
        parts: Sequence[str] = (),
        top: int | None = None,
        spread: float | None = None,
        min_similarity: float | None = None,
    ) -> list[Concept]:
        """The concepts ``text`` is about, best first; empty when none is near enough.

        ``parts`` are phrases of the text ("people", "playing cards" of "people playing
        cards"), each matched on its own, its concepts at ``PART_FACTOR`` of their
        similarity: a sentence's vector leans to one of its things, and the others would
        be lost. A concept named by several keeps its best weight. Unset arguments take
        the module's ``TOP``, ``SPREAD`` and ``MIN_SIMILARITY``."""
        top = TOP if top is None else top
        spread = SPREAD if spread is None else spread
        min_similarity = MIN_SIMILARITY if min_similarity is None else min_similarity
        if not text.strip():
            return []
        phrases = [text, *(p for p in dict.fromkeys(parts) if p.strip() and p != text)]
        with self._lock:
            vectors = self.sentence.embed_cached(phrases)
        # class -> (weight, kind or ""): the whole text's, then each part's where it counts
        # more, as the geometric mean of how near the part and the whole text are to the
        # class, times PART_FACTOR ("people" of "people playing cards" 0.70 and 0.26 ->
        # 0.38; the dogs "pet" names in "my pet kitten", near the whole text at 0.25-0.39,
        # stay below the cats).
        # Concepts that need a word the text does not say are out before any ranking (they
        # would raise the best similarity, and with it the floor, for nothing).
        said = " " + " ".join(_SAID.findall(text.lower())) + " "
        unsaid = [
            c for c, needed in self.literal.items() if not any(f" {w} " in said for w in needed)
        ]
        weights = self._weights(vectors[0], top, spread, min_similarity, unsaid)
        whole = self._similarities(vectors[0])
        for vector in vectors[1:]:
            named = self._weights(vector, top, spread, PART_MIN_SIMILARITY, unsaid)
            for concept, (w, via) in named.items():
                part = PART_FACTOR * float(np.sqrt(w * max(float(whole[concept]), 0.0)))
                if part >= min_similarity and part > weights.get(concept, (0.0, ""))[0]:
                    weights[concept] = (part, via)
        self._rescale(weights)
        names = self.vocabulary.names
        ranked = sorted(weights.items(), key=lambda p: (-p[1][0], p[0]))[:MAX_CONCEPTS]
        return [Concept(names[i], round(w, 4), via) for i, (w, via) in ranked]

    def _rescale(self, weights: dict[int, tuple[float, str]]) -> None:
        """Scaled concepts (``scale``) at their factor, unless the query is mostly about
        them: "someone at a computer" ranks by the computer and the faces refine it,
        "a group of people" by the faces. Mostly about a concept: no other concept
        weighs more, leaving out those reached through the concept's own kinds ("someone"
        names the kind person, and with it the groom as much as the faces)."""
        for concept, factor in self.scale.items():
            if concept not in weights:
                continue
            own = self._kinds_of[concept]
            rival = max(
                (w for c, (w, via) in weights.items() if c not in self.scale and via not in own),
                default=0.0,
            )
            weight, via = weights[concept]
            if rival > weight:
                weights[concept] = (weight * factor, via)

    def _weights(
        self,
        query: np.ndarray,
        top: int,
        spread: float,
        min_similarity: float,
        unsaid: Sequence[int] = (),
    ) -> dict[int, tuple[float, str]]:
        """The concepts one phrase's vector names: class -> (weight, the kind or "");
        never one of ``unsaid``."""
        sims = self._similarities(query)
        sims[list(unsaid)] = -1.0
        kinds = np.maximum(self.kinds @ query, self.kind_names @ query)
        best = max(float(sims.max()), float(kinds.max()) if len(kinds) else -1.0)
        floor = max(min_similarity, best - spread)
        weights: dict[int, tuple[float, str]] = {}
        for i in np.argsort(-sims, kind="stable")[:top]:
            if sims[i] >= floor:
                weights[int(i)] = (float(sims[i]), "")
        # The kinds the words name, each standing for every class under it: kept apart
        # from the classes' TOP so that many near kinds ("dog", "toy dog", "hunting dog")
        # never crowd out the classes.
        kind_floor = max(floor, KIND_MIN_SIMILARITY)
        for j in np.argsort(-kinds, kind="stable")[:KIND_TOP]:
            if kinds[j] < kind_floor or float(kinds[j]) * KIND_FACTOR < float(sims.max()):
                break
            assert self.hierarchy is not None
            weight = float(kinds[j]) * KIND_FACTOR
            kind = self.hierarchy.lemmas[j].split(",")[0].strip()
            for member in self.hierarchy.members[j]:
                if weight > weights.get(member, (0.0, ""))[0]:
                    weights[member] = (weight, kind)
        return weights


_lock = threading.Lock()
_SAID = re.compile(r"[\w&]+")


@functools.cache
def _imagenet_matcher() -> ConceptMatcher:
    from es_visual.models import people_concepts as people
    from es_visual.models import tone_concepts as tone

    # The face and tone concepts come after the 1000 classes: the kinds' member indexes
    # still hold.
    vocabulary = imagenet_1k().plus(people.people_vocabulary()).plus(tone.tone_vocabulary())
    extra: dict[str, list[int]] = {}
    for name, wnid in people.KIND_OF.items():
        extra.setdefault(wnid, []).append(vocabulary.index(name))
    hierarchy = imagenet_hierarchy().with_members(extra)
    return ConceptMatcher(
        vocabulary,
        get_sentence_embedder(),
        hierarchy=hierarchy,
        aliases={**people.ALIASES, **tone.ALIASES},
        scale={
            **dict.fromkeys(people.people_vocabulary().names, people.WEIGHT),
            **dict.fromkeys(tone.NAMES, tone.WEIGHT),
        },
        literal=tone.WORDS,
    )


def get_concept_matcher() -> ConceptMatcher:
    """The matcher for the labels ingest writes (the ImageNet-1k classes and the face
    concepts of ``models.people_concepts``), built once per process (raises
    ``ModelUnavailableError`` when the sentence model or timm's data is missing)."""
    with _lock:
        return _imagenet_matcher()
