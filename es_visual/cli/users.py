"""`es-visual users`: who may log in to the web UI (kept in <data-dir>/users.json)."""

from __future__ import annotations

import click

from es_visual.cli.context import AppContext, emit_json, pass_app


def _file(app: AppContext):  # type: ignore[no-untyped-def]
    from flask_ui.users import users_file

    return users_file(app.settings.data_dir)


@click.group()
def users() -> None:
    """Add, list and remove web UI users; make API tokens.

    Users live in users.json in the data dir (passwords hashed, tokens stored as
    SHA-256 only). Users in the `users` setting of the config file also work and
    win on a name clash.
    """


@users.command("add")
@click.argument("name")
@click.option(
    "--groups",
    default="",
    help="Comma-separated groups, e.g. design,admin. Group admin may run jobs and see index stats.",
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (asked for when not given; avoid it on a shared shell).",
)
@pass_app
def add(app: AppContext, name: str, groups: str, password: str) -> None:
    """Create user NAME, or replace their password and groups."""
    from flask_ui.users import add_user

    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--password")
    try:
        add_user(_file(app), name, password, groups.split(","))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc
    click.echo(f"user {name} saved in {_file(app)}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_users(app: AppContext, as_json: bool) -> None:
    """Users who may log in and their groups."""
    from flask_ui.users import UserStore

    store = UserStore(app.settings.users, _file(app))
    rows = [store.get(n) for n in store.names()]
    if as_json:
        emit_json([{"name": u.name, "groups": list(u.groups)} for u in rows if u])
        return
    if not rows:
        click.echo("no users yet: es-visual users add NAME --groups admin")
    for u in rows:
        if u:
            click.echo(f"{u.name}\t{', '.join(u.groups) or '-'}")


@users.command("remove")
@click.argument("name")
@pass_app
def remove(app: AppContext, name: str) -> None:
    """Delete user NAME from the users file (their tokens stop working)."""
    from flask_ui.users import remove_user

    if not remove_user(_file(app), name):
        raise click.ClickException(f"no user {name!r} in {_file(app)}")
    click.echo(f"user {name} removed")


@users.command("token")
@click.argument("name")
@click.option("--label", default="", help="A note to tell tokens apart.")
@pass_app
def token(app: AppContext, name: str, label: str) -> None:
    """Make an API token for NAME (for `Authorization: Bearer ...`); shown once."""
    from flask_ui.users import new_token

    try:
        value = new_token(_file(app), name, label)
    except KeyError as exc:
        raise click.ClickException(f"no user {name!r}: add them first") from exc
    click.echo(value)
