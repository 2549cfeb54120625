"""Live search engines for the tests: a pytest plugin (registered from tests/conftest.py).

Each engine is a real multi-node cluster started by ``scripts/engine.sh`` (see docs/engines.md),
lazily, at most once per test session, and stopped at the end of the session unless it was
already running before the session began.

Engines and the environment variable that points the tests at a cluster of your own instead
(credentials may sit in the URL: ``https://admin:pw@localhost:9201``):

=================  ===================  ============================================
name               URL variable         started here as
=================  ===================  ============================================
``opensearch``     ``OPENSEARCH_URL``   OpenSearch 2.19 + k-NN, 2 nodes, port 9250
``opensearch3``    ``OPENSEARCH3_URL``  OpenSearch 3.x + k-NN, 2 nodes, port 9260
``elasticsearch``  ``ES_URL``           Elasticsearch 9.x, 2 nodes, port 9270
``elasticsearch8`` ``ES8_URL``          Elasticsearch 8.x, 2 nodes, port 9280
=================  ===================  ============================================

Other variables:

* ``ES_VISUAL_ENGINES=opensearch,elasticsearch`` picks the engines to test (default: all four;
  ``none`` for none). Tests of the others are skipped, saying so.
* ``ES_VISUAL_REQUIRE_ENGINES=opensearch,...``: for these, an engine that cannot start is a test
  ERROR, not a skip (CI sets it for the engines known to run here: a skip must never hide a
  broken product). A required engine counts as picked.
* ``ES_VISUAL_ENGINE_PORTS=opensearch=9450,...``: other HTTP ports than engine.sh's defaults
  (with ``ES_VISUAL_ENGINES_HOME``, for two checkouts testing at once on one machine).
* ``ES_VISUAL_ENGINE_NODES`` (default 2), ``ES_VISUAL_ENGINE_FIXTURE_TIMEOUT`` (seconds for one
  ``engine.sh start``, default 240: below pytest-timeout's 300 s per test, which covers the setup).
* ``<PREFIX>_VERIFY_CERTS=0`` / ``<PREFIX>_CA_CERTS`` for URLs of your own (PREFIX as in the table).

API for test writers (call it from a fixture, so that a failed start of a required engine is
an ERROR of the test's setup; called in a test body it is a FAILURE)::

    from live_engines import ENGINES, engine_get

    @pytest.fixture(params=["opensearch", "elasticsearch"])
    def url(request, live_engine_url):
        return live_engine_url(request.param)   # skips (or errors, if required) with the reason

    @pytest.mark.parametrize("engine_url", ["opensearch", "opensearch3"], indirect=True)
    def test_y(engine_url): ...

    def test_x(opensearch_url):                  # one fixture per engine, session-scoped
        assert engine_get(opensearch_url, "/_cluster/health")["number_of_nodes"] >= 2

``engine_client_kwargs(name)`` gives the ``verify_certs``/``ca_certs`` for a client of that engine.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENGINE_SH = REPO / "scripts" / "engine.sh"


@dataclass(frozen=True)
class Engine:
    name: str
    env: str  # the URL variable
    prefix: str  # of <PREFIX>_VERIFY_CERTS / <PREFIX>_CA_CERTS
    family: str  # "opensearch" | "elasticsearch"
    label: str


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("opensearch", "OPENSEARCH_URL", "OPENSEARCH", "opensearch", "OpenSearch 2.19"),
        Engine("opensearch3", "OPENSEARCH3_URL", "OPENSEARCH3", "opensearch", "OpenSearch 3.x"),
        Engine("elasticsearch", "ES_URL", "ES", "elasticsearch", "Elasticsearch 9.x"),
        Engine("elasticsearch8", "ES8_URL", "ES8", "elasticsearch", "Elasticsearch 8.x"),
    )
}


def _names(var: str, default: str) -> list[str]:
    raw = os.environ.get(var, default).strip()
    if raw.lower() in ("", "none"):
        return []
    if raw.lower() == "all":
        return list(ENGINES)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise pytest.UsageError(f"{var}: unknown engine(s) {unknown}; known: {list(ENGINES)}")
    return names


def required_engines() -> list[str]:
    return _names("ES_VISUAL_REQUIRE_ENGINES", "none")


def selected_engines() -> list[str]:
    picked = _names("ES_VISUAL_ENGINES", "all")
    return picked + [n for n in required_engines() if n not in picked]


class _Engines:
    """Per-session state: what was started, what failed and why."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.failures: dict[str, str] = {}
        self.to_stop: list[str] = []  # started by this session (or attempted: stop is harmless)

    def url(self, name: str) -> str:
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; known: {list(ENGINES)}")
        engine = ENGINES[name]
        given = os.environ.get(engine.env, "").strip()
        if given:
            return given.rstrip("/")
        required = name in required_engines()
        if name not in selected_engines():
            pytest.skip(
                f"{engine.label} ({name}) is not in ES_VISUAL_ENGINES="
                f"{os.environ.get('ES_VISUAL_ENGINES', '')!r} and {engine.env} is not set"
            )
        if name not in self.urls and name not in self.failures:
            self._start(name)
        if name in self.urls:
            return self.urls[name]
        reason = self.failures[name]
        if required:
            pytest.fail(f"required engine (ES_VISUAL_REQUIRE_ENGINES): {reason}", pytrace=False)
        pytest.skip(reason)

    def _start(self, name: str) -> None:
        engine = ENGINES[name]
        if not ENGINE_SH.exists():
            self.failures[name] = f"{engine.label}: {ENGINE_SH} is missing"
            return
        was_running = (
            subprocess.run(
                ["bash", str(ENGINE_SH), "status", name], capture_output=True, timeout=30
            ).returncode
            == 0
        )
        nodes = os.environ.get("ES_VISUAL_ENGINE_NODES", "2")
        timeout = float(os.environ.get("ES_VISUAL_ENGINE_FIXTURE_TIMEOUT", "240"))
        env = dict(os.environ)
        # engine.sh's own deadline for the JVM (the build, when needed, comes before it)
        env.setdefault("ES_VISUAL_ENGINE_START_TIMEOUT", str(int(min(180, timeout))))
        if not was_running:
            self.to_stop.append(name)
        cmd = ["bash", str(ENGINE_SH), "start", name, "--nodes", nodes]
        port = _ports().get(name)
        if port:
            cmd += ["--port", port]
        # its own session, so that on our time-out its whole group (engine.sh and a build in
        # progress) can be signalled; engine.sh's trap then stops the JVM it started
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            self.failures[name] = (
                f"{engine.label} ({name}) did not start within {timeout:.0f}s "
                f"(ES_VISUAL_ENGINE_FIXTURE_TIMEOUT); engine.sh said:\n{_tail(err)}"
            )
            return
        lines = out.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("http"):
            self.failures[name] = (
                f"{engine.label} ({name}) could not start: `{' '.join(cmd[1:])}` exited "
                f"{proc.returncode}:\n{_tail(err)}"
            )
            return
        self.urls[name] = lines[-1].strip().rstrip("/")

    def stop_started(self) -> None:
        for name in reversed(self.to_stop):
            subprocess.run(["bash", str(ENGINE_SH), "stop", name], capture_output=True, timeout=120)
        self.to_stop.clear()


def _ports() -> dict[str, str]:
    """``ES_VISUAL_ENGINE_PORTS=opensearch=9450,elasticsearch=9370``: other HTTP ports than
    engine.sh's defaults (two checkouts testing at once on one machine)."""
    out = {}
    for item in os.environ.get("ES_VISUAL_ENGINE_PORTS", "").split(","):
        if item.strip():
            name, _, port = item.partition("=")
            if name.strip() not in ENGINES or not port.strip().isdigit():
                raise pytest.UsageError(f"ES_VISUAL_ENGINE_PORTS: bad item {item!r}")
            out[name.strip()] = port.strip()
    return out


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


_state: _Engines | None = None


def _engines() -> _Engines:
    global _state
    if _state is None:
        _state = _Engines()
    return _state


def live_engine_url_for(name: str) -> str:
    """The URL of engine ``name`` (module-level form of the ``live_engine_url`` fixture)."""
    return _engines().url(name)


def pytest_configure(config: pytest.Config) -> None:
    _ports()
    selected_engines()  # a typo in ES_VISUAL_ENGINES / _REQUIRE_ENGINES is a usage error now


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _state is not None:
        _state.stop_started()


def pytest_report_header(config: pytest.Config) -> str:
    given = {n: os.environ[e.env] for n, e in ENGINES.items() if os.environ.get(e.env)}
    parts = [f"live engines: {','.join(selected_engines()) or 'none'}"]
    if required_engines():
        parts.append(f"required: {','.join(required_engines())}")
    if given:
        parts.append("given by URL: " + ",".join(given))
    return "; ".join(parts)


@pytest.fixture(scope="session")
def live_engine_url():
    """A function ``name -> URL``: starts that engine once per session, or skips with the
    reason it could not start (fails, for an engine in ES_VISUAL_REQUIRE_ENGINES)."""
    return live_engine_url_for


@pytest.fixture
def engine_url(request) -> str:
    """The URL of the engine named by indirect parametrization, so that a failed start is an
    ERROR of the test's setup:
    ``@pytest.mark.parametrize("engine_url", ["opensearch"], indirect=True)``."""
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError("engine_url needs indirect parametrization with an engine name")
    return live_engine_url_for(name)


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return live_engine_url_for("opensearch")


@pytest.fixture(scope="session")
def opensearch3_url() -> str:
    return live_engine_url_for("opensearch3")


@pytest.fixture(scope="session")
def elasticsearch_url() -> str:
    return live_engine_url_for("elasticsearch")


@pytest.fixture(scope="session")
def elasticsearch8_url() -> str:
    return live_engine_url_for("elasticsearch8")


# --- small helpers -----------------------------------------------------------------------


def _verify(prefix: str) -> bool:
    return os.environ.get(f"{prefix}_VERIFY_CERTS", "1").lower() not in ("0", "false", "no")


def engine_client_kwargs(name: str) -> dict:
    """``verify_certs`` / ``ca_certs`` for a client of engine ``name`` (from its env prefix)."""
    prefix = ENGINES[name].prefix
    return {
        "verify_certs": _verify(prefix),
        "ca_certs": os.environ.get(f"{prefix}_CA_CERTS") or None,
    }


def engine_request(
    url: str, path: str, method: str = "GET", body=None, *, verify: bool = True, timeout=30
):
    """One HTTP request to a cluster; user:password in ``url`` become Basic auth.
    Returns (status, parsed JSON or text)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    only_path, _, query = path.partition("?")
    full = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + only_path, query, "")
    )
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        headers["Content-Type"] = (
            "application/x-ndjson" if isinstance(body, str) else "application/json"
        )
    if parts.username:
        user = urllib.parse.unquote(parts.username)
        pw = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    ctx = None
    if parts.scheme == "https" and not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(full, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            status, raw = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def engine_get(url: str, path: str, *, verify: bool = True):
    """GET ``path`` on the cluster at ``url``; the parsed JSON. Raises on a non-2xx answer."""
    status, body = engine_request(url, path, verify=verify)
    if not 200 <= status < 300:
        raise AssertionError(f"GET {path} -> {status}: {body}")
    return body
