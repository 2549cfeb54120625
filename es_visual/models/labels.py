"""Concept labels from scene vectors: the scene model's own classifier, read off stored vectors.

MobileNetV2's ImageNet head is one linear layer over the pooled features the
scene vector is made of. The vector is stored L2-normalized, so its length is
lost; the head is applied to ``vector * FEATURE_SCALE``, a fixed length (the median
pooled-feature norm over scikit-image's photos, 26.4). The ranking of classes is
what it would be at any length but for the bias, and their probabilities are
close to the unnormalized ones (measured on those photos: the same top-4 classes
on 23 of 23, probabilities within a few points where the model is sure). Being a
function of the stored vector alone is the point: ingest and a later backfill
from vectors that are already in the index give the very same labels, without
decoding a picture again.

``labeler_for(tag)`` picks the head for an index's model tag; a model without a
classification head (CLIP) has none, and its documents carry no labels.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from es_visual.core.errors import ModelUnavailableError
from es_visual.core.vectors import l2_normalize
from es_visual.models.vocabulary import Vocabulary, imagenet_1k

FEATURE_SCALE = 26.4
MOBILENET_TAG = "mobilenet-v2@imagenet1k-v1"

Labels = list[tuple[str, float]]  # (name, probability), best first


class Labeler(Protocol):
    """Class probabilities for scene vectors of one model."""

    model: str  # the tag of the scene model whose vectors it reads
    vocabulary: Vocabulary

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, classes) float32 rows summing to 1."""
        ...


class LinearHead:
    """softmax(scale * v @ W.T + b): a classification layer over unit scene vectors."""

    def __init__(
        self, model: str, weight: np.ndarray, bias: np.ndarray, vocabulary: Vocabulary, scale: float
    ) -> None:
        if weight.shape[0] != len(vocabulary) or bias.shape != (len(vocabulary),):
            raise ModelUnavailableError(
                f"a {weight.shape[0]}-class head cannot name {len(vocabulary)} classes"
            )
        self.model = model
        self.vocabulary = vocabulary
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.scale = float(scale)
        self.dims = int(weight.shape[1])

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dims)
        logits = l2_normalize(v) @ self.weight.T * self.scale + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def top_labels(
    labeler: Labeler, vectors: np.ndarray | Sequence[Sequence[float]], *, k: int, min_score: float
) -> list[Labels]:
    """For each vector, its ``k`` most likely classes at or above ``min_score``, rounded to
    three decimals (scores are compared and shown, never computed on further)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        return []
    probs = labeler.probabilities(matrix)
    names = labeler.vocabulary.names
    out: list[Labels] = []
    for row in probs:
        best = np.argsort(-row, kind="stable")[:k]
        out.append([(names[i], round(float(row[i]), 3)) for i in best if row[i] >= min_score])
    return out


def _mobilenet_head() -> LinearHead:
    import torch

    from es_visual.models.mobilenet import find_weights

    path = find_weights()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        weight, bias = state["classifier.1.weight"], state["classifier.1.bias"]
    except Exception as exc:
        raise ModelUnavailableError(f"cannot read the ImageNet head from {path}: {exc}") from exc
    return LinearHead(
        MOBILENET_TAG, weight.float().numpy(), bias.float().numpy(), imagenet_1k(), FEATURE_SCALE
    )


_HEADS = {MOBILENET_TAG: _mobilenet_head}
_lock = threading.Lock()


def has_labeler(model: str | None) -> bool:
    """Whether vectors of ``model`` can be labelled (without loading anything)."""
    return model in _HEADS


def labeler_for(model: str | None) -> Labeler | None:
    """The labeler for vectors tagged ``model``, loaded once; None for a model without a
    classification head. Raises ``ModelUnavailableError`` when its files are missing."""
    if model not in _HEADS:
        return None
    with _lock:
        return _load(model)


@functools.cache
def _load(model: str) -> Labeler:
    return _HEADS[model]()
