"""UI ingest jobs cannot take over documents, replace ACLs or read outside their root.

Before the fix: a folder job's ids were paths relative to the folder, so a job
over a folder holding ``cat.png`` replaced the media, vectors and ACL of any
document called ``cat.png``; the job's readers replaced existing ACLs; a
re-analysis re-embedded documents its user could not read; a symlink to a file
outside the root was ingested and served.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from es_visual.ingest.sources import Asset
from tests.ui.conftest import PASSWORD, _hash, login, make_settings

USERS = {
    "alice": {"password_hash": _hash(PASSWORD), "groups": ["admin"]},
    "carol": {"password_hash": _hash(PASSWORD), "groups": ["admin", "secret"]},
    "bob": {"password_hash": _hash(PASSWORD), "groups": []},
}
FILES = {"cat.png": "chelsea.png", "coffee.png": "coffee.png", "deep/camera.png": "camera.png"}


@pytest.fixture
def world(tmp_path: Path, skimage_dir: Path, mobilenet):
    """(app, root, outside): a root of three photos, a folder outside it with a secret
    photo, the embedded store, users alice (admin), carol (admin, secret), bob."""
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    root = tmp_path / "photos"
    for rel, sample in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(skimage_dir / sample, root / rel)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(skimage_dir / "astronaut.png", outside / "secret.png")
    backend = EmbeddedBackend(tmp_path / "store")
    app = create_app(
        make_settings(tmp_path, pipeline="offline", users=USERS),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
            "INGEST_ROOTS": [str(root)],
        },
    )
    yield app, root, outside
    app.extensions["es_visual"].jobs.wait()
    backend.close()


def as_user(app: Any, name: str) -> Any:
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


def run_job(client: Any, **form: Any) -> dict[str, Any]:
    response = client.post("/api/jobs", json=form)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "failed"):
            assert job["state"] == "done", job
            return job
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def ns(root: Path) -> str:
    from flask_ui.jobrunner import root_namespace

    return root_namespace(root)


def docs(app: Any) -> dict[str, dict[str, Any]]:
    state = app.extensions["es_visual"]
    return dict(state.backend().iter_docs(state.index))


def plant_secret(app: Any, doc_id: str, path: Path, mobilenet: Any) -> None:
    """A secret asset ingested by the CLI path: readable by group:secret only."""
    from es_visual.workflows import ingest, load_pipeline

    state = app.extensions["es_visual"]
    asset = Asset(doc_id, path.resolve(), {"acl": {"read": ["group:secret"]}}, origin=str(path))
    report = ingest(
        state.backend(),
        state.index,
        [asset],
        embedder=mobilenet,
        pipeline=load_pipeline(state.settings),
    )
    assert report.failed == 0


def test_job_ids_are_namespaced_so_a_job_cannot_hit_a_cli_asset(world, mobilenet, attacks) -> None:
    app, root, outside = world
    for rel in FILES:  # secret CLI assets named like every file of the root
        plant_secret(app, rel, outside / "secret.png", mobilenet)
    before = docs(app)
    job = run_job(as_user(app, "alice"), kind="folder", path=str(root), force="1")
    after = docs(app)
    problems = [rel for rel in FILES if after[rel] != before[rel]]
    attacks.record("UI jobs: id collisions with CLI assets", tried=len(FILES), failed=len(problems))
    assert not problems, f"secret assets changed by alice's job: {problems}"
    assert job["written"] == len(FILES)
    assert {f"{ns(root)}/{rel}" for rel in FILES} <= set(after)


def test_roots_with_one_name_do_not_share_ids(tmp_path: Path, skimage_dir: Path, mobilenet) -> None:
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    roots = [tmp_path / "a" / "photos", tmp_path / "b" / "photos"]
    for root, sample in zip(roots, ("chelsea.png", "coffee.png"), strict=True):
        root.mkdir(parents=True)
        shutil.copyfile(skimage_dir / sample, root / "x.png")
    with EmbeddedBackend(tmp_path / "store") as backend:
        app = create_app(
            make_settings(tmp_path, pipeline="offline", users=USERS),
            test_config={
                "TESTING": True,
                "WTF_CSRF_ENABLED": False,
                "ES_VISUAL_BACKEND": backend,
                "ES_VISUAL_EMBEDDER": mobilenet,
                "INGEST_ROOTS": [str(r) for r in roots],
            },
        )
        client = as_user(app, "alice")
        for root in roots:
            run_job(client, kind="folder", path=str(root))
        ids = {doc_id for doc_id, _ in backend.iter_docs("media")}
        assert ids == {f"{ns(roots[0])}/x.png", f"{ns(roots[1])}/x.png"}
        # A job on a sub-folder names files by their path under the root, as a job on
        # the root does: one document per file, whatever folder the job was given.
        (roots[0] / "sub").mkdir()
        shutil.copyfile(skimage_dir / "camera.png", roots[0] / "sub" / "y.png")
        run_job(client, kind="folder", path=str(roots[0] / "sub"))
        run_job(client, kind="folder", path=str(roots[0]))
        ids = {doc_id for doc_id, _ in backend.iter_docs("media")}
        assert f"{ns(roots[0])}/sub/y.png" in ids and len(ids) == 3
        app.extensions["es_visual"].jobs.wait()


def test_a_job_cannot_write_a_document_its_user_cannot_read(world, attacks) -> None:
    """The issue's attack: carol's job made the root's documents secret; alice (admin,
    not in group:secret) runs a job over the same files, readers "public", forced."""
    app, root, _ = world
    run_job(as_user(app, "carol"), kind="folder", path=str(root), readers="group:secret")
    before = docs(app)
    alice = as_user(app, "alice")
    job = run_job(alice, kind="folder", path=str(root), readers="public", force="1")
    after = docs(app)
    changed = [doc_id for doc_id in before if after[doc_id] != before[doc_id]]
    refused = [f for f in job["failures"] if "may not write" in f["reason"]]
    attacks.record("UI jobs: take over unreadable documents", tried=len(FILES), failed=len(changed))
    assert not changed, changed
    assert job["written"] == 0 and len(refused) == len(FILES), job
    # And none of them became readable to bob.
    bob = as_user(app, "bob")
    assert bob.get("/api/search").get_json()["hits"] == []


def test_a_job_respects_a_write_acl(world, attacks) -> None:
    """A document alice may read but whose acl.write names only the editors group is
    not hers to re-ingest (the product's one meaning of "write": AclPolicy.writable_filter)."""
    from es_visual.core.documents import DocUpdate

    app, root, _ = world
    alice = as_user(app, "alice")
    run_job(alice, kind="folder", path=str(root))
    state = app.extensions["es_visual"]
    guarded = f"{ns(root)}/cat.png"
    state.backend().bulk_update(
        state.index, [DocUpdate(guarded, {"acl": {"write": ["group:editors"]}})]
    )
    before = docs(app)[guarded]
    job = run_job(alice, kind="folder", path=str(root), force="1")
    refused = [f["id"] for f in job["failures"] if "may not write" in f["reason"]]
    attacks.record("UI jobs: write ACL", tried=1, failed=int(docs(app)[guarded] != before))
    assert refused == [guarded] and docs(app)[guarded] == before
    assert job["written"] == len(FILES) - 1


def test_a_jobs_readers_never_replace_an_existing_acl(world, attacks) -> None:
    app, root, _ = world
    alice = as_user(app, "alice")
    run_job(alice, kind="folder", path=str(root), readers="user:alice")
    job = run_job(alice, kind="folder", path=str(root), readers="public", force="1")
    acls = {doc_id: doc.get("acl") for doc_id, doc in docs(app).items()}
    replaced = [d for d, acl in acls.items() if acl != {"read": ["user:alice"]}]
    attacks.record("UI jobs: readers replacing an ACL", tried=len(FILES), failed=len(replaced))
    assert not replaced, acls
    assert job["written"] == len(FILES) and job["kept_readers"] == len(FILES)
    assert "kept their own readers" in alice.get("/jobs/").get_data(as_text=True)
    # Without readers, a job leaves ACLs alone too (nothing to keep, nothing counted).
    job = run_job(alice, kind="folder", path=str(root), force="1")
    assert job["kept_readers"] == 0
    assert all(doc.get("acl") == {"read": ["user:alice"]} for doc in docs(app).values())


def test_a_reanalysis_touches_only_what_its_user_can_read(world, attacks) -> None:
    app, root, _ = world
    run_job(as_user(app, "carol"), kind="folder", path=str(root / "deep"), readers="group:secret")
    alice = as_user(app, "alice")
    run_job(alice, kind="folder", path=str(root), readers="")  # the rest: public
    state = app.extensions["es_visual"]
    from es_visual.core.documents import DocUpdate

    every = docs(app)
    # Mark every document; a re-analysis rewrites the mark of what it touches.
    state.backend().bulk_update(
        state.index, [DocUpdate(d, {"visual": {"pipeline": "marked"}}) for d in every]
    )
    job = run_job(alice, kind="reindex")
    after = docs(app)
    secret = f"{ns(root)}/deep/camera.png"
    touched = [d for d in every if after[d]["visual"]["pipeline"] != "marked"]
    attacks.record(
        "UI jobs: re-analysis of unreadable documents", tried=1, failed=secret in touched
    )
    assert secret not in touched
    assert sorted(touched) == sorted(d for d in every if d != secret)
    assert job["total"] == len(every) - 1 and job["failed"] == 0


def test_a_symlink_out_of_the_root_is_refused_per_file(world, attacks) -> None:
    app, root, outside = world
    (root / "link.png").symlink_to(outside / "secret.png")  # absolute
    (root / "deep" / "rel.png").symlink_to(Path("..", "..", "outside", "secret.png"))
    (root / "alias.png").symlink_to(root / "cat.png")  # inside the root: fine
    alice = as_user(app, "alice")
    job = run_job(alice, kind="folder", path=str(root))
    failed = {f["origin"].rsplit("/", 1)[-1]: f["reason"] for f in job["failures"]}
    stored = docs(app)
    leaked = [
        name
        for name in ("link.png", "rel.png")
        if "outside the ingest root" not in failed.get(name, "")
        or any(doc_id.endswith(name) for doc_id in stored)
    ]
    attacks.record("UI jobs: symlinks out of the root", tried=2, failed=len(leaked))
    assert not leaked, (failed, sorted(stored))
    assert f"{ns(root)}/alias.png" in stored
    assert job["written"] == len(FILES) + 1
    for doc_id in stored:  # nothing outside the root is served
        assert str(outside) not in stored[doc_id]["visual"].get("path", "")


def test_a_file_swapped_for_a_symlink_after_ingest_is_not_served(world, attacks) -> None:
    app, root, outside = world
    alice = as_user(app, "alice")
    run_job(alice, kind="folder", path=str(root))
    doc_id = f"{ns(root)}/cat.png"
    assert alice.get(f"/media/original/{doc_id}").status_code == 200
    os.unlink(root / "cat.png")
    (root / "cat.png").symlink_to(outside / "secret.png")
    response = alice.get(f"/media/original/{doc_id}")
    thumb = alice.get(f"/media/thumb/{doc_id}?size=640")
    attacks.record(
        "UI media: a file swapped for a symlink",
        tried=2,
        failed=int(response.status_code != 404) + int(thumb.status_code != 404),
    )
    assert response.status_code == 404 and thumb.status_code == 404


def test_a_symlink_loop_fails_that_file_only(world, attacks) -> None:
    app, root, _ = world
    (root / "loop.png").symlink_to(root / "loop.png")
    (root / "deep" / "a.png").symlink_to(root / "deep" / "b.png")
    (root / "deep" / "b.png").symlink_to(root / "deep" / "a.png")
    job = run_job(as_user(app, "alice"), kind="folder", path=str(root))
    failed = {f["origin"].rsplit("/", 1)[-1]: f["reason"] for f in job["failures"]}
    missed = [name for name in ("loop.png", "a.png", "b.png") if "loop" not in failed.get(name, "")]
    attacks.record("UI jobs: symlink loops", tried=3, failed=len(missed))
    assert not missed, failed
    assert job["written"] == len(FILES)
