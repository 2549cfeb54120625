"""Sources: stable ids, manifest metadata, bad lines reported with their number."""

from __future__ import annotations

import json
from pathlib import Path

from es_visual.ingest.sources import Asset, SourceError, iter_folder, iter_index, iter_manifest


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_ids_are_relative_posix_paths_in_stable_order(tmp_path: Path) -> None:
    touch(tmp_path / "b" / "z.png")
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "b" / "c" / "y.MP4")
    touch(tmp_path / "notes.txt")  # not media: ignored, not an error
    touch(tmp_path / ".hidden" / "x.png")
    ids = [a.id for a in iter_folder(tmp_path)]
    assert ids == ["a.jpg", "b/z.png", "b/c/y.MP4"]  # a folder's files, then its subfolders
    assert all(a.path.is_absolute() for a in iter_folder(tmp_path))


def test_manifest_jsonl_keeps_metadata_and_reports_bad_lines(tmp_path: Path) -> None:
    touch(tmp_path / "photos" / "a1.jpg")
    lines = [
        json.dumps(
            {
                "id": "a1",
                "path": "photos/a1.jpg",
                "tags": ["beach"],
                "acl": {"read": ["group:design"]},
                "caption": "sea",
            }
        ),
        "{not json",
        json.dumps({"id": "a2", "tags": ["x"]}),
        json.dumps(["a", "list"]),
        json.dumps({"path": "photos/b.jpg"}),
        json.dumps({"id": "a1", "path": "photos/again.jpg"}),
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    items = list(iter_manifest(manifest))
    assets = [i for i in items if isinstance(i, Asset)]
    errors = [i for i in items if isinstance(i, SourceError)]
    assert [a.id for a in assets] == ["a1", "photos/b.jpg"]
    assert assets[0].metadata == {
        "tags": ["beach"],
        "acl": {"read": ["group:design"]},
        "caption": "sea",
    }
    assert assets[0].path == (tmp_path / "photos" / "a1.jpg").resolve()
    assert [e.origin for e in errors] == ["m.jsonl:2", "m.jsonl:3", "m.jsonl:4", "m.jsonl:6"]
    assert "not valid JSON" in errors[0].reason
    assert "path" in errors[1].reason
    assert "duplicate id" in errors[3].reason


def test_manifest_csv_and_base_dir(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path,folder\nk1,x/1.png,trips\nk2,x/2.png,,extra\n")
    items = list(iter_manifest(manifest, base_dir=Path("/srv/media")))
    assert isinstance(items[0], Asset)
    assert items[0].metadata == {"folder": "trips"}
    assert items[0].path == Path("/srv/media/x/1.png")
    assert isinstance(items[1], SourceError) and items[1].origin == "m.csv:3"


class FakeIndexReader:
    """Stands in for a backend's iter_docs: the source only needs that one call."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.docs = docs

    def iter_docs(self, index: str, **kwargs):
        yield from self.docs.items()


def test_index_source_reads_the_path_field(tmp_path: Path) -> None:
    reader = FakeIndexReader({"d1": {"file": {"path": "a.jpg"}}, "d2": {"other": 1}})
    items = list(iter_index(reader, "media", path_field="file.path", base_dir=tmp_path))
    assert isinstance(items[0], Asset) and items[0].path == tmp_path / "a.jpg"
    assert items[0].metadata == {}
    assert isinstance(items[1], SourceError) and "file.path" in items[1].reason
