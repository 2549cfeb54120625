"""Backends for the suites that run on every store: the embedded one and each live engine.

``backend`` is parametrized over ``embedded`` and the four engines of
``tests/live_engines.py`` (started once per session; skipped with the reason, or an
error for an engine CI requires). Every index a cluster test creates has 2 shards and
1 replica on a 2-node cluster (an index template installed once per engine), so that
paging, points in time and scores behave as in production, not as on one shard.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_backends import STORES, drop_indices, open_store


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, live_engine_url, tmp_path: Path) -> Iterator[Any]:
    """Each store in turn: a fresh embedded store, or a client of a live cluster."""
    with open_store(request.param, live_engine_url, tmp_path) as store:
        yield store


@pytest.fixture
def index_name(backend: Any) -> Iterator[str]:
    """A fresh index name, deleted after the test on a cluster."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    drop_indices(backend, name)
