"""`es-visual explain`: the request a search would send, compiled for a backend."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app
from es_visual.cli.search import build_search, query_options
from es_visual.config import BACKENDS

SHORT_VECTOR = 4  # floats of a vector shown without --full-vectors


@click.command()
@query_options
@click.option(
    "--target",
    type=click.Choice(BACKENDS),
    help="Compile for this backend (default: the configured one). For embedded, the "
    "request is printed as its IR.",
)
@click.option(
    "--full-vectors", is_flag=True, help="Print query vectors in full (default: shortened)."
)
@pass_app
def explain(app: AppContext, target: str | None, full_vectors: bool, **opts: Any) -> None:
    """Print the search body a query compiles to, without running it.

    Takes the same options as `es-visual search`. --image/--text are embedded and
    --asset is read (as --as-user) first, exactly as a search would; the configured
    backend is used for that. With --on any, one body per target is printed.

    \b
    Examples:
      es-visual explain --where "tags=kitten AND uploaded_at>7d" --target elasticsearch
      es-visual explain --asset a.jpg --on regions --as-user bob --target opensearch
    """
    from es_visual.query.execute import plan

    s = build_search(app, opts)
    target = target or app.settings.backend
    # Only a similarity search needs the backend (the index's model, a stored asset).
    requests = [s.to_request()] if s.similar is None else plan(s, app.backend())
    bodies = [compile_request(r, target) for r in requests]
    if not full_vectors:
        bodies = [shorten_vectors(b) for b in bodies]
    emit_json(bodies[0] if len(bodies) == 1 else bodies)


def compile_request(request: Any, target: str) -> Any:
    if target == "elasticsearch":
        from es_visual.backends.cluster.compile_es import to_body

        return to_body(request)
    if target == "opensearch":
        from es_visual.backends.cluster.compile_opensearch import to_body as to_os_body

        return to_os_body(request)
    return ir_to_json(request)


def ir_to_json(value: Any) -> Any:
    """IR dataclasses as JSON-ready data; each node says its type."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = ir_to_json(getattr(value, f.name))
        return out
    if isinstance(value, (list, tuple)):
        return [ir_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): ir_to_json(v) for k, v in value.items()}
    return value


def shorten_vectors(data: Any) -> Any:
    """Long lists of floats as their first few values and a count, so a body stays readable."""
    if isinstance(data, dict):
        return {k: shorten_vectors(v) for k, v in data.items()}
    if isinstance(data, list):
        if len(data) > SHORT_VECTOR * 2 and all(isinstance(x, float) for x in data):
            return [*data[:SHORT_VECTOR], f"... {len(data) - SHORT_VECTOR} more"]
        return [shorten_vectors(v) for v in data]
    return data
