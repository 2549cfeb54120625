"""`es-visual reindex`: move the index to another model, alongside or in place."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress
from es_visual.core.schema import PATH_FIELD


@click.command()
@click.option("--model", required=True, help="The new scene embedder, e.g. clip or clip:<path>.")
@click.option(
    "--in-place",
    is_flag=True,
    help="Re-embed into the same index (only when the new model has the same dims).",
)
@click.option("--dry-run", is_flag=True, help="Count the work; write nothing.")
@click.option(
    "--replace-original",
    is_flag=True,
    help="Allow the first reindex of a real index to delete it once all its documents are "
    "copied, so that its name can become the alias.",
)
@click.option("--pipeline", help="Preset for the new vectors (default: offline).")
@click.option(
    "--path-field",
    default=PATH_FIELD,
    show_default=True,
    help="Document field naming each media file (es-visual records it in visual.path).",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Resolve relative media paths against this folder.",
)
@click.option("--batch-size", type=click.IntRange(1, 1024), help="Images per model call.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan / report as JSON.")
@pass_app
def reindex(
    app: AppContext,
    model: str,
    in_place: bool,
    dry_run: bool,
    replace_original: bool,
    pipeline: str | None,
    path_field: str,
    base_dir: Path | None,
    batch_size: int | None,
    as_json: bool,
) -> None:
    """Re-embed every document with another model.

    By default builds INDEX-<model> beside the index (same user fields, the new
    visual mapping), embeds every document's media into it, then points the
    alias INDEX at it in one atomic step: searches never see a half-built
    index. The first time, the original index (all of whose documents were
    copied) is replaced by that alias: pass --replace-original to allow it.
    With --in-place the same index is re-embedded (same dims only).
    Interrupted? Run the same command again: documents already carrying the
    new model are skipped. An index already on the model: its documents without
    concept labels get them from their stored vectors (es-visual labels --backfill).

    \b
    Examples:
      es-visual reindex --model clip --dry-run
      es-visual reindex --model clip
      es-visual reindex --model clip:/models/clip-vit-large --json
    """
    from es_visual.reindex import plan_reindex, run_reindex
    from es_visual.workflows import load_pipeline

    settings = app.settings
    config = load_pipeline(settings, pipeline)
    config.model = model
    embedder = app.embedder(model)
    backend = app.backend()
    plan = plan_reindex(backend, settings.index, embedder, in_place=in_place, path_field=path_field)
    if dry_run:
        if as_json:
            emit_json({"dry_run": dry_run, **plan.to_dict()})
        else:
            click.echo(describe_plan(plan, dry_run))
        return
    if plan.up_to_date:
        # Nothing to embed: the labels of documents that lack them, from their vectors.
        report = run_reindex(backend, plan, embedder, config)
        if as_json:
            emit_json({"dry_run": False, **plan.to_dict(), **_labels_json(report)})
        else:
            click.echo(describe_plan(plan, dry_run))
            _echo_labels(report)
        if report.failed:
            raise SystemExit(3)
        return
    with click.progressbar(
        length=plan.documents,
        label=f"reindexing into {plan.target}",
        file=sys.stderr,
        show_pos=True,
        hidden=not show_progress() or as_json,
    ) as bar:
        report = run_reindex(
            backend,
            plan,
            embedder,
            config,
            path_field=path_field,
            base_dir=base_dir,
            batch_size=batch_size or settings.batch_size,
            progress=bar.update,
            replace_original=replace_original,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        ing = report.ingest
        click.echo(
            f"{ing.written if ing else 0} embedded, {ing.skipped if ing else 0} already done, "
            f"{report.copied} user-field copies, {report.failed} failed, into "
            f"{plan.target!r} with {plan.new_model}"
        )
        late = report.added_late.written if report.added_late else 0
        if report.edits_caught or late or report.deleted_late:
            click.echo(
                f"final pass (source blocked for writes): {report.edits_caught} edit(s) made "
                f"during the copy carried over, {late} added, {report.deleted_late} deleted"
            )
        if report.swapped:
            click.echo(f"alias {plan.index!r} now points at {plan.target!r}")
            for old in report.left:
                kept = "deleted (its documents were copied)" if old == plan.index else "kept"
                click.echo(f"  previous index {old!r}: {kept}")
        late_failures = report.added_late.failures if report.added_late else []
        for failure in [*(ing.failures if ing else []), *late_failures]:
            click.secho(f"  failed  {failure.origin}: {failure.reason}", fg="yellow", err=True)
        for err in report.copy_errors:
            click.secho(f"  failed  {err.id}: {err.reason}", fg="yellow", err=True)
    if report.failed:
        raise SystemExit(3)


def _labels_json(report: Any) -> dict[str, Any]:
    return {"labels": report.labels.to_dict() if report.labels else None}


def _echo_labels(report: Any) -> None:
    labels = report.labels
    if labels is None:
        return
    click.echo(f"labels: {labels.labelled} document(s) labelled from their stored vectors")
    if labels.label_ranks:
        click.echo(f"labels: {labels.label_ranks} document(s) made rankable by the engine")
    for error in labels.errors or []:
        click.secho(f"  failed  {error}", fg="yellow", err=True)


def describe_plan(plan, dry_run: bool) -> str:  # type: ignore[no-untyped-def]
    if plan.up_to_date:
        return f"index {plan.index!r} ({plan.source}) already holds {plan.new_model}: nothing to do"
    how = "in place" if plan.in_place else f"into {plan.target!r}, then alias {plan.index!r}"
    lines = [
        f"{'would reindex' if dry_run else 'reindex'} {plan.index!r} ({plan.source}) from "
        f"{plan.old_model} to {plan.new_model} {how}",
        f"  documents        {plan.documents}",
        f"  with media       {plan.with_media}",
        f"  to embed         {plan.to_embed}",
        f"  already done     {plan.with_media - plan.to_embed}",
        f"  without media    {plan.without_media} (user fields copied only)",
    ]
    for old in plan.replaces:
        fate = "deleted by the swap (an alias takes its name)" if old == plan.index else "kept"
        lines.append(f"  previous index {old!r}: {fate}")
    return "\n".join(lines)
