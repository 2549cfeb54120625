"""The index spec on the search path (issue 17 item 6), on every store.

A search needs the index's spec (its model and dims) before it can send anything;
read from a cluster that is two round trips (does the index exist, its mapping), and
the web UI asked for it several times per page. ``cached_spec`` keeps it per process:
a repeated search sends only the search, and a change made through the backend
(``ensure_index``, ``set_visual_spec``, ``swap_alias``) is seen by the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from live_backends import drop_indices

from es_visual.backends.base import Backend
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import ModelMismatchError
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=3)
OTHER = VisualSpec(model="toy@2", dims=3)


def _fill(backend: Any, index: str) -> None:
    backend.ensure_index(index, SPEC)
    docs = {
        f"d{i}": {"visual": {"model": SPEC.model, "scene": [1.0, i / 10.0, 0.5]}} for i in range(4)
    }
    result = backend.bulk_update(index, [DocUpdate(i, d) for i, d in docs.items()])
    assert result.ok, result.errors
    backend.refresh(index)


class _Counted:
    """Counts the calls of one of the backend's methods while leaving them to run."""

    def __init__(self, backend: Any, name: str) -> None:
        self.calls = 0
        real = getattr(backend, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        setattr(backend, name, counted)


@pytest.fixture
def filled(backend: Any, index_name: str) -> Iterator[str]:
    _fill(backend, index_name)
    yield index_name


def test_every_store_offers_the_cached_spec(backend: Any, filled: str) -> None:
    assert isinstance(backend, Backend)
    assert backend.cached_spec(filled) == backend.visual_spec(filled) == SPEC
    assert backend.cached_spec("no-such-index-here") is None


def test_a_repeated_search_reads_no_spec(backend: Any, filled: str) -> None:
    search = Search(filled).similar_to(vector=[1.0, 0.2, 0.5]).limit(2)
    first = search.execute(backend)
    reads = _Counted(backend, "visual_spec")
    assert search.execute(backend).hits == first.hits
    if backend.name != "embedded":  # the embedded store's spec is a read of its own file
        assert reads.calls == 0


def test_a_cluster_search_sends_only_the_search(backend: Any, filled: str) -> None:
    if backend.name == "embedded":
        pytest.skip("the embedded store makes no round trips")
    search = Search(filled).similar_to(asset="d1").limit(2)
    search.execute(backend)
    sent: list[str] = []
    transport = backend.client.transport
    real = transport.perform_request

    def perform_request(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"{method} {path}")
        return real(method, path, *args, **kwargs)

    transport.perform_request = perform_request  # every HTTP request of the client
    try:
        hits = search.execute(backend).hits
    finally:
        del transport.perform_request
    assert hits and hits[0].id != "d1"
    # The source asset's vector and the kNN search: two searches, nothing about the index
    # (before: HEAD /index and GET /index/_mapping for its spec, on every search).
    assert len(sent) == 2 and all(s.split("?")[0].endswith("/_search") for s in sent), sent


def test_a_change_through_the_backend_is_seen_at_once(backend: Any, filled: str) -> None:
    search = Search(filled).similar_to(vector=[1.0, 0.0, 0.0]).limit(2)
    assert backend.cached_spec(filled) == SPEC
    backend.set_visual_spec(filled, OTHER)
    assert backend.cached_spec(filled) == OTHER
    # A query vector of the old model is refused by the backend's own check.
    old = search.to_request(model=SPEC.model)
    if backend.name != "embedded":
        with pytest.raises(ModelMismatchError):
            backend.search(old)


def test_an_alias_swap_is_seen_at_once(backend: Any, filled: str) -> None:
    alias, target = f"{filled}-alias", f"{filled}-next"
    try:
        backend.swap_alias(alias, filled)
        assert backend.cached_spec(alias) == SPEC
        backend.create_index_like(filled, target, OTHER)
        backend.swap_alias(alias, target)
        assert backend.cached_spec(alias) == OTHER
    finally:
        drop_indices(backend, target)
