"""What a user relies on from every store, run on the embedded one and each live engine.

Each test names the bug it keeps away (issue: the cluster code had only met a
one-shard fake): vectors read back for "find similar" (Elasticsearch 9.2+ leaves
them out of ``_source``), pages that neither repeat nor skip across shards, a read
that outlives a slow caller, metadata removed and replaced, a document deleted
while ingest runs that is not re-created, a reindex that loses no user edit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import CursorError
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=3)


def _doc(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "title": f"doc {i}",
        "rank": i,
        "acl": {"read": ["public"]},
        "visual": {
            "width": i % 3,  # many ties: the tiebreaker decides the pages
            "model": SPEC.model,
            "media_type": "image",
            "scene": [1.0, i / 50.0, 0.5],
            "regions": [{"kind": "box", "bbox": [0, 0, 1, 1], "vector": [0.0, 1.0, i / 50.0]}],
        },
        **extra,
    }


def _fill(backend: Any, index: str, n: int) -> dict[str, dict[str, Any]]:
    backend.ensure_index(index, SPEC)
    docs = {f"d{i:03d}": _doc(i) for i in range(n)}
    result = backend.bulk_update(index, [DocUpdate(i, d) for i, d in docs.items()])
    assert result.ok, result.errors
    backend.refresh(index)
    return docs


def test_vectors_come_back_for_find_similar(backend, index_name) -> None:
    _fill(backend, index_name, 6)
    doc = backend.get(index_name, "d003", with_vectors=True)
    assert doc is not None
    assert doc["visual"]["scene"] == pytest.approx([1.0, 0.06, 0.5], abs=1e-5)
    assert doc["visual"]["regions"][0]["vector"] == pytest.approx([0.0, 1.0, 0.06], abs=1e-5)
    assert "scene" not in (backend.get(index_name, "d003") or {})["visual"]
    walked = dict(backend.iter_docs(index_name, with_vectors=True))
    assert walked["d005"]["visual"]["scene"] == pytest.approx([1.0, 0.1, 0.5], abs=1e-5)
    # Find similar and region search read the stored vectors the same way.
    s = Search(index_name).as_user("u1").limit(3)
    nearest = s.similar_to(asset="d003").execute(backend).hits
    assert nearest[0].id in ("d002", "d004")  # its two neighbours, equally near
    hits = s.similar_to(region=("d003", (0.0, 0.0, 1.0, 1.0))).execute(backend).hits
    assert hits and hits[0].id != "d003"


def test_pages_neither_repeat_nor_skip_across_shards(backend, index_name) -> None:
    docs = _fill(backend, index_name, 57)
    s = Search(index_name).as_user("u1").sort_by("width", "desc").limit(5)
    seen: list[str] = []
    result = s.execute(backend)
    while True:
        seen += [h.id for h in result.hits]
        if not result.next_cursor:
            break
        result = s.after(result.next_cursor).execute(backend)
    assert sorted(seen) == sorted(docs)  # every one exactly once
    first = s.execute(backend).next_cursor
    assert first
    for other in (s.where("width>1"), s.as_user("u2"), s.sort_by("height", "desc")):
        with pytest.raises(CursorError, match="another search"):
            other.after(first).execute(backend)
    ranks = [docs[i]["visual"]["width"] for i in seen]
    assert ranks == sorted(ranks, reverse=True)


def test_a_walk_outlives_a_slow_caller(backend, index_name) -> None:
    if backend.name == "embedded":
        pytest.skip("the embedded store reads from its own file: nothing expires")
    from es_visual.backends.cluster.backend import PageClock

    _fill(backend, index_name, 40)
    floor, first = PageClock.FLOOR_S, PageClock.FIRST_PAGE
    PageClock.FLOOR_S, PageClock.FIRST_PAGE = 1.0, 4
    try:
        got = []
        for doc_id, _ in backend.iter_docs(index_name, batch_size=8):
            got.append(doc_id)
            if len(got) <= 4:
                time.sleep(0.3)  # 1.2 s on the first page: past the 1 s floor
    finally:
        PageClock.FLOOR_S, PageClock.FIRST_PAGE = floor, first
    assert sorted(got) == [f"d{i:03d}" for i in range(40)]


def test_metadata_is_removed_and_replaced(backend, index_name) -> None:
    _fill(backend, index_name, 3)
    update = DocUpdate(
        "d001",
        {"title": "renamed", "acl": {"read": ["user:u1"]}},
        unset=("title", "acl", "rank"),
    )
    result = backend.bulk_update(index_name, [update])
    assert result.ok, result.errors
    backend.refresh(index_name)
    doc = backend.get(index_name, "d001", with_vectors=True)
    assert doc["title"] == "renamed" and doc["acl"] == {"read": ["user:u1"]}
    assert "rank" not in doc
    assert doc["visual"]["scene"] == pytest.approx([1.0, 0.02, 0.5], abs=1e-5)  # kept
    readable = Search(index_name).as_user("u2").execute(backend).hits
    assert "d001" not in {h.id for h in readable}


def test_a_document_deleted_meanwhile_is_not_recreated(backend, index_name) -> None:
    _fill(backend, index_name, 3)
    assert backend.delete(index_name, ["d002"]) == 1
    backend.refresh(index_name)
    late = DocUpdate("d002", {"visual": {"model": SPEC.model, "content_hash": "x"}}, upsert=False)
    result = backend.bulk_update(index_name, [late])
    assert not result.ok and result.errors[0].id == "d002"
    backend.refresh(index_name)
    assert backend.get(index_name, "d002") is None
    assert backend.stats(index_name).documents == 2


def test_reindex_loses_no_edit_made_while_it_runs(
    backend, index_name, tmp_path: Path, skimage_dir: Path, mobilenet
) -> None:
    import shutil

    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.reindex import plan_reindex, run_reindex
    from es_visual.workflows import spec_for

    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
    for name in names:
        shutil.copy(skimage_dir / name, tmp_path / name)
    pipeline = PipelineConfig(name="scene-only", max_side=160)  # no image hooks: no faces
    old = VisualSpec(model="old@1", dims=spec_for(mobilenet, None).dims)
    backend.ensure_index(index_name, old)
    docs = [
        DocUpdate(n, {"caption": f"about {n}", "tags": ["a"],
                      "visual": {"model": old.model, "path": str(tmp_path / n)}})
        for n in names
    ]  # fmt: skip
    docs.append(DocUpdate("text-only", {"caption": "no picture", "tags": ["b"]}))
    assert backend.bulk_update(index_name, docs).ok
    backend.refresh(index_name)
    plan = plan_reindex(backend, index_name, mobilenet)
    edits = {"done": False}

    def progress(_: int) -> None:
        # Mid-run, once some documents were copied: the user edits, adds and deletes.
        if edits["done"]:
            return
        edits["done"] = True
        assert backend.bulk_update(
            plan.source,
            [
                DocUpdate("astronaut.png", {"caption": "edited mid-run"}, unset=("tags",)),
                DocUpdate(
                    "late.png",
                    {"caption": "added mid-run", "visual": {"path": str(tmp_path / "coffee.png")}},
                ),
            ],
        ).ok
        backend.delete(plan.source, ["text-only"])
        backend.refresh(plan.source)

    report = run_reindex(
        backend, plan, mobilenet, pipeline, progress=progress, replace_original=True
    )
    assert report.swapped and report.failed == 0
    backend.refresh(index_name)
    got = dict(backend.iter_docs(index_name))
    assert sorted(got) == sorted([*names, "late.png"])
    assert got["astronaut.png"]["caption"] == "edited mid-run"
    assert "tags" not in got["astronaut.png"]
    assert got["late.png"]["visual"]["model"] == mobilenet.tag
    assert report.edits_caught >= 1 and report.deleted_late == 1
    # Writes go to the new index again: nothing was left blocked.
    assert backend.bulk_update(index_name, [DocUpdate("chelsea.png", {"tags": ["z"]})]).ok
