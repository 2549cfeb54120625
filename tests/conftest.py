"""Fixtures shared by every test area: real sample images and the real offline model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def skimage_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def mobilenet():
    """The real MobileNetV2 with ImageNet weights from its package, loaded once."""
    from es_visual.models.registry import get_embedder

    return get_embedder("mobilenet-v2")
