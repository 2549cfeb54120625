"""`es-visual users` and `es-visual serve`'s refusal without users."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from es_visual.cli.context import AppContext
from es_visual.config import Settings


def _obj(tmp_path: Path) -> AppContext:
    return AppContext(settings=Settings(data_dir=tmp_path))


def test_serve_refuses_without_users_and_says_how_to_add_one(tmp_path: Path) -> None:
    from es_visual.cli.serve import serve

    result = CliRunner().invoke(serve, [], obj=_obj(tmp_path))
    assert result.exit_code != 0
    assert "es-visual users add" in result.output


def test_users_add_list_token_remove(tmp_path: Path) -> None:
    from es_visual.cli.users import users
    from flask_ui.users import UserStore, users_file

    runner = CliRunner()
    result = runner.invoke(
        users,
        ["add", "dora", "--groups", "design,admin"],
        input="s3cret-pass\ns3cret-pass\n",
        obj=_obj(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "dora" in runner.invoke(users, ["list"], obj=_obj(tmp_path)).output
    token = runner.invoke(users, ["token", "dora"], obj=_obj(tmp_path)).output.strip()
    store = UserStore({}, users_file(tmp_path))
    assert store.authenticate("dora", "s3cret-pass").groups == ("admin", "design")
    assert store.authenticate("dora", "wrong") is None
    assert store.by_token(token).name == "dora"
    assert token not in users_file(tmp_path).read_text()  # only its digest is stored
    assert oct(users_file(tmp_path).stat().st_mode & 0o777) == "0o600"
    assert runner.invoke(users, ["remove", "dora"], obj=_obj(tmp_path)).exit_code == 0
    assert store.by_token(token) is None
