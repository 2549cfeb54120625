"""A small real index for the UI tests: skimage photos with ACLs, the real offline model,
the embedded store, ingested once per session through es_visual.workflows.ingest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from es_visual.config import Settings

# id -> (skimage file, extra metadata). Readers None = public.
DOCS: dict[str, tuple[str, dict[str, Any]]] = {
    "people/astronaut.png": ("astronaut.png", {"tags": ["person", "space"], "folder": "people"}),
    "animals/chelsea.png": ("chelsea.png", {"tags": ["cat", "animal"], "folder": "animals"}),
    "people/camera.png": ("camera.png", {"tags": ["person", "grayscale"], "folder": "people"}),
    "food/coffee.png": (
        "coffee.png",
        {"tags": ["coffee", "cup"], "folder": "food", "acl": {"read": ["group:science"]}},
    ),
    "space/rocket.jpg": (
        "rocket.jpg",
        {"tags": ["space", "rocket"], "folder": "space", "acl": {"read": ["user:ana"]}},
    ),
}
FORBIDDEN_FOR_BOB = ("food/coffee.png", "space/rocket.jpg")
PASSWORD = "correct horse"


def _hash(password: str) -> str:
    # Few iterations: the tests log in many times; the real default is used in production.
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


USERS = {
    "alice": {"password_hash": _hash(PASSWORD), "groups": ["admin"]},
    "bob": {"password_hash": _hash(PASSWORD), "groups": []},
    "ana": {"password_hash": _hash(PASSWORD), "groups": ["science"]},
}


@pytest.fixture(scope="session")
def ui_data(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    """(data_dir, backend) with DOCS ingested; shared read-only by the UI tests."""
    from es_visual.backends.embedded import EmbeddedBackend

    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    data_dir = tmp_path_factory.mktemp("ui-data")
    media = data_dir / "media"
    lines = []
    for doc_id, (name, meta) in DOCS.items():
        dest = media / doc_id
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(skimage_dir / name, dest)
        lines.append(json.dumps({"id": doc_id, "path": str(dest), **meta}))
    manifest = data_dir / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(data_dir=data_dir / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_manifest(manifest),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
    )
    assert report.failed == 0, report.to_dict()
    yield data_dir, backend
    backend.close()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=data_dir / "store", index="media", users=USERS, secret_key="test-secret"
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app(ui_data, mobilenet):
    from flask_ui import create_app

    data_dir, backend = ui_data
    app = create_app(
        make_settings(data_dir),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, name: str, password: str = PASSWORD):
    return client.post("/login", data={"username": name, "password": password})


@pytest.fixture
def as_bob(client):
    assert login(client, "bob").status_code == 302
    return client


@pytest.fixture
def as_ana(client):
    assert login(client, "ana").status_code == 302
    return client


@pytest.fixture
def as_alice(client):
    assert login(client, "alice").status_code == 302
    return client
