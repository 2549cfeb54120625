"""What admins see still respects ACLs; server paths are for admins only.

Before the fix: the jobs page and API listed every job's failures (ids and errors
of documents kept from the viewer), the index stats counted documents the admin
could not read, and every reader got ``visual.path`` (an absolute server path)
in the API's sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.security.test_ui_jobs import USERS, as_user, ns, run_job
from tests.ui.conftest import make_settings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path, mobilenet):
    """carol's job made secret/ (2 photos, 1 broken file) readable by group:secret;
    alice's job made open/ (2 photos, 1 broken file) public."""
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    tmp = tmp_path_factory.mktemp("admin-views")
    root = tmp / "photos"
    for sub, samples in (
        ("secret", ("chelsea.png", "coffee.png")),
        ("open", ("camera.png", "moon.png")),
    ):
        (root / sub).mkdir(parents=True)
        for name in samples:
            shutil.copyfile(skimage_dir / name, root / sub / name)
        (root / sub / f"broken-{sub}.jpg").write_bytes(b"not a jpeg")
    backend = EmbeddedBackend(tmp / "store")
    app = create_app(
        make_settings(tmp, pipeline="offline", users=USERS),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
            "INGEST_ROOTS": [str(root)],
        },
    )
    secret_job = run_job(
        as_user(app, "carol"), kind="folder", path=str(root / "secret"), readers="group:secret"
    )
    open_job = run_job(as_user(app, "alice"), kind="folder", path=str(root / "open"))
    yield app, root, secret_job, open_job
    backend.close()


def test_job_reports_show_only_readable_failures(world, attacks) -> None:
    app, root, secret_job, open_job = world
    secret_id = f"{ns(root)}/secret/broken-secret.jpg"
    assert [f["id"] for f in secret_job["failures"]] == [secret_id]  # carol sees her own
    alice = as_user(app, "alice")
    seen = {
        "/api/jobs": alice.get("/api/jobs").get_data(as_text=True),
        "/api/jobs/<id>": alice.get(f"/api/jobs/{secret_job['id']}").get_data(as_text=True),
        "/jobs/": alice.get("/jobs/").get_data(as_text=True),
    }
    leaks = [where for where, text in seen.items() if "broken-secret" in text]
    attacks.record("admin views: job reports", tried=len(seen), failed=len(leaks))
    assert not leaks, leaks
    job = alice.get(f"/api/jobs/{secret_job['id']}").get_json()
    assert job["failures"] == [] and job["failed"] == 0
    # Alice's own job, and what she may read of carol's, are there in full.
    mine = alice.get(f"/api/jobs/{open_job['id']}").get_json()
    assert [f["id"] for f in mine["failures"]] == [f"{ns(root)}/open/broken-open.jpg"]
    carol = as_user(app, "carol")
    assert "broken-secret" in carol.get("/jobs/").get_data(as_text=True)


def test_index_stats_count_what_the_caller_can_read(world, attacks) -> None:
    app, *_ = world
    alice = as_user(app, "alice").get("/api/index").get_json()
    carol = as_user(app, "carol").get("/api/index").get_json()
    want_alice = {"documents": 3, "with_visual": 2, "with_errors": 1}
    want_carol = {"documents": 6, "with_visual": 4, "with_errors": 2}
    got_alice = {k: alice[k] for k in want_alice}
    got_carol = {k: carol[k] for k in want_carol}
    attacks.record(
        "admin views: index stats",
        tried=len(want_alice) + 1,
        failed=sum(got_alice[k] != v for k, v in want_alice.items())
        + int(alice["vectors"].get("scene") != 2),
    )
    assert got_alice == want_alice and alice["vectors"]["scene"] == 2, alice
    assert got_carol == want_carol and carol["vectors"]["scene"] == 4, carol
    assert "disk_bytes" not in alice["extra"]  # whole-index sizes are not shown either
    page = as_user(app, "alice").get("/index/").get_data(as_text=True)
    assert 'id="stat-documents">3<' in page


def test_server_paths_are_for_admins_only(world, attacks) -> None:
    app, root, *_ = world
    doc_id = f"{ns(root)}/open/camera.png"
    bob = as_user(app, "bob")
    bodies = {
        "search": bob.get("/api/search").get_data(as_text=True),
        "similar": bob.get(f"/api/similar/{doc_id}").get_data(as_text=True),
        "asset": bob.get(f"/api/assets/{doc_id}").get_data(as_text=True),
        "asset page": bob.get(f"/assets/{doc_id}").get_data(as_text=True),
    }
    leaks = [where for where, text in bodies.items() if str(root) in text]
    attacks.record("admin views: server paths to readers", tried=len(bodies), failed=len(leaks))
    assert not leaks, leaks
    assert bob.get(f"/media/original/{doc_id}").status_code == 200  # the file itself: yes
    alice = as_user(app, "alice")
    source: dict[str, Any] = alice.get(f"/api/assets/{doc_id}").get_json()["source"]
    assert source["visual"]["path"] == str(root / "open" / "camera.png")
