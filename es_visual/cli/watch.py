"""`es-visual watch`: embed new and changed documents of the index as they arrive."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from es_visual.cli.context import AppContext, pass_app
from es_visual.cli.devices import device_option, embedder_for

if TYPE_CHECKING:
    from es_visual.watch import Cycle


@click.command()
@click.option(
    "--path-field",
    default="path",
    show_default=True,
    help="The document field that holds the media's path.",
)
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Resolve relative paths of the documents against this folder.",
)
@click.option("--model", help="Scene embedder (default: the pipeline's, e.g. mobilenet-v2).")
@click.option("--pipeline", help="Ingest preset (`es-visual pipelines list`; default: offline).")
@click.option("--batch-size", type=click.IntRange(1, 1024), help="Images per model call.")
@device_option
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds between two looks at the index.",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(1.0),
    default=300.0,
    show_default=True,
    help="Longest wait, in seconds, while the cluster answers 429 or cannot be reached "
    "(the wait doubles from --interval after each failure in a row).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file that remembers how far watch got, so a restart resumes there. "
    "Default: <data-dir>/watch/<backend>-<cluster>-<index>.json.",
)
@click.option("--once", is_flag=True, help="One look at the index, then exit (for cron, tests).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per cycle that did work.")
@pass_app
def watch(
    app: AppContext,
    path_field: str,
    base_dir: Path | None,
    model: str | None,
    pipeline: str | None,
    batch_size: int | None,
    device: str,
    interval: float,
    max_backoff: float,
    checkpoint: Path | None,
    once: bool,
    as_json: bool,
) -> None:
    """Embed documents of the index as they are written or changed, until stopped.

    Like `ingest --from-index`, each document names its media in --path-field.
    On a cluster, each shard's sequence numbers say what was written since the
    last look (nothing to set up in your index); the checkpoint file keeps how
    far it got, so a restart resumes there. The cluster answering 429 (too many
    requests) or going away is waited out. Ctrl-C or SIGTERM stop it after the
    current write (exit 130).

    \b
    Examples:
      es-visual --backend opensearch --url https://os:9200 watch --path-field file_path
      es-visual watch --once --json        (one pass, e.g. from cron)
    """
    from es_visual.ingest.report import IngestInterrupted
    from es_visual.watch import Watcher, default_checkpoint
    from es_visual.workflows import load_pipeline

    settings = app.settings
    config = load_pipeline(settings, pipeline)
    if model:
        config.model = model
    backend = app.require_index()
    embedder, batch = embedder_for(app, config.model, device, batch_size)
    path = checkpoint or default_checkpoint(
        settings.data_dir, settings.backend, settings.url, settings.index
    )
    watcher = Watcher(
        backend,
        settings.index,
        embedder=embedder,
        pipeline=config,
        path_field=path_field,
        checkpoint=path,
        base_dir=base_dir,
        batch_size=batch,
        acl_field=settings.acl_field,
    )
    if not as_json:
        how = (
            "by each shard's sequence numbers"
            if watcher.incremental
            else "reading every document each time (the embedded store keeps no change log)"
        )
        click.echo(
            f"watching {settings.index!r} every {interval:g}s, {how}; checkpoint {path}", err=True
        )
    failed = 0

    def on_cycle(cycle: Cycle) -> None:
        nonlocal failed
        failed += cycle.failed
        _show(cycle, as_json)

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        watcher.run(
            interval=interval,
            cycles=1 if once else None,
            max_backoff=max_backoff,
            on_cycle=on_cycle,
            on_wait=_waiting,
        )
    except (KeyboardInterrupt, IngestInterrupted):
        click.secho(
            "stopped: the checkpoint keeps what is done; the same command resumes", err=True
        )
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise SystemExit(3)


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (a service manager's stop): as Ctrl-C


def _waiting(exc: Exception, delay: float) -> None:
    click.secho(f"waiting {delay:.0f}s: {exc}", fg="yellow", err=True)


def _show(cycle: Cycle, as_json: bool) -> None:
    if cycle.idle and not cycle.reset:
        return
    if as_json:
        click.echo(json.dumps(cycle.to_dict()))
        return
    if not (cycle.written or cycle.failed or cycle.reset or cycle.held_back):
        return  # only re-reads of what is done (our own writes of the cycle before)
    if cycle.reset:
        click.echo(f"{cycle.started}  starting over: {cycle.reset}", err=True)
    ranges = ", ".join(f"shard {s} {a + 1}..{b}" for s, (a, b) in cycle.changed_shards.items())
    held = f"; held back (a write failed, read again next time): {cycle.held_back}"
    click.echo(
        f"{cycle.started}  {cycle.seen} changed: {cycle.written} written, "
        f"{cycle.skipped} unchanged, {cycle.failed} failed"
        + (f" ({ranges})" if cycle.changed_shards and ranges else "")
        + (held if cycle.held_back else "")
    )
    for failure in cycle.failures:
        click.secho(f"  failed  {failure['origin']}: {failure['reason']}", fg="yellow", err=True)
