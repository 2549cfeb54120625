"""`es-visual stats`: what the index holds."""

from __future__ import annotations

import click

from es_visual.cli.context import AppContext, emit_json, pass_app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stats as JSON.")
@pass_app
def stats(app: AppContext, as_json: bool) -> None:
    """Counts, model and vectors of the index: per vector target (scene, regions, faces,
    frames) how many, and which presets (pipelines) made them."""
    from es_visual.ingest.preset_targets import TARGETS, vector_origins

    backend = app.require_index()
    result = backend.stats(app.settings.index)
    spec = result.spec
    vectors: dict[str, int] = {t: int(result.vectors.get(t, 0)) for t in TARGETS}
    origins = vector_origins(backend, app.settings.index, vectors)
    if as_json:
        emit_json(
            {
                **result.to_dict(),
                "backend": app.settings.backend,
                "vectors": vectors,
                # target -> preset -> documents holding vectors of that target
                "vector_presets": origins,
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
    if spec and spec.face_model:
        rows.append(("face model", f"{spec.face_model} ({spec.face_dims} dims)"))
    rows += [(f"{t} vectors", _vectors_line(app, t, n, origins.get(t))) for t, n in vectors.items()]
    rows += [(k.replace("_", " "), v) for k, v in result.extra.items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


def _vectors_line(
    app: AppContext, target: str, count: int, by_preset: dict[str, int] | None
) -> str:
    """``12 (objects: 3 documents)``, or for none a hint of the presets that add them."""
    if by_preset:
        parts = [f"{name}: {n} document{'s' if n != 1 else ''}" for name, n in by_preset.items()]
        return f"{count} ({', '.join(parts)})"
    if count or target not in ("regions", "faces"):
        return str(count)
    from es_visual.ingest.preset_targets import presets_adding

    names = presets_adding(target, app.settings)
    return f"0 (added by the presets {', '.join(names)})" if names else "0"
