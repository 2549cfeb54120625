"""Backends for the suites that run on every store: the embedded one and each live engine.

``backend`` is parametrized over ``embedded`` and the four engines of
``tests/live_engines.py`` (started once per session; skipped with the reason, or an
error for an engine CI requires). Every index a cluster test creates has 2 shards and
1 replica on a 2-node cluster (an index template installed once per engine), so that
paging, points in time and scores behave as in production, not as on one shard.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_backends import STORES, open_cluster


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, live_engine_url, tmp_path: Path) -> Iterator[Any]:
    """Each store in turn: a fresh embedded store, or a client of a live cluster."""
    if request.param == "embedded":
        from es_visual.backends.embedded import EmbeddedBackend

        store = EmbeddedBackend(tmp_path / "store")
        yield store
        store.close()
        return
    cluster = open_cluster(request.param, live_engine_url(request.param))
    yield cluster
    cluster.close()


@pytest.fixture
def index_name(backend: Any) -> Iterator[str]:
    """A fresh index name, deleted after the test on a cluster."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    if backend.name != "embedded":
        with contextlib.suppress(Exception):  # cleanup only; the test's outcome stands
            # By name: clusters refuse wildcard deletes (action.destructive_requires_name).
            for concrete in backend.client.indices.get(index=f"{name}*"):
                backend.client.indices.delete(index=concrete)
