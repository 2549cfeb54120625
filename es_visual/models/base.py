"""What an embedder is, as far as the rest of es-visual cares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class Embedder(Protocol):
    """Turns images (and, where it has a text tower, texts) into vectors.

    ``name`` and ``version`` are written next to every vector as
    ``visual.model = f"{name}@{version}"``; a query's vector must come from the
    same model as the index's. Outputs are float32, shape (n, dims), each row
    L2-normalized so that a dot product is the cosine similarity.

    Optional: ``prepare_image(image) -> Image``, the per-picture resize the model
    does anyway, idempotent and thread-safe. Ingest calls it in its reader threads
    (``ingest.runner.fit_for_model``), so resizing overlaps with inference.
    """

    name: str
    version: str
    dims: int
    supports_text: bool

    @property
    def tag(self) -> str: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Raises ``ModelUnavailableError`` where the model has no text tower."""
        ...


@runtime_checkable
class ImagePreparer(Protocol):
    """An embedder that does its per-picture resize on its own (``Embedder``'s optional
    ``prepare_image``): ingest asks for it by this type, never by the method's name."""

    def prepare_image(self, image: Image.Image) -> Image.Image: ...
