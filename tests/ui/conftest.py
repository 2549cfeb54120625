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
# A public video: these samples one after another, VIDEO_SHOT_SECONDS each, so the
# motorcycle is on screen from 2 s to 4 s.
VIDEO_ID = "video/slideshow.mp4"
VIDEO_SHOTS = ("horse.png", "motorcycle_left.png", "moon.png")
VIDEO_SHOT_SECONDS = 2.0
MOTORCYCLE_SECONDS = (2.0, 4.0)
PASSWORD = "correct horse"


def _hash(password: str) -> str:
    # Few iterations: the tests log in many times; the real default is used in production.
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


USERS = {
    "alice": {"password_hash": _hash(PASSWORD), "groups": ["admin"]},
    "bob": {"password_hash": _hash(PASSWORD), "groups": []},
    "ana": {"password_hash": _hash(PASSWORD), "groups": ["science"]},
}


# root: an admin who is also in the science group (sees the science-only copy).
DUP_USERS = {**USERS, "root": {**USERS["alice"], "groups": ["admin", "science"]}}


@pytest.fixture(scope="session")
def ui_data(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    """(data_dir, backend) with DOCS and the video ingested; shared read-only by the UI tests."""
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.demo import write_slideshow
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
    video = media / VIDEO_ID
    video.parent.mkdir(parents=True, exist_ok=True)
    write_slideshow(
        video, [skimage_dir / n for n in VIDEO_SHOTS], secs=VIDEO_SHOT_SECONDS, size=(320, 208)
    )
    meta = {"tags": ["video", "slideshow"], "folder": "video", "title": "Slideshow"}
    lines.append(json.dumps({"id": VIDEO_ID, "path": str(video), **meta}))
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


@pytest.fixture(scope="session")
def dups_data(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    """(root, backend): the cat three times publicly (two byte-identical copies and a
    half-size JPEG), once more for the science group only, and an unrelated photo."""
    from PIL import Image

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_manifest
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("dups")
    media = root / "media" / "dups"
    media.mkdir(parents=True)
    cat = skimage_dir / "chelsea.png"
    for name in ("chelsea-a.png", "chelsea-b.png", "chelsea-secret.png"):
        shutil.copyfile(cat, media / name)
    with Image.open(cat) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(
            media / "chelsea-small.jpg", "JPEG", quality=70
        )
    shutil.copyfile(skimage_dir / "astronaut.png", media / "astronaut.png")
    lines = []
    for path in sorted(media.iterdir()):
        doc = {"id": f"dups/{path.name}", "path": str(path)}
        if path.name == "chelsea-secret.png":
            doc["acl"] = {"read": ["group:science"]}
        lines.append(json.dumps(doc))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_manifest(root / "manifest.jsonl"),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
    )
    assert report.failed == 0, report.to_dict()
    yield root, backend
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
