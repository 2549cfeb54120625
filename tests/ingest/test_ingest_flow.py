"""Ingest end to end: real sample images, the real offline model, the embedded store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.sources import iter_folder
from es_visual.workflows import ingest

SAMPLES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png"]


@pytest.fixture
def folder(tmp_path: Path, skimage_dir: Path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i, name in enumerate(SAMPLES):
        shutil.copyfile(skimage_dir / name, root / ("sub" if i % 2 else "") / name)
    return root


def run(backend, root: Path, mobilenet, **kw):
    config = PipelineConfig(name="test", model="mobilenet-v2")
    return ingest(backend, "media", iter_folder(root), embedder=mobilenet, pipeline=config, **kw)


def test_ingest_writes_the_visual_object(tmp_path: Path, folder: Path, mobilenet) -> None:
    backend = EmbeddedBackend(tmp_path / "store")
    report = run(backend, folder, mobilenet)
    assert (report.written, report.failed, report.skipped) == (5, 0, 0)
    doc = backend.get("media", "sub/chelsea.png", with_vectors=True)
    visual = doc["visual"]
    assert visual["model"] == mobilenet.tag and visual["pipeline"] == "test"
    assert visual["media_type"] == "image"
    assert (visual["width"], visual["height"]) == (451, 300)
    assert len(visual["content_hash"]) == 64 and visual["indexed_at"]
    assert len(visual["scene"]) == mobilenet.dims
    assert visual.get("error") is None
    stats = backend.stats("media")
    assert (stats.documents, stats.with_visual) == (5, 5)


def test_reingest_is_idempotent_and_edits_are_reembedded(
    tmp_path: Path, folder: Path, mobilenet, skimage_dir: Path
) -> None:
    backend = EmbeddedBackend(tmp_path / "store")
    run(backend, folder, mobilenet)
    before = {i: d for i, d in backend.iter_docs("media")}
    again = run(backend, folder, mobilenet)
    assert (again.written, again.skipped) == (0, 5)
    assert {i: d for i, d in backend.iter_docs("media")} == before

    # Edit one file in place: only it is embedded again.
    shutil.copyfile(skimage_dir / "moon.png", folder / "coffee.png")
    edited = run(backend, folder, mobilenet)
    assert (edited.written, edited.skipped) == (1, 4)
    assert (
        backend.get("media", "coffee.png")["visual"]["content_hash"]
        != before["coffee.png"]["visual"]["content_hash"]
    )

    # Delete everything and ingest again: the same documents, no duplicates.
    backend.delete("media", list(before))
    run(backend, folder, mobilenet)
    assert sorted(i for i, _ in backend.iter_docs("media")) == sorted(before)


def test_bad_files_are_reported_and_the_rest_written(
    tmp_path: Path, folder: Path, mobilenet
) -> None:
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not a picture")
    good = (folder / "coffee.png").read_bytes()
    (folder / "cut.png").write_bytes(good[: len(good) // 3])
    backend = EmbeddedBackend(tmp_path / "store")
    report = run(backend, folder, mobilenet)
    assert report.written == 5
    failed = {f.id: f.reason for f in report.failures}
    assert set(failed) == {"empty.jpg", "notes.jpg", "cut.png"}
    assert all(reason for reason in failed.values())
    # The failure is on the document too, and the next run tries it again.
    assert backend.get("media", "cut.png")["visual"]["error"]
    (folder / "cut.png").write_bytes(good)
    retry = run(backend, folder, mobilenet)
    assert retry.written == 1 and retry.failed == 2
    assert backend.get("media", "cut.png")["visual"].get("error") is None


def test_manifest_metadata_is_stored_and_user_fields_survive(
    tmp_path: Path, folder: Path, mobilenet
) -> None:
    from es_visual.core.documents import DocUpdate
    from es_visual.ingest.sources import iter_manifest

    backend = EmbeddedBackend(tmp_path / "store")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"id": "cat", "path": "photos/sub/chelsea.png", "tags": ["cat"], '
        '"acl": {"read": ["group:design"]}}\n'
    )
    config = PipelineConfig(name="test", model="mobilenet-v2")
    ingest(backend, "media", iter_manifest(manifest), embedder=mobilenet, pipeline=config)
    backend.bulk_update("media", [DocUpdate("cat", {"owner": "team-b"})])
    ingest(
        backend, "media", iter_manifest(manifest), embedder=mobilenet, pipeline=config, force=True
    )
    doc = backend.get("media", "cat")
    assert doc["tags"] == ["cat"] and doc["acl"] == {"read": ["group:design"]}
    assert doc["owner"] == "team-b"  # a field the user added is never dropped
