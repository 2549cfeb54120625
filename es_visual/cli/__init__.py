"""The ``es-visual`` command line.

Every command lives in its own module of this package and is added to the group
below. Settings come from flags, ``ES_VISUAL_*`` env vars or a config file.
Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 finished but some items failed,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from es_visual import __version__
from es_visual.cli.context import AppContext
from es_visual.config import BACKENDS, Settings
from es_visual.core.errors import (
    ConfigError,
    CursorError,
    EsVisualError,
    QuerySyntaxError,
    QueryValueError,
    UnknownFieldError,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT
# What the user typed is wrong (an expression, a value, a cursor): exit 2, like click's own.
USAGE_ERRORS = (ConfigError, QuerySyntaxError, QueryValueError, UnknownFieldError, CursorError)


class Group(click.Group):
    """Turns es-visual's own errors into one clear line on stderr and an exit code,
    at the edge, so nothing below the CLI prints or exits."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except USAGE_ERRORS as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_USAGE)
        except EsVisualError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            # Click would print "Aborted!" and exit 1; a shell says 130 for Ctrl-C. (An
            # ingest says itself what it wrote before exiting 130.)
            click.secho("interrupted (Ctrl-C)", fg="yellow", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            app = ctx.find_object(AppContext)
            if app is not None:
                app.close()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="es-visual")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (.toml, .yaml or .json). Default: ./es-visual.toml if present, "
    "or $ES_VISUAL_CONFIG.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    help="Where the index lives. Default: embedded (a local store, no server).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the embedded store. Default: ~/.local/share/es-visual ($ES_VISUAL_DATA_DIR).",
)
@click.option("--index", help="Index name. Default: media ($ES_VISUAL_INDEX).")
@click.option("--url", help="Cluster URL for elasticsearch/opensearch ($ES_VISUAL_URL).")
@click.option("--username", help="Basic-auth user ($ES_VISUAL_USERNAME).")
@click.option("--password", help="Basic-auth password ($ES_VISUAL_PASSWORD).")
@click.option("--api-key", help="API key, instead of user/password ($ES_VISUAL_API_KEY).")
@click.option(
    "--ca-certs",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle that signed the cluster's certificate ($ES_VISUAL_CA_CERTS).",
)
@click.option(
    "--verify-certs/--no-verify-certs",
    default=None,
    help="Check the cluster's TLS certificate (default: on).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, verbose: int, **flags: object) -> None:
    """Visual search for media in Elasticsearch, OpenSearch or a local store.

    \b
    Typical use:
      es-visual demo                              try it on sample images
      es-visual ingest ~/photos                   embed a folder into the index
      es-visual search --image query.jpg          find visually similar media
      es-visual search --where "tags=beach" --text "sunset"
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose < 2:
        # The cluster clients log each retried connection with a traceback; the CLI
        # prints one error line (URL + what failed) instead. -vv shows them.
        for name in ("elastic_transport", "elasticsearch", "opensearch", "urllib3"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        settings = Settings.load(config_file, env=None, **flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = AppContext(settings=settings, verbose=verbose)


def _register() -> None:
    from es_visual.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="es-visual", auto_envvar_prefix="ES_VISUAL")
