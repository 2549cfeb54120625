"""Stores that hold documents with visual vectors; ``open_backend`` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.config import Settings


def open_backend(settings: Settings) -> Backend:
    """The backend named by ``settings.backend``; clients are imported only when chosen."""
    if settings.backend == "embedded":
        from es_visual.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(settings.data_dir)
    if settings.backend == "elasticsearch":
        from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend.from_settings(settings)
    if settings.backend == "opensearch":
        from es_visual.backends.cluster.opensearch import OpenSearchBackend

        return OpenSearchBackend.from_settings(settings)
    from es_visual.core.errors import ConfigError

    raise ConfigError(f"unknown backend {settings.backend!r}")
