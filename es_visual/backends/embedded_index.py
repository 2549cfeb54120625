"""One open index of the embedded store: its SQLite store, its per-target vector
caches and a small cache of filter results.

Filter results (the rids of matching documents) are cached per (store
generation, filter node): IR nodes are frozen dataclasses, so a user's ACL or a
facet clicked twice costs one JSON scan, not one per query. Any write bumps the
generation, which retires every cached entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from es_visual.backends.embedded_sql import compile_filter
from es_visual.backends.embedded_store import IndexStore
from es_visual.backends.embedded_vectors import TargetVectors, VectorConfig
from es_visual.query.ir import TARGETS, MatchAll, Node

FILTER_CACHE_SIZE = 64


class IndexHandle:
    def __init__(self, name: str, path: Path, cache_dir: Path, config: VectorConfig) -> None:
        self.name = name
        self.store = IndexStore(path, create=True)
        self.targets = {t: TargetVectors(self.store, t, cache_dir / t, config) for t in TARGETS}
        self._filters: OrderedDict[tuple[int, Node], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

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
        where, params = compile_filter(node)
        rows = self.store.conn().execute(
            f"SELECT d.rid FROM docs AS d WHERE {where} ORDER BY d.rid", params
        )
        rids = np.fromiter((r[0] for r in rows), dtype=np.int64)
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
