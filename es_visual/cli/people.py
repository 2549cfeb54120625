"""`es-visual people`: the persons faces were clustered into; list, show, name, merge, split.

Ingest clusters faces into persons as it writes them (es_visual.people.assign); a
person's name and merges live in ``people.sqlite`` in the data dir. Listing and
showing run as ``--as-user`` when given: a person appears only through documents
that user may read.
"""

from __future__ import annotations

from typing import Any

import click

from es_visual.cli.context import AppContext, emit_json, pass_app
from es_visual.cli.tables import render_table
from es_visual.core.schema import visual_of


def _people(app: AppContext) -> Any:
    from es_visual.people.registry import PeopleRegistry
    from es_visual.people.service import People

    registry = PeopleRegistry.in_data_dir(app.settings.data_dir)
    return People(app.backend(), app.settings.index, registry)


def _acl(app: AppContext, as_user: str | None, groups: tuple[str, ...]) -> Any:
    from es_visual.core.ir import MatchAll
    from es_visual.query.acl import AclPolicy

    names = [g.strip() for item in groups for g in item.split(",") if g.strip()]
    if names and not as_user:
        raise click.UsageError("--groups needs --as-user")
    if not as_user:
        return MatchAll()
    return AclPolicy.from_settings(app.settings).filter_for(as_user, names)


def _as_user_options(command: Any) -> Any:
    command = click.option(
        "--groups", multiple=True, help="With --as-user: their groups (comma-separated)."
    )(command)
    return click.option("--as-user", "as_user", help="Only what this user may read.")(command)


@click.group()
def people() -> None:
    """Persons found among the faces: list them, see their photos, name, merge, split.

    \b
    Examples:
      es-visual people list
      es-visual people show p3f9a1c02be
      es-visual people name p3f9a1c02be "Alice Martin"
      es-visual people merge "Alice Martin" p0536d3aa37      # p0536... was Alice too
      es-visual people split "Alice Martin" --face trips/a1.jpg:1
      es-visual search --where 'person:"Alice Martin"'
    """


@people.command("list")
@_as_user_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_people(
    app: AppContext, as_user: str | None, groups: tuple[str, ...], as_json: bool
) -> None:
    """Every person, named first, then by how many photos and videos show them."""
    found = _people(app).list(acl=_acl(app, as_user, groups))
    if as_json:
        emit_json({"people": [p.to_dict() for p in found]})
        return
    rows = [
        (p.id, p.name or "", p.assets, f"{p.cover.asset}:{p.cover.index}" if p.cover else "")
        for p in found
    ]
    click.echo(render_table(["person", "name", "assets", "a face (ID:N)"], rows))
    click.echo(f"\n{len(found)} person(s)")


@people.command("show")
@click.argument("person")
@_as_user_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(
    app: AppContext,
    person: str,
    as_user: str | None,
    groups: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """The photos and video moments of PERSON (a name or a person id)."""
    from es_visual.core.ir import SearchRequest, Terms
    from es_visual.people.service import PERSONS

    ppl = _people(app)
    acl = _acl(app, as_user, groups)
    summary = ppl.get(person, acl=acl)
    ids = ppl.registry.aliases(ppl.index, summary.id)
    result = ppl.backend.search(
        SearchRequest(index=ppl.index, filter=Terms(PERSONS, tuple(ids)), acl=acl, size=limit)
    )
    seen = [ppl.in_asset(h.id, h.source, summary.id) for h in result.hits]
    if as_json:
        emit_json(
            {
                **summary.to_dict(),
                "assets": [
                    {
                        "id": a.asset,
                        "media_type": visual_of(a.source).get("media_type"),
                        "faces": [f.to_dict() for f in a.faces],
                        "segments": [s.to_dict() for s in a.segments],
                    }
                    for a in seen
                ],
                "total": summary.assets,
            }
        )
        return
    click.echo(f"{summary.label} ({summary.id}): {summary.assets} photo(s)/video(s)\n")
    rows = []
    for a in seen:
        faces = ", ".join(f"#{f.index}" for f in a.faces)
        moments = ", ".join(f"{s.start:.1f}-{s.end:.1f}s" for s in a.segments)
        rows.append((a.asset, visual_of(a.source).get("media_type"), faces, moments))
    click.echo(render_table(["asset", "media", "faces", "on screen"], rows))


@people.command("name")
@click.argument("person")
@click.argument("name", required=False)
@click.option("--clear", is_flag=True, help="Remove the person's name.")
@pass_app
def name_person(app: AppContext, person: str, name: str | None, clear: bool) -> None:
    """Give PERSON (a person id, or their current name) the name NAME."""
    if not clear and not name:
        raise click.UsageError("give a NAME, or --clear to remove the name")
    pid = _people(app).name(person, None if clear else name)
    click.echo(f"{pid}: {'name cleared' if clear else name}")


@people.command("merge")
@click.argument("person")
@click.argument("others", nargs=-1, required=True)
@pass_app
def merge(app: AppContext, person: str, others: tuple[str, ...]) -> None:
    """Make OTHERS the same person as PERSON: their faces join it (names or ids)."""
    pid, written = _people(app).merge(person, list(others))
    click.echo(f"merged {len(others)} person(s) into {pid}: {written} document(s) rewritten")


@people.command("split")
@click.argument("person")
@click.option(
    "--face",
    "faces",
    multiple=True,
    required=True,
    metavar="ID:N",
    help="A face of PERSON to move to the new person (repeatable).",
)
@click.option("--name", help="Name the new person.")
@pass_app
def split(app: AppContext, person: str, faces: tuple[str, ...], name: str | None) -> None:
    """Move some faces of PERSON to a new person (the faces were not them)."""
    ppl = _people(app)
    pid = ppl.person_id(person)
    ids = set(ppl.registry.aliases(ppl.index, pid))
    refs = []
    for ref in faces:
        asset, sep, number = ref.rpartition(":")
        if not sep or not asset or not number.isdigit():
            raise click.BadParameter(f"{ref!r} is not ID:N", param_hint="--face")
        doc = ppl.backend.get(ppl.index, asset)
        stored = visual_of(doc).get("faces") or []
        i = int(number)
        if not 0 <= i < len(stored) or stored[i].get("person") not in ids:
            raise click.BadParameter(f"{ref}: not a face of {person}", param_hint="--face")
        refs.append((asset, i))
    new, written = ppl.split(refs, name=name)
    label = f" ({name})" if name else ""
    click.echo(f"{len(refs)} face(s) moved to new person {new}{label}: {written} document(s)")
