"""Shared data for the embedded store tests: clustered random vectors with metadata."""

from __future__ import annotations

import numpy as np

from es_visual.documents import DocUpdate

DIMS = 16
MODEL = "toy@1"


def clustered(rng: np.random.Generator, n: int, dims: int = DIMS, clusters: int = 20):
    centers = rng.normal(size=(clusters, dims))
    labels = rng.integers(0, clusters, n)
    return (centers[labels] + 0.35 * rng.normal(size=(n, dims))).astype(np.float32)


def make_docs(n: int, seed: int = 0, dims: int = DIMS) -> tuple[list[DocUpdate], np.ndarray]:
    rng = np.random.default_rng(seed)
    vecs = clustered(rng, n, dims)
    updates = []
    for i in range(n):
        doc = {
            "n": i,
            "rare": i % 100 == 0,  # 1%
            "bucket": f"b{i % 10}",  # 10% each
            "tags": ["even", "x"] if i % 2 == 0 else ["odd"],
            "visual": {"scene": vecs[i].tolist(), "media_type": "image"},
        }
        updates.append(DocUpdate(f"doc{i:05d}", doc))
    return updates, vecs


def brute_force(vecs: np.ndarray, ids: list[str], q: np.ndarray, k: int) -> list[tuple[str, float]]:
    m = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q)
    scores = np.round((m @ qn).astype(np.float64), 6)
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:k]
    return [(ids[i], float(scores[i])) for i in order]
