"""find_duplicates / `es-visual dups`: exact and near groups, keepers, filters, ACL, backends."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.documents import DocUpdate, VisualSpec
from es_visual.duplicates import default_threshold, find_duplicates
from es_visual.errors import QueryError
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=3)

_spec = importlib.util.spec_from_file_location(
    "_dups_noida", Path(__file__).parent / "backends" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_noida = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_noida)
noida_url = _noida.noida_url


def _near(angle_deg: float) -> list[float]:
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a), 0.0]


# id -> (vector, content hash, width, height, indexed_at, acl, folder)
DOCS: dict[str, tuple[Any, ...]] = {
    # a picture, an exact copy of it (same bytes), and a smaller re-encode (cos 0.995)
    "cat.jpg": (_near(0), "h-cat", 800, 600, "2024-01-02T00:00:00+00:00", ["public"], "a"),
    "cat-copy.jpg": (_near(0), "h-cat", 800, 600, "2024-01-01T00:00:00+00:00", ["public"], "b"),
    "cat-small.jpg": (
        _near(5.7),
        "h-cat-s",
        400,
        300,
        "2023-01-01T00:00:00+00:00",
        ["public"],
        "a",
    ),
    # a chain: x0 ~ x1 ~ x2 (each 0.9848 apart), x0 and x2 only 0.94
    "x0.jpg": ([0, 1, 0], "h-x0", 100, 100, "2024-01-01T00:00:00+00:00", ["user:bob"], "a"),
    "x1.jpg": ([0, math.cos(0.1745), math.sin(0.1745)], "h-x1", 100, 100, None, ["user:bob"], "a"),
    "x2.jpg": ([0, math.cos(0.349), math.sin(0.349)], "h-x2", 200, 100, None, ["public"], "a"),
    # alone
    "dog.jpg": ([0, 0, 1.0], "h-dog", 640, 480, None, ["public"], "a"),
    "far.jpg": ([-1.0, 0, 0], "h-far", 640, 480, None, ["public"], "a"),
}


def _write(backend: Any, index: str) -> None:
    backend.ensure_index(index, SPEC)
    updates = []
    for doc_id, (vec, h, w, ht, when, acl, folder) in DOCS.items():
        visual = {
            "scene": vec,
            "content_hash": h,
            "width": w,
            "height": ht,
            "media_type": "image",
            "model": SPEC.model,
        }
        if when:
            visual["indexed_at"] = when
        updates.append(
            DocUpdate(doc_id, {"visual": visual, "acl": {"read": acl}, "folder": folder})
        )
    # A document without vectors (its ingest failed) is never a duplicate.
    updates.append(DocUpdate("broken.jpg", {"visual": {"error": "analyze: truncated"}}))
    assert backend.bulk_update(index, updates).ok
    backend.refresh(index)


@pytest.fixture
def store(tmp_path: Path):
    backend = EmbeddedBackend(tmp_path / "store")
    _write(backend, "media")
    yield backend
    backend.close()


def _groups(report) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [(g.kind, [m.id for m in g.members]) for g in report.groups]


def test_exact_and_near_groups_with_keepers(store) -> None:
    report = find_duplicates(store, "media", threshold=0.97)
    assert _groups(report) == [
        # largest first; within a size, the oldest; cat-small is smaller
        ("near", ["cat-copy.jpg", "cat.jpg", "cat-small.jpg"]),
        # the chain joins x0 and x2 through x1; x2 has the largest resolution
        ("near", ["x2.jpg", "x0.jpg", "x1.jpg"]),
    ]
    cat = report.groups[0]
    assert cat.keeper.keeper and cat.members[1].exact and cat.members[1].similarity == 1.0
    assert cat.members[2].similarity == pytest.approx(math.cos(math.radians(5.7)), abs=1e-4)
    chain = report.groups[1]
    assert chain.members[1].similarity == pytest.approx(math.cos(0.349), abs=1e-3)  # below 0.97
    assert report.scanned == 8 and report.total_groups == 2
    assert report.queries == 7  # cat and cat-copy share one query


def test_a_video_is_never_the_duplicate_of_a_photo(store) -> None:
    """A video's scene vector is its representative frame: a slideshow that opens on the
    cat photo scores 1.0 against it, yet deleting either for the other would be wrong."""

    def video(doc_id: str, vector: list[float], digest: str) -> DocUpdate:
        visual = {"scene": vector, "content_hash": digest, "media_type": "video"}
        return DocUpdate(doc_id, {"visual": {**visual, "width": 320, "height": 240}})

    updates = [video("cat-show.mp4", _near(0), "h-v1"), video("cat-show-2.mp4", _near(1), "h-v2")]
    assert store.bulk_update("media", updates).ok
    store.refresh("media")
    report = find_duplicates(store, "media", threshold=0.97)
    assert _groups(report) == [
        ("near", ["cat-copy.jpg", "cat.jpg", "cat-small.jpg"]),
        ("near", ["x2.jpg", "x0.jpg", "x1.jpg"]),
        ("near", ["cat-show-2.mp4", "cat-show.mp4"]),  # two copies of one video still are
    ]


def test_exact_only_when_the_threshold_is_strict(store) -> None:
    report = find_duplicates(store, "media", threshold=0.9999)
    assert _groups(report) == [("exact", ["cat-copy.jpg", "cat.jpg"])]


def test_where_acl_and_limit(store) -> None:
    base = Search("media")
    assert _groups(find_duplicates(store, base.where("folder:a"), threshold=0.97)) == [
        ("near", ["x2.jpg", "x0.jpg", "x1.jpg"]),
        ("near", ["cat.jpg", "cat-small.jpg"]),
    ]
    # Someone who cannot read x0/x1 never sees them, nor a group built through them.
    alice = find_duplicates(store, base.as_user("alice"), threshold=0.97)
    assert _groups(alice) == [("near", ["cat-copy.jpg", "cat.jpg", "cat-small.jpg"])]
    limited = find_duplicates(store, "media", threshold=0.97, limit_groups=1)
    assert len(limited.groups) == 1 and limited.total_groups == 2


def test_default_threshold_and_errors(store, tmp_path: Path) -> None:
    assert default_threshold("mobilenet-v2@imagenet1k-v1") == 0.75
    assert default_threshold("unknown@1") == 0.95
    assert find_duplicates(store, "media").threshold == 0.95
    with pytest.raises(QueryError, match="no visual vectors"):
        find_duplicates(store, "nothing-here")
    with pytest.raises(QueryError, match="threshold"):
        find_duplicates(store, "media", threshold=1.5)


def test_cli_json_and_table(store, tmp_path: Path) -> None:
    store.close()
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "store"), "dups", "--threshold", "0.97"]
    res = runner.invoke(cli, [*args, "--json", "--as-user", "alice"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["total_groups"] == 1 and data["groups"][0]["keeper"] == "cat-copy.jpg"
    member = data["groups"][0]["members"][2]
    assert set(member) >= {"id", "width", "height", "bytes", "indexed_at", "similarity"}
    res = runner.invoke(cli, [*args, "--limit-groups", "1"])
    assert res.exit_code == 0 and "keep" in res.output and "(showing 1)" in res.output
    res = runner.invoke(cli, [*args, "--groups", "g1"])
    assert res.exit_code == 2 and "--as-user" in res.output


def test_on_the_elasticsearch_api(noida_url: str) -> None:
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(noida_url, timeout=30)
    index = "dups-test"
    try:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        _write(backend, index)
        report = find_duplicates(backend, Search(index).as_user("alice"), threshold=0.97)
        assert _groups(report) == [("near", ["cat-copy.jpg", "cat.jpg", "cat-small.jpg"])]
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
