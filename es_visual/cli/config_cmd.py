"""`es-visual config`: the settings in effect, after file, env and flags."""

from __future__ import annotations

import click

from es_visual.cli.context import AppContext, emit_json, pass_app


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def config(app: AppContext, as_json: bool) -> None:
    """Show the settings in effect (secrets masked)."""
    values = app.settings.public()
    if as_json:
        emit_json(values)
        return
    width = max(len(k) for k in values)
    for key, value in values.items():
        click.echo(f"{key:<{width}}  {value}")
