"""Many workers over one index (issue 19): sliced reads on every store, and real worker
processes on the live multi-node engines, counted by the engine itself.

The worker test embeds with the real MobileNetV2 (its weights ship in a package), on small
generated pictures (48x64 PNGs: decoding is cheap, the model's 224 px forward pass is the
whole cost). On the 2 shared cores here that runs at a few dozen pictures a second for all
workers together, so the test uses ``ES_VISUAL_WORKERS_DOCS`` documents (default 400, a few
hundred, to keep each engine's run to about a minute); benchmarks/cluster_ingest.py runs
thousands.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from live_backends import open_cluster
from live_engines import ENGINES, engine_request
from PIL import Image

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import ConfigError
from es_visual.core.slicing import Slice, all_slices

MODEL = "mobilenet-v2@imagenet1k-v1"
SPEC = VisualSpec(model=MODEL, dims=1280)
DOCS = int(os.environ.get("ES_VISUAL_WORKERS_DOCS", "400"))
WORKERS = 3  # over 2 shards: slice 1 is a whole shard, slices 0 and 2 split one by _id hash


# --- slices, on every store (no model: cheap) ----------------------------------------------


def test_slice_parse_and_errors() -> None:
    assert Slice.parse("2/4") == Slice(2, 4) and str(Slice(2, 4)) == "2/4"
    for bad in ("4/4", "-1/3", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError, match="slice"):
            Slice.parse(bad)


def test_slices_hold_every_document_once_whenever_read(backend: Any, index_name: str) -> None:
    """The N slices of an index are disjoint and cover it, for several N; and a slice read
    after more documents arrived still holds the same old documents (every worker agrees on
    the split, whenever it starts)."""
    backend.ensure_index(index_name, SPEC)
    ids = [f"doc-{i:03d}" for i in range(120)]
    result = backend.bulk_update(index_name, [DocUpdate(i, {"n": n}) for n, i in enumerate(ids)])
    assert result.ok, result.errors
    backend.refresh(index_name)
    before: dict[int, list[set[str]]] = {}
    for n in (1, 2, 3, 4, 5):
        parts = [
            {i for i, _ in backend.iter_docs(index_name, batch_size=17, slice=s)}
            for s in all_slices(n)
        ]
        assert sum(len(p) for p in parts) == len(ids), f"{n} slices overlap"
        assert set().union(*parts) == set(ids), f"{n} slices miss documents"
        if n > 1:
            assert all(parts), f"an empty slice among {n}: {[len(p) for p in parts]}"
        before[n] = parts
    more = [f"new-{i:03d}" for i in range(40)]
    assert backend.bulk_update(index_name, [DocUpdate(i, {"n": -1}) for i in more]).ok
    backend.refresh(index_name)
    for n in (3, 4):
        for s, old in zip(all_slices(n), before[n], strict=True):
            now = {i for i, _ in backend.iter_docs(index_name, batch_size=50, slice=s)}
            assert now - set(more) == old, f"slice {s} changed its old documents"


# --- real worker processes on the live engines ----------------------------------------------


@pytest.fixture(params=list(ENGINES))
def cluster(request: pytest.FixtureRequest, live_engine_url) -> Any:
    name = request.param
    url = live_engine_url(name)
    backend = open_cluster(name, url)
    backend.engine_name = name
    yield backend, url
    backend.close()


@pytest.fixture
def media(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """DOCS small pictures, each different (random pixels)."""
    folder = tmp_path_factory.mktemp("worker-media")
    rng = np.random.default_rng(19)
    paths = []
    for i in range(DOCS):
        path = folder / f"{i:05d}.png"
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _seed(backend: Any, index: str, media: list[Path]) -> list[str]:
    """The user's index: one document per picture, created once (``_version`` 1)."""
    backend.ensure_index(index, SPEC)
    from es_visual.backends.cluster.opensearch import OpenSearchBackend

    if isinstance(backend, OpenSearchBackend):
        from opensearchpy.helpers import bulk
    else:
        from elasticsearch.helpers import bulk
    ids = [f"asset-{i:05d}" for i in range(len(media))]
    actions = [
        {"_op_type": "create", "_index": index, "_id": i, "_source": {"file": str(p), "n": n}}
        for n, (i, p) in enumerate(zip(ids, media, strict=True))
    ]
    bulk(backend.client, actions, refresh=True, chunk_size=500)
    return ids


def _indexing(url: str, index: str) -> dict[str, int]:
    status, body = engine_request(url, f"/{index}/_stats/indexing")
    assert status == 200, body
    return body["indices"][index]["primaries"]["indexing"]


def _versions(url: str, index: str, ids: list[str]) -> dict[str, tuple[int, bool]]:
    """id -> (_version, carries visual.model), read by multi-get from the engine."""
    out: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        status, body = engine_request(
            url,
            f"/{index}/_mget?_source_includes=visual.model",
            "POST",
            {"ids": chunk},
        )
        assert status == 200, body
        for doc in body["docs"]:
            model = ((doc.get("_source") or {}).get("visual") or {}).get("model")
            out[doc["_id"]] = (int(doc["_version"]), model == MODEL)
    return out


def _worker(
    engine: str, url: str, index: str, share: Slice, pipeline: Path, data_dir: Path
) -> subprocess.Popen[str]:
    family = ENGINES[engine].family
    env = {**os.environ, "ES_VISUAL_TORCH_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "es_visual", "--backend", family, "--url", url, "--index", index,
        "--data-dir", str(data_dir), "ingest", "--from-index", "--path-field", "file",
        "--pipeline", str(pipeline), "--slice", str(share), "--json", "--progress-lines",
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )  # fmt: skip


def _first_progress(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Wait for the worker's first progress line (a chunk was written); its contents."""
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    seen_lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen_lines.append(line)
        if line.startswith('{"es_visual_progress"'):
            return json.loads(line)["es_visual_progress"]
    raise AssertionError(f"no progress from the worker; it said: {''.join(seen_lines)[-2000:]}")


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker exited {proc.returncode}: {err[-3000:]}"
    return json.loads(out)


@pytest.mark.timeout(600)
def test_workers_write_each_document_once_and_a_killed_slice_is_finished_by_its_rerun(
    cluster: tuple[Any, str], media: list[Path], tmp_path: Path
) -> None:
    """3 worker processes (slices 0/3, 1/3, 2/3) over one 2-shard index; worker 1 is killed
    (SIGKILL) after its first written chunk, and its slice is then run again. The engine
    itself says every document was written exactly once: each document's ``_version`` is
    2 (created, then one update), the primaries counted exactly DOCS index operations during
    the run and no no-op update (a repeated identical write would be one)."""
    backend, url = cluster
    index = f"t-workers-{uuid.uuid4().hex[:8]}"
    pipeline = tmp_path / "scene.yaml"
    pipeline.write_text("model: mobilenet-v2\nfaces: {enabled: false}\n")
    try:
        ids = _seed(backend, index, media)
        before = _indexing(url, index)
        assert before["index_total"] == len(ids)
        slices = all_slices(WORKERS)
        procs = {
            s.id: _worker(backend.engine_name, url, index, s, pipeline, tmp_path / "data")
            for s in slices
        }
        progress = _first_progress(procs[1], timeout=240)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].communicate(timeout=60)
        assert procs[1].returncode == -signal.SIGKILL
        reports = {i: _finish(procs[i]) for i in (0, 2)}

        done = _versions(url, index, ids)
        missing = [i for i, (_, has) in done.items() if not has]
        assert missing, "the killed worker's slice was already complete: the kill came too late"
        assert progress["seen"] >= 1 and len(missing) < len(ids)

        rerun = _finish(
            _worker(backend.engine_name, url, index, slices[1], pipeline, tmp_path / "data")
        )
        # It skips what the killed worker wrote and writes exactly what was missing.
        assert rerun["written"] == len(missing), rerun
        assert rerun["skipped"] >= progress["seen"] and rerun["failed"] == 0

        final = _versions(url, index, ids)
        assert all(has for _, has in final.values()), "documents were missed"
        twice = {i: v for i, (v, _) in final.items() if v != 2}
        assert not twice, f"documents not written exactly once (id: _version): {twice}"
        after = _indexing(url, index)
        assert after["index_total"] - before["index_total"] == len(ids)
        assert after["noop_update_total"] - before["noop_update_total"] == 0
        # Each worker read only its share: together exactly the index, no overlap.
        assert reports[0]["seen"] + reports[2]["seen"] + rerun["seen"] == len(ids)
        assert all(r["written"] == r["seen"] for r in reports.values()), reports
    finally:
        engine_request(url, f"/{index}", "DELETE")
