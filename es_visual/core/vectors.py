"""Unit vectors: the one L2 normalizer of embedders, the stores, duplicates and people.

Cosine similarity is a dot product of unit vectors everywhere in es-visual, so every
vector is scaled the same way, in float32, before it is compared or stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Below this length a vector counts as zero: it stays zero instead of dividing by ~0.
MIN_NORM = 1e-12


def l2_normalize(x: Any) -> np.ndarray:
    """``x`` (one vector, or a matrix of row vectors) scaled to unit length along its
    last axis, as float32; a zero vector stays zero."""
    rows = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    unit: np.ndarray = rows / np.maximum(norms, MIN_NORM)
    return unit
