"""A real Elasticsearch-API server for the backend tests: noida-db (PyPI), started once
per session on a free loopback port with its own data dir, stopped at the end.

Start-up is polled with a generous deadline (NOIDA_START_TIMEOUT, default 60 s): on a
loaded machine the binary can take many seconds to answer its first request, and a
short timeout was the source of the errors seen there. If the binary cannot run at
all here, every test that needs it is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = float(os.environ.get("NOIDA_START_TIMEOUT", "60"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _noida_binary() -> str | None:
    found = shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")
    return found if Path(found).exists() else None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_cluster/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


@pytest.fixture(scope="session")
def noida_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running noida-db speaking the Elasticsearch 8.15 API."""
    binary = _noida_binary()
    if binary is None:
        pytest.skip("noida-db is not installed (pip install noida-db): no ES-API server here")
    data = tmp_path_factory.mktemp("noida")
    log_path = data / "server.log"
    last_error = ""
    for _attempt in range(3):  # a port taken between probe and bind: try another
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = log_path.open("ab")
        proc = subprocess.Popen(
            [binary, "start", "--data-dir", str(data / f"d{port}"), "--host", "127.0.0.1",
             "--only", "elasticsearch", "--elasticsearch-port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None and not _answers(url):
            time.sleep(0.1)
        if proc.poll() is None and _answers(url):
            try:
                yield url
            finally:
                _stop(proc)
                log.close()
            return
        _stop(proc)
        log.close()
        last_error = log_path.read_text(errors="replace")[-2000:]
    pytest.skip(f"noida-db did not start within {START_TIMEOUT:.0f}s: {last_error.strip()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# The cluster suites run on noida-db (an extra) and on every live engine of
# tests/live_engines.py (started once per session; skipped with the reason, or an
# error for an engine CI requires).
CLUSTERS = ["noida-db", "opensearch", "opensearch3", "elasticsearch", "elasticsearch8"]


@pytest.fixture(params=CLUSTERS)
def cluster_url(request: pytest.FixtureRequest) -> str:
    from live_backends import BACKEND_OF

    if request.param == "noida-db":
        url = request.getfixturevalue("noida_url")
        BACKEND_OF[url] = "elasticsearch"
        return url
    from live_backends import open_cluster
    from live_engines import ENGINES

    url = request.getfixturevalue("live_engine_url")(request.param)
    open_cluster(request.param, url).close()  # installs the 2-shard index template
    BACKEND_OF[url] = ENGINES[request.param].family
    return url


@pytest.fixture
def es_backend(cluster_url: str):
    from live_backends import BACKEND_OF

    if BACKEND_OF[cluster_url] == "opensearch":
        from es_visual.backends.cluster.opensearch import OpenSearchBackend as cls
    else:
        from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend as cls
    backend = cls(cluster_url, timeout=60)
    backend.server  # noqa: B018 - reads the version, so raw client calls below speak its API
    yield backend
    backend.close()


@pytest.fixture
def index_name(es_backend) -> Iterator[str]:
    """A fresh index name per test; the index (and any es-visual copies) deleted after."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    with contextlib.suppress(Exception):  # cleanup only; the test's own outcome stands
        # By name: real clusters refuse wildcard deletes (action.destructive_requires_name).
        for concrete in es_backend.client.indices.get(index=f"{name}*"):
            es_backend.client.indices.delete(index=concrete)
