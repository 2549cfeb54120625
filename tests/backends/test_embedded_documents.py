"""Documents on the embedded store: partial updates, per-item errors, get/ACL, iteration,
metadata search with sort and cursor, aggregations, stats, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from es_visual.backends.base import Backend
from es_visual.backends.embedded import EmbeddedBackend
from es_visual.core.cursor import decode_cursor
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.ir import Exists, Ids, MatchAll, Not, SearchRequest, Sort, Term

SPEC = VisualSpec("toy@1", 3, face_model="face@1", face_dims=2)


@pytest.fixture
def backend(tmp_path: Path):
    b = EmbeddedBackend(tmp_path / "store")
    b.ensure_index("m", SPEC)
    yield b
    b.close()


def test_it_is_a_backend(backend) -> None:
    assert isinstance(backend, Backend)
    assert backend.visual_spec("m") == SPEC
    assert backend.visual_spec("missing") is None


def test_partial_update_merges_objects_and_replaces_lists(backend) -> None:
    backend.bulk_update(
        "m",
        [DocUpdate("a", {"tags": ["x", "y"], "acl": {"read": ["u1"], "write": ["u2"]},
                         "visual": {"model": "toy@1", "scene": [1, 0, 0]}})],
    )  # fmt: skip
    r = backend.bulk_update(
        "m", [DocUpdate("a", {"tags": ["z"], "acl": {"read": ["u3"]}, "visual": {"width": 5}})]
    )
    assert r.ok and r.written == 1
    doc = backend.get("m", "a", with_vectors=True)
    assert doc == {
        "tags": ["z"],
        "acl": {"read": ["u3"], "write": ["u2"]},
        "visual": {"model": "toy@1", "width": 5, "scene": pytest.approx([1, 0, 0])},
    }
    assert "scene" not in backend.get("m", "a")["visual"]  # vectors only on request


def test_bulk_errors_are_per_item_and_the_rest_is_written(backend) -> None:
    result = backend.bulk_update(
        "m",
        [
            DocUpdate("ok1", {"visual": {"scene": [0, 1, 0]}}),
            DocUpdate("short", {"visual": {"scene": [0, 1]}}),
            DocUpdate("notdict", ["nope"]),  # type: ignore[arg-type]
            DocUpdate("face", {"visual": {"faces": [{"vector": [1, 2, 3]}]}}),
            DocUpdate("nan", {"visual": {"scene": [0, float("nan"), 1]}}),
            DocUpdate("missing", {"a": 1}, upsert=False),
            DocUpdate("ok2", {"visual": {"faces": [{"vector": [1, 0]}]}}),
        ],
    )
    assert result.written == 2
    reasons = {e.id: e.reason for e in result.errors}
    assert set(reasons) == {"short", "notdict", "face", "nan", "missing"}
    assert "2 dims" in reasons["short"] and "3" in reasons["short"]
    assert backend.get("m", "short") is None and backend.get("m", "ok2") is not None


def test_get_respects_acl_like_a_filter(backend) -> None:
    backend.bulk_update("m", [DocUpdate("p", {"acl": {"read": ["alice"]}})])
    assert backend.get("m", "p", acl=Term("acl.read", "alice")) is not None
    assert backend.get("m", "p", acl=Term("acl.read", "bob")) is None
    assert backend.get("m", "nope") is None
    assert backend.get("other", "p") is None


def test_iter_docs_is_ordered_batched_filtered_and_projected(backend) -> None:
    backend.bulk_update(
        "m", [DocUpdate(f"d{i:02d}", {"n": i, "odd": i % 2 == 1, "x": {"y": i}}) for i in range(25)]
    )
    got = list(backend.iter_docs("m", filter=Term("odd", True), fields=["x.y"], batch_size=4))
    assert [i for i, _ in got] == [f"d{i:02d}" for i in range(1, 25, 2)]
    assert got[0][1] == {"x": {"y": 1}}
    assert len(list(backend.iter_docs("m"))) == 25


def test_metadata_search_sorts_pages_and_counts(backend) -> None:
    backend.bulk_update(
        "m",
        [DocUpdate(f"d{i:02d}", {"n": i % 7, "tags": ["t", f"m{i % 3}"]}) for i in range(30)]
        + [DocUpdate("nosort", {"tags": ["t"]})],
    )
    request = SearchRequest("m", filter=Term("tags", "t"), sort=(Sort("n", "desc"),), size=7)
    seen, after, total = [], None, None
    while True:
        res = backend.search(SearchRequest(**{**request.__dict__, "after": after}))
        total = res.total
        seen += [(h.source.get("n"), h.id) for h in res.hits]
        if res.next_cursor is None:
            break
        after = decode_cursor(res.next_cursor)
    assert total == 31 and len(seen) == 31 == len(set(seen))
    assert seen[-1] == (None, "nosort")  # missing sorts last
    assert seen[:-1] == sorted(seen[:-1], key=lambda x: (-x[0], x[1]))
    default = backend.search(SearchRequest("m", size=3))
    assert [h.id for h in default.hits] == ["d00", "d01", "d02"]  # by id


def test_metadata_aggregations_count_list_elements(backend) -> None:
    backend.bulk_update(
        "m", [DocUpdate(f"d{i}", {"tags": ["all", f"m{i % 3}", "all"]}) for i in range(9)]
    )
    res = backend.search(
        SearchRequest("m", filter=Not(Term("tags", "m2")), aggregations=("tags",), size=0)
    )
    assert res.hits == () and res.total == 6
    assert res.aggregations["tags"] == [("all", 6), ("m0", 3), ("m1", 3)]


def test_stats_and_delete(backend) -> None:
    backend.bulk_update(
        "m",
        [
            DocUpdate(
                "a", {"visual": {"scene": [1, 0, 0], "frames": [{"t": 0, "vector": [1, 0, 0]}]}}
            ),
            DocUpdate("b", {"visual": {"error": "analyze: broken"}}),
            DocUpdate("c", {"visual": {"error": None}}),
        ],
    )  # fmt: skip
    s = backend.stats("m")
    assert (s.documents, s.with_visual, s.with_errors) == (3, 1, 1)
    assert s.vectors == {"scene": 1, "frames": 1} and s.spec == SPEC
    assert s.extra["disk_bytes"] > 0
    assert backend.delete("m", ["a", "zz"]) == 1
    assert backend.stats("m").vectors == {}
    assert backend.search(SearchRequest("m")).total == 2
    # An object whose only field is null does not exist, as in Elasticsearch.
    assert backend.search(SearchRequest("m", filter=Exists("visual"))).total == 1
    assert backend.stats("nothing").documents == 0


WRITER = textwrap.dedent(
    """
    import sys
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import DocUpdate, VisualSpec
    b = EmbeddedBackend(sys.argv[1])
    b.ensure_index("m", VisualSpec("toy@1", 64))
    print("ready", flush=True)
    batch = 0
    while True:
        b.bulk_update("m", [
            DocUpdate(f"{batch}-{i}", {"batch": batch, "pad": "x" * 2000,
                                       "visual": {"scene": [float(i)] * 64}})
            for i in range(50)
        ])
        batch += 1
    """
)


def test_sigkill_mid_write_leaves_whole_batches(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    conn = sqlite3.connect(tmp_path / "m.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    b = EmbeddedBackend(tmp_path)
    counts: dict[int, int] = {}
    for _, doc in b.iter_docs("m", fields=["batch"]):
        counts[doc["batch"]] = counts.get(doc["batch"], 0) + 1
    assert len(counts) >= 2 and set(counts.values()) == {50}
    assert sorted(counts) == list(range(len(counts)))
    assert b.stats("m").vectors["scene"] == 50 * len(counts)
    b.close()


def test_writes_from_threads(backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(t: int) -> int:
        for j in range(10):
            backend.bulk_update(
                "m", [DocUpdate(f"t{t}-{j}", {"t": t, "visual": {"scene": [t, j, 1]}})]
            )
        return backend.search(SearchRequest("m", filter=Term("t", t), size=50)).total

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(4))) == [10] * 4
    assert backend.stats("m").documents == 40
    assert backend.search(SearchRequest("m", filter=Ids(("t1-3",)), size=5)).hits[0].id == "t1-3"
    assert MatchAll() == MatchAll()
