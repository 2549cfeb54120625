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

    def embedder(self, name: str | None = None) -> Embedder:
        from es_visual.models.registry import get_embedder

        return get_embedder(name or self.settings.model)

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
