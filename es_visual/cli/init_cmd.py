"""`es-visual init`: create the index, or add the visual mapping to an existing one."""

from __future__ import annotations

import click

from es_visual.cli.context import AppContext, emit_json, pass_app

SAID = {
    "created": "created index {index!r} for {model} ({dims} dims{faces})",
    "extended": "extended index {index!r} with the visual mapping for {model} "
    "({dims} dims{faces}); its own fields and documents are untouched",
    "unchanged": "index {index!r} is already set up for {model} ({dims} dims{faces})",
}


@click.command()
@click.option("--model", help="Scene embedder (default: the pipeline's, e.g. mobilenet-v2).")
@click.option("--pipeline", help="Preset whose model and faces to set up for (default: offline).")
@click.option(
    "--face-dims",
    type=click.IntRange(0, 4096),
    help="Dims of face vectors (default: the pipeline's, 128 for dlib faces; 0: no faces).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_app
def init(
    app: AppContext,
    model: str | None,
    pipeline: str | None,
    face_dims: int | None,
    as_json: bool,
) -> None:
    """Create the index, or extend an existing one with the visual mapping.

    An existing index keeps its own fields, settings and documents: only the
    `visual` object is added to its mapping. An index already set up for
    another model (or other dims) is refused: see `es-visual reindex`.

    \b
    Examples:
      es-visual init
      es-visual --backend elasticsearch --url https://es:9200 --index media init
      es-visual init --model clip --face-dims 0 --json
    """
    from es_visual.workflows import ensure_ready, load_pipeline, spec_for

    config = load_pipeline(app.settings, pipeline)
    embedder = app.embedder(model or config.model)
    if face_dims is None:
        face_dims = config.options.get("face_dims")
    backend = app.backend()
    index = app.settings.index
    did = ensure_ready(backend, index, embedder, face_dims=face_dims or None)
    spec = backend.visual_spec(index) or spec_for(embedder, face_dims)
    if as_json:
        emit_json(
            {
                "index": index,
                "backend": app.settings.backend,
                "action": did,
                "model": spec.model,
                "dims": spec.dims,
                "face_model": spec.face_model,
                "face_dims": spec.face_dims,
            }
        )
        return
    faces = f", faces {spec.face_dims} dims" if spec.face_dims else ""
    click.echo(SAID[did].format(index=index, model=spec.model, dims=spec.dims, faces=faces))
