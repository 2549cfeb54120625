"""`es-visual ingest`: embed media into the index."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from es_visual.cli.context import AppContext, emit_json, pass_app, show_progress
from es_visual.cli.devices import device_option, embedder_for
from es_visual.core import schema
from es_visual.core.slicing import Slice

if TYPE_CHECKING:
    from collections.abc import Callable

    from es_visual.ingest.report import IngestReport


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL or CSV file, one asset a line: a 'path' plus any metadata to store "
    "(id, tags, folder, acl, caption...).",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Resolve relative paths of the manifest or the index against this folder.",
)
@click.option(
    "--from-index",
    "from_index",
    is_flag=True,
    help="Embed the documents already in the index: each names its media in --path-field.",
)
@click.option(
    "--path-field",
    default="path",
    show_default=True,
    help="With --from-index: the document field that holds the media's path.",
)
@click.option("--model", help="Scene embedder (default: the pipeline's, e.g. mobilenet-v2).")
@click.option("--pipeline", help="Ingest preset (`es-visual pipelines list`; default: offline).")
@click.option("--batch-size", type=click.IntRange(1, 1024), help="Images per model call.")
@click.option("--force", is_flag=True, help="Re-embed assets even when unchanged.")
@click.option(
    "--slice",
    "slice_text",
    metavar="I/N",
    help="With --from-index: embed share I of N of the index (I from 0 to N-1). Run the N "
    "shares anywhere, at the same time: together they hold every document once. A share "
    "whose worker died is finished by running it again.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="With --from-index: N processes on this machine, share I/N each, with progress "
    "per worker and in total.",
)
@device_option
@click.option(
    "--progress-lines",
    is_flag=True,
    hidden=True,
    help="Progress as JSON lines on stderr (what --workers reads from its workers).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def ingest(
    app: AppContext,
    paths: tuple[Path, ...],
    manifest: Path | None,
    base_dir: Path | None,
    from_index: bool,
    path_field: str,
    model: str | None,
    pipeline: str | None,
    batch_size: int | None,
    force: bool,
    slice_text: str | None,
    workers: int,
    device: str,
    progress_lines: bool,
    as_json: bool,
) -> None:
    """Embed images and videos into the index.

    PATHS are files or folders (walked recursively; a file's id is its path
    relative to the folder). Every image format Pillow reads and every video
    PyAV reads is ingested; other files are listed as ignored. Unchanged files
    are skipped, so an interrupted run (Ctrl-C: exit 130) can simply be started
    again. A file that cannot be read is reported and recorded on its document;
    the rest of the batch is written. A manifest's metadata is applied even to
    unchanged media, replacing what an earlier manifest gave.

    \b
    Examples:
      es-visual ingest ~/photos
      es-visual ingest --manifest assets.jsonl --base-dir /srv/media
      es-visual --backend elasticsearch --url https://es:9200 ingest --from-index \\
          --path-field file_path --base-dir /srv/media
      es-visual ... ingest --from-index --workers 4       (4 processes here)
      es-visual ... ingest --from-index --slice 2/8       (share 2 of 8, on one of 8 machines)
    """
    from es_visual.ingest import sources
    from es_visual.ingest.report import IngestInterrupted
    from es_visual.people.registry import PeopleRegistry
    from es_visual.workflows import ingest as run
    from es_visual.workflows import load_pipeline, text_fields_for

    chosen = sum(bool(x) for x in (paths, manifest, from_index))
    if chosen != 1:
        raise click.UsageError("give PATHS, or --manifest FILE, or --from-index (one of them)")
    share = _slice_option(slice_text, workers, from_index)

    settings = app.settings
    if workers > 1:
        raise SystemExit(
            _run_workers(app, workers, path_field, base_dir, model, pipeline, batch_size, force,
                         device, as_json)
        )  # fmt: skip
    config = load_pipeline(settings, pipeline)
    if model:
        config.model = model
    embedder, batch = embedder_for(app, config.model, device, batch_size)
    backend = app.backend()

    ignored: list[sources.Ignored] = []
    if manifest:
        source = sources.iter_manifest(manifest, base_dir=base_dir, date_fields=_date_fields(app))
        total = _count_lines(manifest)
    elif from_index:
        source = sources.iter_index(
            backend, settings.index, path_field=path_field, base_dir=base_dir, slice=share
        )
        # A slice's own count would cost a read of its own: its share of the whole is close.
        total = backend.stats(settings.index).documents // (share.max if share else 1)
    else:
        source = sources.iter_paths(paths, on_ignored=ignored.append)
        total = sum(1 for _ in sources.iter_paths(paths))

    lines = _ProgressLines(bar_update=None, share=share) if progress_lines else None
    with click.progressbar(
        length=total,
        label="ingesting",
        file=sys.stderr,
        show_pos=True,
        hidden=not show_progress() or as_json,
    ) as bar:
        if lines:
            lines.bar_update = bar.update
        try:
            report = run(
                backend,
                settings.index,
                source,
                embedder=embedder,
                pipeline=config,
                batch_size=batch,
                force=force,
                progress=lines.progress if lines else bar.update,
                on_failure=lines.failure if lines else None,
                acl_field=settings.acl_field,
                people=PeopleRegistry.in_data_dir(settings.data_dir),  # merged persons' ids
                text_fields=text_fields_for(settings, backend, settings.index),
            )
        except IngestInterrupted as stop:
            report = stop.report
    report.ignored.extend(ignored)

    if as_json:
        emit_json(report.to_dict())
    else:
        _print_report(report, settings.index)
    if report.interrupted:
        click.secho(
            f"interrupted: {report.written} written before Ctrl-C (kept); run the same "
            "command again to resume: what is written is skipped",
            fg="yellow",
            err=True,
        )
        raise SystemExit(130)  # 128 + SIGINT, as a shell reports it
    if report.failed:
        # 3: finished, but some items need attention (scripts can tell it from a crash).
        raise SystemExit(3)


def _slice_option(text: str | None, workers: int, from_index: bool) -> Slice | None:
    from es_visual.core.errors import ConfigError

    if (text or workers > 1) and not from_index:
        raise click.UsageError("--slice and --workers split an index: use them with --from-index")
    if text and workers > 1:
        raise click.UsageError(
            "give --slice I/N (one share, e.g. on one of N machines) or --workers N (all N "
            "shares on this machine), not both"
        )
    if not text:
        return None
    try:
        return Slice.parse(text)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--slice") from None


class _ProgressLines:
    """``--progress-lines``: after each chunk, a JSON line on stderr with the counts so
    far (what ``--workers`` reads from its workers; a scheduler's logs can too)."""

    def __init__(self, bar_update: Callable[[int], None] | None, share: Slice | None) -> None:
        self.bar_update, self.share = bar_update, share or Slice(0, 1)
        self.seen = self.failed = 0

    def failure(self, _failure: object) -> None:
        self.failed += 1

    def progress(self, n: int) -> None:
        from es_visual.cli.workers import progress_line

        self.seen += n
        if self.bar_update is not None:
            self.bar_update(n)
        click.echo(progress_line(self.share, self.seen, self.failed), err=True)


def _run_workers(
    app: AppContext,
    workers: int,
    path_field: str,
    base_dir: Path | None,
    model: str | None,
    pipeline: str | None,
    batch_size: int | None,
    force: bool,
    device: str,
    as_json: bool,
) -> int:
    """``--workers N``: this command's options handed to N slice workers."""
    from es_visual.backends.base import ChangeFeed
    from es_visual.cli.workers import run_workers

    args = ["--path-field", path_field, "--device", device]
    if base_dir is not None:
        args += ["--base-dir", str(base_dir.resolve())]
    for flag, value in (("--model", model), ("--pipeline", pipeline), ("--batch-size", batch_size)):
        if value is not None:
            args += [flag, str(value)]
    if force:
        args.append("--force")
    backend = app.require_index()
    # How the cluster will split: by shard first (see run_workers' note on balance).
    shards = (
        len(backend.change_marks(app.settings.index).shards)
        if isinstance(backend, ChangeFeed)
        else None
    )
    return run_workers(
        app.settings,
        workers,
        args,
        as_json=as_json,
        show_status=show_progress() and not as_json,
        shards=shards,
    )


def _print_report(report: IngestReport, index: str) -> None:
    updated = f" ({report.metadata_updated} with new metadata)" if report.metadata_updated else ""
    click.echo(
        f"{report.written} written, {report.skipped} unchanged{updated}, {report.failed} failed, "
        f"{len(report.ignored)} ignored ({report.seen} seen) into {index!r} with {report.model}"
    )
    for failure in report.failures:
        click.secho(f"  failed  {failure.origin}: {failure.reason}", fg="yellow", err=True)
    for note in report.notes:
        click.secho(f"  note    {note.origin}: {note.note}", err=True)
    if report.ignored:
        click.echo(
            f"  {len(report.ignored)} file(s) ignored (not images or videos this installation "
            "reads, hidden, or symlinked folders): --json lists them",
            err=True,
        )


def _date_fields(app: AppContext) -> list[str]:
    """The document fields that hold dates: those the field map types as dates (the
    product's own, the configured ones, and on a cluster the index mapping's)."""
    from es_visual.query.fieldmap import FieldMap

    return [
        info.field
        for info in FieldMap.for_index(app.settings, app.backend(), app.settings.index)
        if info.type == "date" and not schema.is_visual(info.field)
    ]


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())
