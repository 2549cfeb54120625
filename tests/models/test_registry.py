"""Embedders by name, loaded once per process."""

from __future__ import annotations

import pytest

from es_visual.core.errors import ConfigError, ModelMismatchError
from es_visual.models.registry import (
    available_embedders,
    get_embedder,
    get_embedder_for_tag,
    split_tag,
)


def test_known_names() -> None:
    assert available_embedders() == ["clip", "mobilenet-v2"]


def test_loaded_once_per_name_and_options(mobilenet) -> None:
    assert get_embedder("mobilenet-v2") is mobilenet
    assert get_embedder("MobileNet") is mobilenet  # alias, any case
    assert get_embedder("mobilenet-v2", batch_size=8) is not mobilenet
    assert get_embedder("mobilenet-v2", batch_size=8) is get_embedder("mobilenet-v2", batch_size=8)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known models: clip, mobilenet-v2"):
        get_embedder("resnet-50")


def test_argument_only_where_it_means_something() -> None:
    with pytest.raises(ConfigError, match="takes no"):
        get_embedder("mobilenet-v2:large")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("mobilenet-v2@imagenet1k-v1", ("mobilenet-v2", "imagenet1k-v1")),
        ("clip@openai/clip-vit-base-patch32", ("clip", "openai/clip-vit-base-patch32")),
        ("clip@org/model@abc123", ("clip", "org/model@abc123")),
        ("custom", ("custom", "")),
    ],
)
def test_split_tag(tag: str, expected) -> None:
    assert split_tag(tag) == expected


def test_split_tag_needs_a_name() -> None:
    with pytest.raises(ConfigError):
        split_tag("@v1")


def test_embedder_for_tag(mobilenet) -> None:
    assert get_embedder_for_tag("mobilenet-v2@imagenet1k-v1") is mobilenet
    with pytest.raises(ModelMismatchError, match="imagenet21k"):
        get_embedder_for_tag("mobilenet-v2@imagenet21k")
