"""es-visual backends on the live engines of ``live_engines`` (a test helper module).

``open_cluster(name, url)`` gives the backend of engine ``name``; before the first one
on a cluster it installs an index template, so that every index a test creates there
has 2 shards and 1 replica on a 2-node cluster: paging, points in time and scores
behave as in production, not as on one shard.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_engines import ENGINES, engine_client_kwargs, engine_request

STORES = ["embedded", *ENGINES]
_templated: set[str] = set()
# url -> the CLI's --backend value for it, filled by the fixtures that hand out urls
BACKEND_OF: dict[str, str] = {}


def open_cluster(name: str, url: str) -> Any:
    """The es-visual backend of engine ``name`` at ``url``, its index template in place."""
    if ENGINES[name].family == "elasticsearch":
        from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend as cls
    else:
        from es_visual.backends.cluster.opensearch import OpenSearchBackend as cls
    kwargs = engine_client_kwargs(name)
    if url not in _templated:
        status, body = engine_request(
            url,
            "/_index_template/es-visual-tests",
            "PUT",
            {
                "index_patterns": ["*"],
                "priority": 1,
                "template": {"settings": {"number_of_shards": 2, "number_of_replicas": 1}},
            },
            verify=kwargs["verify_certs"],
        )
        assert status == 200, f"index template on {name}: {status} {body}"
        _templated.add(url)
    backend = cls(url, timeout=60, **kwargs)
    # Read the server's version now: tests also call ``backend.client`` directly, and only
    # then does an Elasticsearch 8 get the compatibility headers it accepts.
    assert backend.server.version
    return backend


@contextlib.contextmanager
def open_store(name: str, live_engine_url: Any, tmp_path: Path) -> Iterator[Any]:
    """Store ``name`` of ``STORES``: a fresh embedded store under ``tmp_path``, or a client
    of that live engine (started once per session by ``live_engine_url``: skipped with
    the reason, or an error for an engine CI requires)."""
    if name == "embedded":
        from es_visual.backends.embedded import EmbeddedBackend

        store = EmbeddedBackend(tmp_path / "store")
    else:
        store = open_cluster(name, live_engine_url(name))
    try:
        yield store
    finally:
        store.close()


def drop_indices(backend: Any, name: str) -> None:
    """Delete index ``name`` and its copies (``name*``) on a cluster: cleanup only, so a
    failure here never hides the test's own outcome. The embedded store lives in a
    temporary folder and goes with it."""
    if backend.name == "embedded":
        return
    with contextlib.suppress(Exception):
        # By name: clusters refuse wildcard deletes (action.destructive_requires_name).
        for concrete in backend.client.indices.get(index=f"{name}*"):
            backend.client.indices.delete(index=concrete)


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, live_engine_url: Any, tmp_path: Path) -> Iterator[Any]:
    """Each store in turn: a fresh embedded store, or a client of a live cluster."""
    with open_store(request.param, live_engine_url, tmp_path) as store:
        yield store


@pytest.fixture
def index_name(backend: Any) -> Iterator[str]:
    """A fresh index name, deleted after the test on a cluster."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    drop_indices(backend, name)
