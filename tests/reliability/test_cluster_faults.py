"""A cluster that cannot be reached, drops connections, or answers 429/503 to some bulk items.

A tiny HTTP proxy in front of noida-db plays the faulty cluster: it forwards
every request, except that on ``_bulk`` it answers chosen items itself with 429
or 503 (some until their Nth attempt, some forever), can answer a whole bulk
request with 503, or can drop the connection without an answer. Retries must
happen with growing delays, and whatever still fails is reported by id: the
index plus the error list always account for every item.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import BackendUnavailableError

SPEC = VisualSpec(model="toy@1", dims=4)
HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}

# item id, attempt number (0-based) -> HTTP status to fake, or None to forward it.
Policy = Callable[[str, int], int | None]


class FaultyCluster:
    def __init__(self, upstream: str, policy: Policy = lambda _id, _n: None) -> None:
        self.upstream, self.policy = upstream.rstrip("/"), policy
        self.attempts: dict[str, int] = defaultdict(int)
        self.bulk_times: list[float] = []
        self.drop_bulks = 0  # the next N bulk requests: connection closed, no answer
        self.fail_bulks = 0  # the next N bulk requests: HTTP 503 for the whole request
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                outer.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the proxying ---------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        path = h.path.split("?")[0]
        if h.command in ("POST", "PUT") and path.endswith("/_bulk"):
            with self.lock:
                self.bulk_times.append(time.monotonic())
                drop, self.drop_bulks = self.drop_bulks > 0, max(0, self.drop_bulks - 1)
                whole, self.fail_bulks = self.fail_bulks > 0, max(0, self.fail_bulks - 1)
            if drop:
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if whole:
                err = {"error": {"type": "unavailable", "reason": "busy"}, "status": 503}
                return self._reply(h, 503, json.dumps(err).encode(), {})
            return self._bulk(h, body)
        status, data, headers = self._forward(h.command, h.path, body, h.headers)
        self._reply(h, status, data, headers)

    def _forward(self, method: str, path: str, body: bytes, headers: Any):  # type: ignore[no-untyped-def]
        req = urllib.request.Request(self.upstream + path, data=body or None, method=method)
        for key, value in headers.items():
            if key.lower() not in HOP_HEADERS:
                req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def _bulk(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        pairs = [(json.loads(lines[i]), lines[i + 1]) for i in range(0, len(lines), 2)]
        faked: dict[int, dict[str, Any]] = {}
        forward: list[int] = []
        for n, (action, _) in enumerate(pairs):
            op = next(iter(action))
            doc_id = action[op]["_id"]
            with self.lock:
                attempt = self.attempts[doc_id]
                self.attempts[doc_id] += 1
            status = self.policy(doc_id, attempt)
            if status is None:
                forward.append(n)
            else:
                reason = "rejected execution" if status == 429 else "shard not available"
                faked[n] = {
                    op: {
                        "_id": doc_id,
                        "status": status,
                        "error": {"type": "fault_injected", "reason": reason},
                    }
                }
        answered: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        if forward:
            sub = b"".join(lines[2 * n] + b"\n" + lines[2 * n + 1] + b"\n" for n in forward)
            status, data, headers = self._forward(h.command, h.path, sub, h.headers)
            answered = json.loads(data)["items"]
        items = []
        it = iter(answered)
        for n in range(len(pairs)):
            items.append(faked[n] if n in faked else next(it))
        errors = any(next(iter(i.values())).get("status", 200) >= 300 for i in items)
        out = json.dumps({"took": 1, "errors": errors, "items": items}).encode()
        self._reply(h, 200, out, headers)

    def _reply(self, h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict) -> None:  # type: ignore[type-arg]
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("X-Elastic-Product", "Elasticsearch")
        for key, value in headers.items():
            if key.lower() not in HOP_HEADERS | {"content-type", "x-elastic-product"}:
                h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)


@pytest.fixture
def faulty(noida_url: str) -> Iterator[FaultyCluster]:
    def policy(doc_id: str, attempt: int) -> int | None:
        if doc_id.startswith("flaky") and attempt < 2:
            return 429
        if doc_id.startswith("busy") and attempt < 1:
            return 503
        if doc_id.startswith("doomed"):
            return 503
        return None

    proxy = FaultyCluster(noida_url, policy)
    yield proxy
    proxy.close()


def _backend(url: str, **kw: Any):  # type: ignore[no-untyped-def]
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    return ElasticsearchBackend(
        url, timeout=10, **{"max_retries": 3, "initial_backoff": 0.05, **kw}
    )


def _index(tmp_path: Path) -> str:
    return "faults-" + str(abs(hash(str(tmp_path))))[:10]


def _stored(noida_url: str, index: str) -> dict[str, dict[str, Any]]:
    direct = _backend(noida_url)
    try:
        direct.refresh(index)
        return dict(direct.iter_docs(index))
    finally:
        direct.close()


def test_429_and_503_items_are_retried_with_backoff_then_reported(
    faulty: FaultyCluster, noida_url: str, tmp_path: Path, tally
) -> None:
    backend = _backend(faulty.url)
    index = _index(tmp_path)
    ids = ["ok-0", "ok-1", "ok-2", "flaky-0", "flaky-1", "busy-0", "doomed-0", "doomed-1"]
    problems: list[str] = []
    try:
        backend.ensure_index(index, SPEC)
        faulty.fail_bulks = 1  # and the first bulk request is refused as a whole
        updates = [DocUpdate(i, {"visual": {"scene": [1.0, 0.0, 0.0, 0.5]}}) for i in ids]
        result = backend.bulk_update(index, updates)
        stored = _stored(noida_url, index)
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
    failed = {e.id: e for e in result.errors}
    if sorted(failed) != ["doomed-0", "doomed-1"]:
        problems.append(f"reported failures {sorted(failed)}")
    for e in failed.values():
        if e.status != 503 or not e.retryable or "shard not available" not in e.reason:
            problems.append(f"unclear failure {e}")
    if result.written != 6 or sorted(stored) != sorted(set(ids) - set(failed)):
        problems.append(f"written {result.written}, stored {sorted(stored)}")
    lost = set(ids) - set(stored) - set(failed)
    if lost:
        problems.append(f"silently lost: {lost}")
    gaps = [b - a for a, b in zip(faulty.bulk_times, faulty.bulk_times[1:], strict=False)]
    # Our backoff doubles from 0.05 s between passes (the client may add its own retries).
    if len(gaps) < 3 or not any(g >= 0.18 for g in gaps):
        problems.append(f"no growing backoff between bulk attempts: {gaps}")
    if faulty.attempts["doomed-0"] != 1 + 3:
        problems.append(f"doomed item tried {faulty.attempts['doomed-0']} times, not 1 + 3")
    tally.record("cluster: 429/503 bulk items", tried=len(ids) + 2, failed=len(problems))
    assert not problems, "\n".join(problems)


def test_ingest_reports_every_item_the_cluster_refused(
    faulty: FaultyCluster, noida_url: str, good_folder: Path, mobilenet, tally
) -> None:
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_folder
    from es_visual.workflows import ingest

    (good_folder / "camera.png").rename(good_folder / "doomed-camera.png")
    (good_folder / "coffee.png").rename(good_folder / "flaky-coffee.png")
    backend = _backend(faulty.url)
    index = _index(good_folder)
    try:
        report = ingest(
            backend,
            index,
            iter_folder(good_folder),
            embedder=mobilenet,
            pipeline=PipelineConfig(name="test"),
        )
        stored = _stored(noida_url, index)
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
    problems = []
    failed = {f.id: f for f in report.failures}
    if list(failed) != ["doomed-camera.png"] or failed["doomed-camera.png"].stage != "write":
        problems.append(f"failures {report.failures}")
    if report.written != 4 or "flaky-coffee.png" not in stored:
        problems.append(f"written {report.written}, stored {sorted(stored)}")
    accounted = set(stored) | set(failed)
    if accounted != {p.name for p in good_folder.iterdir()}:
        problems.append(f"not accounted for: {accounted ^ {p.name for p in good_folder.iterdir()}}")
    tally.record("cluster: 429/503 during ingest", tried=5, failed=len(problems))
    assert not problems, "\n".join(problems)


def test_dropped_connections_are_retried_then_reported(
    faulty: FaultyCluster, noida_url: str, tmp_path: Path, tally
) -> None:
    backend = _backend(faulty.url, max_retries=2)
    index = _index(tmp_path)
    problems = []
    try:
        backend.ensure_index(index, SPEC)
        faulty.drop_bulks = 2  # two bulk requests die (the client itself retries once or more)
        result = backend.bulk_update(index, [DocUpdate("ok-a", {"tags": ["x"]})])
        if not result.ok or "ok-a" not in _stored(noida_url, index):
            problems.append(f"a cluster back after dropped connections lost the item: {result}")
        faulty.drop_bulks = 1000  # now it stays down
        started = time.monotonic()
        try:
            backend.bulk_update(index, [DocUpdate("ok-b", {"tags": ["y"]})])
            problems.append("a cluster that stays down was not reported")
        except BackendUnavailableError as exc:
            text = str(exc)
            if "unreachable" not in text or "gave up after 3 attempts" not in text:
                problems.append(f"unclear error: {text}")
            if time.monotonic() - started < 0.05 + 0.1:
                problems.append("gave up without backing off")
    finally:
        backend.client.indices.delete(index=index, ignore_unavailable=True)
        backend.close()
    tally.record("cluster: dropped connections", tried=2, failed=len(problems))
    assert not problems, "\n".join(problems)


def test_an_unreachable_cluster_is_one_clear_error(good_folder: Path, tally) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket closes
    url = f"http://127.0.0.1:{port}"
    problems = []
    backend = _backend(url)
    try:
        backend.ensure_index("media", SPEC)
        problems.append("ensure_index on an unreachable cluster did not raise")
    except BackendUnavailableError as exc:
        if url not in str(exc) or "unreachable" not in str(exc):
            problems.append(f"unclear: {exc}")
    finally:
        backend.close()
    from es_visual.cli import cli

    res = CliRunner().invoke(
        cli,
        [
            "--backend",
            "elasticsearch",
            "--url",
            url,
            "--index",
            "media",
            "ingest",
            str(good_folder),
        ],
    )
    if res.exit_code != 1 or "unreachable" not in res.output or url not in res.output:
        problems.append(f"CLI: exit {res.exit_code}: {res.output}")
    elif len(res.output.strip().splitlines()) > 2:
        problems.append(f"CLI: not one clear line: {res.output}")
    tally.record("cluster: unreachable", tried=2, failed=len(problems))
    assert not problems, "\n".join(problems)
