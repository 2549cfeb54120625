"""`es-visual labels`: the concept labels of the index, and their backfill from stored vectors."""

from __future__ import annotations

import sys
from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress


@click.command()
@click.option(
    "--backfill",
    is_flag=True,
    help="Label the documents that have scene vectors but no labels (or faces but not yet "
    "the person/people concepts), from the stored vectors (no media is read again).",
)
@click.option(
    "--force", is_flag=True, help="With --backfill: label every document again, labelled or not."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 5000),
    default=200,
    show_default=True,
    help="Documents read and written per request.",
)
@click.option("--top", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="How many of the most frequent labels to list.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the counts / report as JSON.")
@pass_app
def labels(
    app: AppContext, backfill: bool, force: bool, batch_size: int, top: int, as_json: bool
) -> None:
    """Concept labels (visual.labels): how many documents carry them, the most frequent
    ones, and with --backfill the labels of documents ingested before labels existed.

    The scene model's classification head runs on each document's stored scene vector
    (and each video frame's): nothing is decoded again, and a document keeps its
    vectors. On Elasticsearch and OpenSearch the backfill also gives every labelled
    document the field the engine ranks labels by (visual.label_rank), so that text
    searches are ranked by the engine. First, every document with text in the text
    fields gets the meaning of that text (visual.text_vector, from the stored text),
    which text searches rank by kNN. Idempotent: run it again to finish an
    interrupted run.

    Exit codes: 0 done, 1 failure (no such index, store unreachable), 2 the index's
    model cannot label (no classification head), 3 some documents failed (listed).

    \b
    Examples:
      es-visual labels
      es-visual labels --backfill
      es-visual labels --backfill --json
    """
    if force and not backfill:
        raise click.UsageError("--force goes with --backfill")
    backend = app.require_index()
    index = app.settings.index
    before = _counts(backend, index, top)
    if not backfill:
        if as_json:
            emit_json(before)
            return
        click.echo(
            f"index {index!r}: {before['with_labels']} of {before['with_vectors']} documents "
            f"with scene vectors carry labels ({before['without_labels']} without)"
        )
        for name, count in before["top"]:
            click.echo(f"  {count:>7}  {name}")
        if before["without_labels"]:
            click.echo("label them from their vectors: es-visual labels --backfill")
        return
    from es_visual.ingest.labels import backfill_index
    from es_visual.workflows import text_fields_for

    todo = before["with_vectors"] if force else before["without_labels"]
    with click.progressbar(
        length=max(todo, 1),
        label=f"labelling {index}",
        file=sys.stderr,
        show_pos=True,
        hidden=not show_progress() or as_json,
    ) as bar:
        report = backfill_index(
            backend,
            index,
            force=force,
            batch_size=batch_size,
            progress=bar.update,
            text_fields=text_fields_for(app.settings, backend, index),
        )
    if as_json:
        emit_json({**report.to_dict(), "before": before})
    else:
        click.echo(
            f"{report.labelled} labelled, {report.seen - report.labelled - report.failed} "
            f"left as they were, {report.failed} failed, in {index!r} ({report.model})"
        )
        if report.label_ranks:
            click.echo(f"{report.label_ranks} labelled document(s) made rankable by the engine")
        if report.text_vectors:
            click.echo(f"{report.text_vectors} document(s) given the meaning of their text")
        for error in report.errors or []:
            click.secho(f"  failed  {error}", fg="yellow", err=True)
    if report.failed:
        raise SystemExit(3)


def _counts(backend: Any, index: str, top: int) -> dict[str, Any]:
    from es_visual.core import ir, schema

    def total(node: ir.Node, aggs: tuple[str, ...] = ()) -> Any:
        request = ir.SearchRequest(
            index=index, filter=node, size=0, aggregations=aggs, aggregation_size=max(top, 1)
        )
        return backend.search(request)

    from es_visual.core.errors import ConfigError
    from es_visual.ingest.labels import to_label

    spec = backend.visual_spec(index)
    if spec is None:
        raise ConfigError(f"index {index!r} has no visual vectors: nothing to label")
    # What a backfill labels: documents whose vectors come from the index's model.
    vectors = ir.Term(schema.MODEL_FIELD, spec.model)
    labelled = total(ir.and_(vectors, ir.Exists(schema.LABELS_FIELD)), (schema.LABELS_FIELD,))
    # to label: no labels yet, or faces labelled before they gave concepts
    unlabelled = total(ir.and_(vectors, to_label(spec)))
    with_labels, without = labelled.total or 0, unlabelled.total or 0
    counts = (labelled.aggregations or {}).get(schema.LABELS_FIELD) or []
    return {
        "index": index,
        "model": spec.model,
        "with_vectors": total(vectors).total or 0,
        "with_labels": with_labels,
        "without_labels": without,
        "top": [list(pair) for pair in counts[:top]],
    }
