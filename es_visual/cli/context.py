"""The object every command receives: settings, and the backend/model opened once, lazily."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from es_visual.config import Settings

if TYPE_CHECKING:
    from es_visual.backends.base import Backend
    from es_visual.models.base import Embedder


@dataclass
class AppContext:
    settings: Settings
    verbose: int = 0
    _backend: Backend | None = field(default=None, repr=False)

    def backend(self) -> Backend:
        if self._backend is None:
            from es_visual.backends import open_backend

            self._backend = open_backend(self.settings)
        return self._backend

    def require_index(self) -> Backend:
        """The backend, once ``settings.index`` is known to exist: a mistyped ``--index``
        is "no such index" (exit 1), not an empty answer."""
        from es_visual.core.errors import NotFoundError

        backend = self.backend()
        index = self.settings.index
        if not backend.index_exists(index):
            where = (
                f"the embedded store at {self.settings.data_dir}"
                if self.settings.backend == "embedded"
                else f"the {self.settings.backend} cluster"  # the URL may hold credentials
            )
            raise NotFoundError(
                f"no such index {index!r} in {where}: check --index (or $ES_VISUAL_INDEX), "
                "or create it with `es-visual ingest`"
            )
        return backend

    def embedder(self, name: str | None = None, **options: Any) -> Embedder:
        """The embedder ``name`` (default: the settings' model); ``options`` go to its
        constructor (``device``, ``batch_size``)."""
        from es_visual.models.registry import get_embedder

        return get_embedder(name or self.settings.model, **options)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


pass_app = click.make_pass_decorator(AppContext)


def emit_json(data: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else there."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def show_progress() -> bool:
    """Progress bars only for a person at a terminal, never in pipes or CI logs."""
    return sys.stderr.isatty()
