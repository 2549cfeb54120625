"""Ingest finds an embedder's own resize by its type (ImagePreparer), not by name."""

from __future__ import annotations

from PIL import Image

from es_visual.ingest.runner import fit_for_model
from es_visual.models.base import ImagePreparer


class _NoResize:
    """An embedder without prepare_image: ingest shrinks to max_side itself."""

    name, version, dims, supports_text = "plain", "1", 4, False


def test_the_models_own_resize_is_used_where_it_has_one(mobilenet) -> None:
    big = Image.new("RGB", (1000, 600), (200, 30, 30))
    assert isinstance(mobilenet, ImagePreparer)
    fitted = fit_for_model(mobilenet, big, 4000)
    assert fitted.size == mobilenet.prepare_image(big).size == (mobilenet.image_size,) * 2
    assert not isinstance(_NoResize(), ImagePreparer)
    shrunk = fit_for_model(_NoResize(), big, 500)  # type: ignore[arg-type]
    assert max(shrunk.size) == 500 and big.size == (1000, 600)
