"""One open index of the embedded store: its SQLite store, its per-target vector
caches and a small cache of filter results.

A new filter is answered from the inverted terms (``terms``): a
``Term``/``Terms``/numeric ``Range`` leaf is an index read, boolean structure is
numpy set algebra, other leaves scan the JSON (narrowed by the rest of an
``And``). Results (the rids of matching documents) are also cached per (store
generation, filter node): IR nodes are frozen dataclasses, so a user's ACL or a
facet clicked twice costs nothing the second time. Any write bumps the
generation, which retires every cached entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from es_visual.backends.embedded.store import IndexStore
from es_visual.backends.embedded.terms import TermsEvaluator, ensure_terms, select_rids
from es_visual.backends.embedded.vectors import TargetVectors, VectorConfig
from es_visual.core.ir import MatchAll, Node
from es_visual.core.schema import KNN_TARGETS

FILTER_CACHE_SIZE = 64


class IndexHandle:
    def __init__(self, name: str, path: Path, cache_dir: Path, config: VectorConfig) -> None:
        self.name = name
        self.store = IndexStore(path, create=True)
        # Every kNN target: the picture's four and the text vector (query.meaning).
        self.targets = {t: TargetVectors(self.store, t, cache_dir / t, config) for t in KNN_TARGETS}
        self._filters: OrderedDict[tuple[int, Node], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._all_rids: tuple[int, np.ndarray] | None = None
        ensure_terms(self.store.conn())

    def all_rids(self, generation: int) -> np.ndarray:
        """Every document's rid, sorted (cached per generation: ``Not`` needs it)."""
        cached = self._all_rids
        if cached is not None and cached[0] == generation:
            return cached[1]
        rids = select_rids(self.store.conn(), "SELECT rid FROM docs", [], ordered=False)
        self._all_rids = (generation, rids)
        return rids

    def candidates(self, node: Node) -> np.ndarray | None:
        """Sorted rids of the documents ``node`` matches; None for "every document"."""
        if isinstance(node, MatchAll):
            return None
        key = (self.store.generation(), node)
        with self._lock:
            hit = self._filters.get(key)
            if hit is not None:
                self._filters.move_to_end(key)
                return hit
        generation = key[0]
        rids = TermsEvaluator(self.store.conn(), lambda: self.all_rids(generation)).evaluate(node)
        with self._lock:
            self._filters[key] = rids
            while len(self._filters) > FILTER_CACHE_SIZE:
                self._filters.popitem(last=False)
        return rids

    def save(self) -> None:
        for target in self.targets.values():
            with target.lock:
                target.sync()
                target.save()

    def close(self) -> None:
        self.store.close()
