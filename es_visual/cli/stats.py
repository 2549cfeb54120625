"""`es-visual stats`: what the index holds."""

from __future__ import annotations

import click

from es_visual.cli.context import AppContext, emit_json, pass_app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
@pass_app
def stats(app: AppContext, as_json: bool) -> None:
    """Counts, model and vectors of the index."""
    result = app.require_index().stats(app.settings.index)
    spec = result.spec
    if as_json:
        emit_json(
            {
                "index": result.index,
                "backend": app.settings.backend,
                "documents": result.documents,
                "with_visual": result.with_visual,
                "with_errors": result.with_errors,
                "model": spec.model if spec else None,
                "dims": spec.dims if spec else None,
                "face_model": spec.face_model if spec else None,
                "vectors": result.vectors,
                **result.extra,
            }
        )
        return
    rows = [
        ("index", f"{result.index} ({app.settings.backend})"),
        ("documents", result.documents),
        ("with vectors", result.with_visual),
        ("failed ingests", result.with_errors),
        ("model", f"{spec.model} ({spec.dims} dims)" if spec else "none yet"),
    ]
    rows += [(f"{target} vectors", n) for target, n in sorted(result.vectors.items())]
    rows += [(k.replace("_", " "), v) for k, v in result.extra.items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
