"""``es-visual watch`` on the live engines: new and changed documents are embedded as they
arrive, from each shard's ``_seq_no``; the checkpoint survives a restart; a failing
document rests after its second try; reads wait out 429 answers.

The 429s come from a small HTTP proxy in front of the real engine that refuses chosen
requests the way a busy cluster does (status 429, ``es_rejected_execution_exception``):
a real cluster only refuses under load, through thread-pool queue sizes that are static
settings, so it cannot be made to refuse on demand in a test.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from live_backends import open_cluster
from live_engines import ENGINES, engine_request
from PIL import Image

from es_visual.core.documents import VisualSpec
from es_visual.core.errors import BackendBusyError
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.watch import Checkpoint, Watcher

MODEL = "mobilenet-v2@imagenet1k-v1"
SCENE_ONLY = PipelineConfig(name="scene-test", model="mobilenet-v2")


@pytest.fixture(params=list(ENGINES))
def cluster(request: pytest.FixtureRequest, live_engine_url) -> Iterator[tuple[Any, str, str]]:
    name = request.param
    url = live_engine_url(name)
    backend = open_cluster(name, url)
    index = f"t-watch-{uuid.uuid4().hex[:8]}"
    backend.ensure_index(index, VisualSpec(model=MODEL, dims=1280))
    yield backend, url, index
    engine_request(url, f"/{index}", "DELETE")
    backend.close()


def _picture(path: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    return str(path)


def _put(url: str, index: str, doc_id: str, source: dict[str, Any]) -> None:
    status, body = engine_request(url, f"/{index}/_doc/{doc_id}", "PUT", source)
    assert status in (200, 201), body


def _visual(url: str, index: str, doc_id: str) -> dict[str, Any]:
    status, body = engine_request(url, f"/{index}/_doc/{doc_id}?_source_includes=visual.model,"
                                  "visual.content_hash,visual.error,visual.path")  # fmt: skip
    assert status == 200, body
    return dict(body["_source"].get("visual") or {})


def _watcher(backend: Any, index: str, checkpoint: Path, mobilenet: Any) -> Watcher:
    return Watcher(
        backend, index, embedder=mobilenet, pipeline=SCENE_ONLY, path_field="file",
        checkpoint=checkpoint, batch_size=8,
    )  # fmt: skip


def test_watch_embeds_new_and_changed_documents_and_resumes_from_its_checkpoint(
    cluster: tuple[Any, str, str], tmp_path: Path, mobilenet: Any
) -> None:
    backend, url, index = cluster
    for i in range(10):
        _put(url, index, f"a{i}", {"file": _picture(tmp_path / f"a{i}.png", i), "tags": ["x"]})
    ckpt = tmp_path / "watch.json"
    first = _watcher(backend, index, ckpt, mobilenet).cycle()
    assert (first.seen, first.written, first.failed) == (10, 10, 0)
    assert all(_visual(url, index, f"a{i}").get("model") == MODEL for i in range(10))

    # New documents, one whose media changed, one with new tags only, one with no file.
    for i in range(10, 13):
        _put(url, index, f"a{i}", {"file": _picture(tmp_path / f"a{i}.png", i)})
    old_hash = _visual(url, index, "a0")["content_hash"]
    new_file = _picture(tmp_path / "a0-v2.png", 100)
    status, _ = engine_request(url, f"/{index}/_update/a0", "POST", {"doc": {"file": new_file}})
    assert status == 200
    status, _ = engine_request(url, f"/{index}/_update/a1", "POST", {"doc": {"tags": ["y"]}})
    assert status == 200
    _put(url, index, "gone", {"file": str(tmp_path / "no-such-file.png")})

    # A restart: a new watcher reads the checkpoint file the first one left.
    assert Checkpoint.load(ckpt) is not None
    second = _watcher(backend, index, ckpt, mobilenet).cycle()
    # 3 new + a0's new media written; a1 (tags only) and the 8 other writes of the first
    # cycle (a2..a9: our own writes are changes too) re-read and skipped; the missing
    # file failed.
    assert (second.seen, second.written, second.skipped) == (14, 4, 9), second.to_dict()
    assert second.failed == 1 and second.failures[0]["id"] == "gone", second.to_dict()
    assert _visual(url, index, "a0")["content_hash"] != old_hash
    assert _visual(url, index, "a0")["path"] == new_file
    assert all(_visual(url, index, f"a{i}").get("model") == MODEL for i in range(10, 13))
    assert "no-such-file.png" in _visual(url, index, "gone")["error"]

    # Then it settles: this cycle re-reads the 4 writes and the failure (which fails
    # again, identically: a no-op for the engine, no new sequence number) ...
    third = _watcher(backend, index, ckpt, mobilenet).cycle()
    assert (third.written, third.skipped, third.failed) == (0, 4, 1), third.to_dict()
    # ... and the next one finds nothing at all.
    fourth = _watcher(backend, index, ckpt, mobilenet).cycle()
    assert fourth.idle and fourth.seen == 0, fourth.to_dict()

    # A recreated index (same name, new uuid) starts over.
    saved = Checkpoint.load(ckpt)
    assert saved is not None
    saved.uuid = "another-index"
    saved.save(ckpt)
    again = _watcher(backend, index, ckpt, mobilenet).cycle()
    assert again.reset and "recreated" in again.reset
    assert again.written == 0 and again.skipped == 13 and again.failed == 1


class _Refusing(ThreadingHTTPServer):
    """A proxy to ``upstream`` that answers 429 to the next ``refuse`` requests whose path
    contains one of ``paths`` (or to all of them while ``refuse`` is None)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.paths: tuple[str, ...] = ()
        self.refuse: int | None = 0
        self.refused = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def should_refuse(self, path: str) -> bool:
        with self.lock:
            if not any(p in path for p in self.paths):
                return False
            if self.refuse is None:
                self.refused += 1
                return True
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    server: _Refusing

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.server.should_refuse(self.path):
            data = json.dumps({
                "error": {"type": "es_rejected_execution_exception",
                          "reason": "rejected by the test's busy proxy"},
                "status": 429,
            }).encode()  # fmt: skip
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay


@pytest.fixture
def busy_proxy(cluster: tuple[Any, str, str]) -> Iterator[_Refusing]:
    proxy = _Refusing(cluster[1])
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def _through(backend: Any, proxy: _Refusing) -> Any:
    """A backend of the same engine reached through the proxy, with short backoffs."""
    return type(backend)(proxy.url, timeout=60, initial_backoff=0.05, max_backoff=0.2,
                         max_retries=12)  # fmt: skip


def test_reads_wait_out_429_and_watch_backs_off_until_the_cluster_answers(
    cluster: tuple[Any, str, str], busy_proxy: _Refusing, tmp_path: Path, mobilenet: Any
) -> None:
    backend, url, index = cluster
    for i in range(6):
        _put(url, index, f"b{i}", {"file": _picture(tmp_path / f"b{i}.png", i)})
    backend.refresh(index)
    busy = _through(backend, busy_proxy)

    # Paging reads (point in time / scroll pages, multi-gets) ask again after a pause.
    busy_proxy.paths, busy_proxy.refuse = ("_search", "_mget", "_pit", "point_in_time"), 6
    assert len(list(busy.iter_docs(index, batch_size=2))) == 6
    assert busy_proxy.refused == 6
    busy_proxy.refuse = 5
    assert len(list(busy.iter_docs(index, filter=_ids("b1", "b2")))) == 2
    assert busy_proxy.refused == 11

    # A cluster that keeps refusing: BackendBusyError once the retries are spent ...
    busy_proxy.paths, busy_proxy.refuse = ("_stats",), None
    with pytest.raises(BackendBusyError, match="429"):
        busy.change_marks(index)

    # ... which watch waits out, doubling its wait, then carries on.
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            busy_proxy.refuse = 0  # the cluster recovers during the second wait

    watcher = _watcher(busy, index, tmp_path / "ckpt.json", mobilenet)
    cycles = watcher.run(interval=1.0, cycles=1, max_backoff=3.0, sleep=sleep)
    assert waits == [1.0, 2.0]
    assert cycles[0].written == 6 and cycles[0].failed == 0
    busy.close()


def _ids(*values: str) -> Any:
    from es_visual.core.ir import Ids

    return Ids(values)
