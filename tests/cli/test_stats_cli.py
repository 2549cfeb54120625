"""`es-visual stats` and `/api/index` describe an index by one ``IndexStats.to_dict``:
the face model's dims included (the CLI's own copy dropped them)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.core.documents import DocUpdate, VisualSpec

SPEC = VisualSpec("mobilenet-v2@1", 4, "dlib-resnet@1", 3)


def _store(data_dir: Path) -> None:
    backend = EmbeddedBackend(data_dir)
    try:
        backend.ensure_index("media", SPEC)
        visual = {
            "model": SPEC.model,
            "vector": [1.0, 0.0, 0.0, 0.0],
            "content_hash": "a" * 64,
            "faces": [{"bbox": [0.1, 0.1, 0.5, 0.5], "score": 0.9, "vector": [0.0, 1.0, 0.0]}],
        }
        result = backend.bulk_update("media", [DocUpdate("a.png", {"visual": visual}, upsert=True)])
        assert not result.errors, result.errors
        backend.refresh("media")
    finally:
        backend.close()


def test_stats_json_names_the_face_model_and_its_dims(tmp_path: Path) -> None:
    _store(tmp_path / "store")
    run = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "store"), "stats", "--json"])
    assert run.exit_code == 0, run.output
    body = json.loads(run.stdout)
    assert (body["model"], body["dims"]) == (SPEC.model, SPEC.dims)
    assert (body["face_model"], body["face_dims"]) == (SPEC.face_model, SPEC.face_dims)
    assert body["documents"] == 1 and body["vectors"]["faces"] == 1
    text = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "store"), "stats"])
    assert text.exit_code == 0, text.output
    assert f"{SPEC.face_model} ({SPEC.face_dims} dims)" in text.stdout


def test_the_cli_and_the_api_share_one_description(tmp_path: Path) -> None:
    """The keys both give are the same values, from IndexStats.to_dict."""
    from es_visual.config import Settings
    from flask_ui import create_app
    from tests.ui.conftest import USERS, login

    _store(tmp_path / "store")
    run = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "store"), "stats", "--json"])
    cli_body = json.loads(run.stdout)
    settings = Settings(data_dir=tmp_path / "store", index="media", users=USERS, secret_key="k")
    client = create_app(settings, {"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()
    assert login(client, "alice").status_code == 302
    api_body = client.get("/api/index").get_json()
    shared = ("index", "documents", "with_visual", "with_errors", "model", "dims")
    shared += ("face_model", "face_dims")
    assert {k: api_body[k] for k in shared} == {k: cli_body[k] for k in shared}
