"""`es-visual serve`: the web UI against the configured backend."""

from __future__ import annotations

from pathlib import Path

import click

from es_visual.cli.context import AppContext, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--debug",
    is_flag=True,
    help="Flask debug mode: tracebacks in the browser. Never on a reachable address.",
)
@click.option(
    "--ingest-root",
    "ingest_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A server folder the Jobs page may ingest (repeatable). The demo's media folder "
    "is allowed when it exists.",
)
@pass_app
def serve(
    app: AppContext, host: str, port: int, debug: bool, ingest_roots: tuple[Path, ...]
) -> None:
    """Serve the web UI: search, asset pages, ingest jobs, index stats.

    Log in with a user from the `users` setting or from `es-visual users add`.
    Every search runs as the logged-in user, so nobody sees what they may not read.
    """
    try:
        from flask_ui import create_app
        from flask_ui.users import UserStore, users_file
    except ImportError as exc:
        raise click.ClickException(
            f"the web UI needs Flask: pip install 'es-visual[ui]' ({exc})"
        ) from exc

    settings = app.settings
    store = UserStore(settings.users, users_file(settings.data_dir))
    if not store.names():
        raise click.ClickException(
            "no users are configured, so nobody could log in.\n"
            "  Add one (it asks for a password):\n"
            "    es-visual users add alice --groups admin\n"
            f"  Users are kept in {users_file(settings.data_dir)}; members of the admin group "
            "can also run jobs and see index stats."
        )
    if debug and host not in ("127.0.0.1", "localhost", "::1"):
        raise click.BadParameter("--debug only on a loopback --host", param_hint="--debug")
    config = {}
    if ingest_roots:
        demo = Path(settings.data_dir) / "demo-media"
        roots = [str(p.resolve()) for p in ingest_roots]
        config["INGEST_ROOTS"] = roots + ([str(demo)] if demo.is_dir() else [])
    flask_app = create_app(settings, test_config=config)
    click.echo(
        f"es-visual UI on http://{host}:{port}/  (index {settings.index!r}, "
        f"{settings.backend} backend; users: {', '.join(store.names())})",
        err=True,
    )
    try:
        flask_app.run(host=host, port=port, debug=debug, use_reloader=False, threaded=True)
    finally:
        flask_app.extensions["es_visual"].close()
