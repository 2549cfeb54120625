"""Jobs: ingest a server folder in the background, under the allowed roots only."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from flask_ui.jobrunner import root_namespace
from tests.ui.conftest import login, make_settings


@pytest.fixture
def jobs_app(tmp_path: Path, skimage_dir: Path, mobilenet):
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copyfile(skimage_dir / name, photos / name)
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "outside").mkdir()
    backend = EmbeddedBackend(tmp_path / "store")
    app = create_app(
        make_settings(tmp_path, pipeline="offline"),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
            "INGEST_ROOTS": [str(photos)],
        },
    )
    yield app, photos
    app.extensions["es_visual"].jobs.wait()
    backend.close()


def _wait(client, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_ingest_a_folder_with_progress_and_per_file_errors(jobs_app) -> None:
    app, photos = jobs_app
    client = app.test_client()
    login(client, "alice")
    response = client.post(
        "/jobs/", data={"kind": "folder", "path": str(photos), "readers": "group:science"}
    )
    assert response.status_code == 303
    job_id = response.headers["Location"].split("job=")[1]
    job = _wait(client, job_id)
    assert job["state"] == "done", job
    assert (job["written"], job["failed"], job["total"]) == (3, 1, 4)
    assert job["failures"][0]["origin"].endswith("broken.jpg")
    page = client.get("/jobs/").get_data(as_text=True)
    assert "broken.jpg" in page and "Errors per file" in page
    # Readers given on the form became the documents' ACL.
    client.post("/logout")
    login(client, "bob")
    assert client.get("/api/search").get_json()["hits"] == []
    client.post("/logout")
    login(client, "ana")
    hits = client.get("/api/search").get_json()["hits"]
    # The broken file is a document too, carrying why it failed (visual.error). A job's
    # ids are namespaced by their root (docs/security.md).
    prefix = root_namespace(photos)
    assert sorted(h["id"] for h in hits) == [
        f"{prefix}/broken.jpg",
        f"{prefix}/chelsea.png",
        f"{prefix}/coffee.png",
        f"{prefix}/rocket.jpg",
    ]
    broken = next(h for h in hits if h["id"] == f"{prefix}/broken.jpg")
    assert broken["source"]["visual"]["error"]


def test_folders_outside_the_roots_are_refused(jobs_app, tmp_path: Path) -> None:
    app, photos = jobs_app
    client = app.test_client()
    login(client, "alice")
    for path in (str(tmp_path / "outside"), str(photos / ".." / "outside"), "/etc"):
        response = client.post("/api/jobs", json={"kind": "folder", "path": path})
        assert response.status_code == 400, path
        assert "outside" in response.get_json()["error"]["message"]
    response = client.post(
        "/api/jobs", json={"kind": "folder", "path": str(photos), "readers": "<script>"}
    )
    assert response.status_code == 400
    assert app.extensions["es_visual"].jobs.list() == []


def test_api_job_lifecycle(jobs_app) -> None:
    app, photos = jobs_app
    client = app.test_client()
    login(client, "alice")
    response = client.post("/api/jobs", json={"kind": "folder", "path": str(photos)})
    assert response.status_code == 202
    job = _wait(client, response.get_json()["id"])
    assert job["written"] == 3
    assert [j["id"] for j in client.get("/api/jobs").get_json()["jobs"]] == [job["id"]]


class GatedEmbedder:
    """The real model, but each embedding call waits for ``gate``: the test holds the job
    mid-run to look at it. Everything else is the model's own."""

    def __init__(self, model, gate: threading.Event) -> None:
        self._model, self._gate = model, gate

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def embed_images(self, images):
        assert self._gate.wait(60), "the test never opened the gate"
        return self._model.embed_images(images)


def test_per_file_errors_show_while_the_job_runs(tmp_path: Path, skimage_dir: Path, mobilenet):
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "0-broken.jpg").write_bytes(b"not a jpeg at all")  # first in folder order
    for name in ("chelsea.png", "coffee.png"):
        shutil.copyfile(skimage_dir / name, photos / name)
    gate = threading.Event()
    backend = EmbeddedBackend(tmp_path / "store")
    app = create_app(
        make_settings(tmp_path, pipeline="offline", batch_size=1),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": GatedEmbedder(mobilenet, gate),
            "INGEST_ROOTS": [str(photos)],
        },
    )
    try:
        client = app.test_client()
        login(client, "alice")
        job_id = client.post("/api/jobs", json={"kind": "folder", "path": str(photos)}).get_json()[
            "id"
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}").get_json()
            if job["failed"]:
                break
            time.sleep(0.05)
        # The good files wait at the gate, so the job is still running: the error is live.
        assert job["state"] == "running", job
        assert job["failures"][0]["origin"].endswith("0-broken.jpg")
        page = client.get("/jobs/").get_data(as_text=True)
        assert "0-broken.jpg" in page and 'class="job job-running"' in page
        # Searches and pages answer while the job holds the store and the model.
        assert client.get("/index/").status_code == 200
        gate.set()
        job = _wait(client, job_id)
        assert (job["state"], job["written"], job["failed"]) == ("done", 2, 1)
    finally:
        gate.set()
        app.extensions["es_visual"].jobs.wait()
        backend.close()
