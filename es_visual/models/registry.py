"""Embedders by name, each loaded once per process.

``get_embedder("mobilenet-v2")``, ``get_embedder("clip")`` (the default
checkpoint) or ``get_embedder("clip:/models/clip-vit-large")`` (any checkpoint
by hub id or local path). A vector's tag, ``name@version``, leads back to the
embedder that made it through ``get_embedder_for_tag``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from es_visual.core.errors import ConfigError, ModelMismatchError
from es_visual.models.base import Embedder


def _mobilenet(**options: Any) -> Embedder:
    from es_visual.models.mobilenet import MobileNetV2Embedder

    return MobileNetV2Embedder(**options)


def _clip(**options: Any) -> Embedder:
    from es_visual.models.clip import ClipEmbedder

    return ClipEmbedder(**options)


# name -> (factory, the option that "name:<value>" sets, if any)
_FACTORIES: dict[str, tuple[Callable[..., Embedder], str | None]] = {
    "mobilenet-v2": (_mobilenet, None),
    "clip": (_clip, "checkpoint"),
}
_ALIASES = {"mobilenet": "mobilenet-v2", "mobilenetv2": "mobilenet-v2"}

_cache: dict[tuple[str, tuple[tuple[str, Any], ...]], Embedder] = {}
_lock = threading.Lock()


def available_embedders() -> list[str]:
    """The names ``get_embedder`` knows (whether their weights are here is another matter)."""
    return sorted(_FACTORIES)


def split_tag(tag: str) -> tuple[str, str]:
    """``"clip@openai/clip-vit-base-patch32"`` -> ``("clip", "openai/clip-vit-base-patch32")``.

    Names never contain ``@``; a version may. A tag without one has version ``""``.
    """
    name, _, version = tag.partition("@")
    if not name:
        raise ConfigError(f"malformed model tag {tag!r}: expected name@version")
    return name, version


def get_embedder(name: str, **options: Any) -> Embedder:
    """The embedder called ``name`` (``"clip:<checkpoint>"`` accepted), built once per options.

    Loading weights takes seconds; every later call with the same name and
    options returns the same object. Unknown names raise ``ConfigError``.
    """
    base, _, argument = name.strip().partition(":")
    base = _ALIASES.get(base.lower(), base.lower())
    if base not in _FACTORIES:
        raise ConfigError(
            f"unknown model {name!r}; known models: {', '.join(available_embedders())} "
            "(CLIP also as clip:<hub id or local folder>)"
        )
    factory, argument_option = _FACTORIES[base]
    if argument:
        if argument_option is None:
            raise ConfigError(f"model {base!r} takes no ':{argument}' part")
        options = {**options, argument_option: argument}
    key = (base, _freeze(options))
    with _lock:
        # Held while loading: two ingest threads asking at once must not load twice.
        embedder = _cache.get(key)
        if embedder is None:
            embedder = factory(**options)
            _cache[key] = embedder
        return embedder


def get_embedder_for_tag(tag: str, **options: Any) -> Embedder:
    """The embedder that writes vectors tagged ``tag`` (an index's ``visual.model``).

    Raises ``ModelMismatchError`` when what loads carries another tag (e.g. the
    index was built from a local folder whose name no longer resolves the same).
    """
    name, version = split_tag(tag)
    folder, mark, digest = version.partition("#")  # a local CLIP: folder name#content hash
    if name == "clip" and version:
        embedder = get_embedder(f"clip:{folder if mark else version}", **options)
    else:
        embedder = get_embedder(name, **options)
    if embedder.tag != tag:
        if mark:
            raise ModelMismatchError(
                f"the vectors were made by {tag}, a local CLIP checkpoint known by the hash "
                f"of its config and weights ({digest}); the folder {folder!r} found here holds "
                f"other weights ({embedder.tag}): use the checkpoint that built the index, or "
                "`es-visual reindex --model clip:<folder>` to move the index to this one"
            )
        raise ModelMismatchError(
            f"vectors tagged {tag!r} were asked for, but that name loads {embedder.tag!r}"
        )
    return embedder


def clear_cache() -> None:
    """Forget loaded embedders (tests, or to free memory in a long-lived process)."""
    with _lock:
        _cache.clear()


def _freeze(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    frozen = []
    for key, value in sorted(options.items()):
        if isinstance(value, list | dict | set):
            value = repr(value)  # unhashable option values still key the cache
        frozen.append((key, value))
    return tuple(frozen)
