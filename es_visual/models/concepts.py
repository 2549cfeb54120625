"""Words -> the scene model's concepts: "a puppy" -> toy poodle 0.64, Maltese dog 0.60, ...

The query and every concept are embedded by the offline sentence model
(``models.sentence``); the concepts nearest the query, with their cosine
similarity as weight, are what a text search looks for in ``visual.labels``.

A concept is embedded from its WordNet lemmas and from its lemmas with their
definition, the two vectors averaged: lemmas alone match names ("a mug of tea" ->
coffee mug), the definition brings the kind of thing ("a horse" -> sorrel, which
WordNet defines as a horse). The 1000 concept vectors take tens of seconds to
compute on two cores, so they are cached on disk (``$ES_VISUAL_CACHE`` or
``~/.cache/es-visual``), keyed by the model files and the concept texts; an
unwritable cache only costs the recomputation.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from es_visual.core.vectors import l2_normalize
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


@dataclass(frozen=True)
class Concept:
    name: str
    weight: float  # cosine similarity of the query to the concept, in (0, 1]


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
        cache: Path | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.sentence = sentence
        self.matrix = self._concept_matrix(cache if cache is not None else cache_dir())
        self._lock = threading.Lock()

    def _texts(self) -> tuple[list[str], list[str]]:
        v = self.vocabulary
        names = list(v.lemmas)
        described = [
            f"{lemma}: {d}" if d else lemma
            for lemma, d in zip(v.lemmas, v.definitions, strict=True)
        ]
        return names, described

    def _key(self) -> str:
        digest = hashlib.sha256(RECIPE.encode())
        for text in self._texts()[1]:
            digest.update(text.encode("utf-8") + b"\0")
        for name in ("config.json", "tokenizer.json", "model.safetensors"):
            path = self.sentence.model_dir / name
            digest.update(f"{name}:{path.stat().st_size}".encode())
        return digest.hexdigest()[:20]

    def _concept_matrix(self, cache: Path) -> np.ndarray:
        path = cache / f"concepts-{self._key()}.npy"
        try:
            matrix = np.load(path, allow_pickle=False)
            if matrix.shape == (len(self.vocabulary), self.sentence.dims):
                return matrix.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass  # not there yet, or unreadable: compute it
        names, described = self._texts()
        log.info("embedding %d concepts for text search (cached in %s)", len(names), cache)
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
        with self._lock:
            query = self.sentence.embed([text])[0]
        return self.matrix @ query

    def match(
        self,
        text: str,
        *,
        top: int | None = None,
        spread: float | None = None,
        min_similarity: float | None = None,
    ) -> list[Concept]:
        """The concepts ``text`` is about, best first; empty when none is near enough.
        Unset arguments take the module's ``TOP``, ``SPREAD`` and ``MIN_SIMILARITY``."""
        top = TOP if top is None else top
        spread = SPREAD if spread is None else spread
        min_similarity = MIN_SIMILARITY if min_similarity is None else min_similarity
        if not text.strip():
            return []
        sims = self.similarities(text)
        order = np.argsort(-sims, kind="stable")[:top]
        best = float(sims[order[0]])
        floor = max(min_similarity, best - spread)
        names = self.vocabulary.names
        return [Concept(names[i], round(float(sims[i]), 4)) for i in order if sims[i] >= floor]


_lock = threading.Lock()


@functools.cache
def _imagenet_matcher() -> ConceptMatcher:
    return ConceptMatcher(imagenet_1k(), get_sentence_embedder())


def get_concept_matcher() -> ConceptMatcher:
    """The matcher for ImageNet-1k concepts, built once per process (raises
    ``ModelUnavailableError`` when the sentence model or timm's data is missing)."""
    with _lock:
        return _imagenet_matcher()
