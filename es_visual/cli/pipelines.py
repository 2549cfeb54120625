"""`es-visual pipelines`: the ingest presets available here, and what each one does."""

from __future__ import annotations

from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app
from es_visual.cli.tables import render_table


@click.group()
def pipelines() -> None:
    """Ingest pipeline presets (YAML files): use one with `ingest --pipeline NAME`."""


@pipelines.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the presets as JSON.")
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Every preset found, with its model, detectors and video sampling.

    Presets are read from $ES_VISUAL_PIPELINES, <data-dir>/pipelines,
    ./ingest_pipelines and the presets shipped with es-visual (first wins).
    """
    from es_visual.core.errors import ConfigError
    from es_visual.ingest.presets import list_presets, read_preset

    rows: list[dict[str, Any]] = []
    for name, path in list_presets(app.settings).items():
        try:
            rows.append(_summary(read_preset(path)) | {"name": name})
        except ConfigError as exc:
            rows.append({"name": name, "file": str(path), "error": str(exc)})
    if as_json:
        emit_json(rows)
        return
    default = app.settings.pipeline
    table = [
        (
            r["name"] + (" *" if r["name"] == default else ""),
            r.get("model", ""),
            ", ".join(r.get("detectors", [])) or "-",
            r.get("video", ""),
            r.get("error") or r.get("description", ""),
        )
        for r in rows
    ]
    click.echo(render_table(["name", "model", "detectors", "video", "description"], table, 60))
    click.echo("(* = the default, setting `pipeline`)")


@pipelines.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved preset as JSON.")
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """Print preset NAME (or a .yaml path) with every default filled in."""
    import yaml

    from es_visual.core.errors import ConfigError
    from es_visual.ingest.presets import find_preset, read_preset

    try:
        preset = read_preset(find_preset(name, app.settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        emit_json(preset)
        return
    click.echo(f"# {preset['file']}")
    click.echo(yaml.safe_dump(preset, sort_keys=False).rstrip())


def _summary(preset: dict[str, Any]) -> dict[str, Any]:
    detectors = []
    if preset["faces"]["enabled"]:
        detectors.append(f"faces ({preset['faces']['detector']})")
    if preset["objects"]["enabled"]:
        detectors.append(f"objects ({preset['objects']['weights']})")
    video = preset["video"]
    return {
        "model": preset["model"],
        "detectors": detectors,
        "video": f"{video['sampling']}, max {video['max_frames']}",
        "description": preset["description"],
        "file": preset["file"],
    }
