"""What a cluster says about itself at ``GET /`` decides the requests es-visual sends."""

from __future__ import annotations

import pytest

from es_visual.backends.cluster.server import ServerInfo, parse_version
from es_visual.core.errors import BackendError

URL = "http://h:9200"


def _root(number: str, distribution: str | None = None) -> dict:
    version = {"number": number}
    if distribution:
        version["distribution"] = distribution
    return {"version": version}


def test_versions_and_distributions_are_read_from_the_root() -> None:
    assert parse_version("9.0.0-SNAPSHOT") == (9, 0, 0) and parse_version("3.5") == (3, 5, 0)
    os219 = ServerInfo.from_root(_root("2.19.1", "opensearch"), URL)
    assert os219.distribution == "opensearch" and os219.label == "OpenSearch 2.19.1"
    assert os219.expand_nested_docs and os219.knn_method_parameters
    assert not os219.joins_nested_filters  # k-NN#2990 came with 3.5
    os218 = ServerInfo.from_root(_root("2.18.0", "opensearch"), URL)
    assert not os218.expand_nested_docs and os218.knn_method_parameters
    es = ServerInfo.from_root(_root("9.2.0"), URL)
    assert es.distribution == "elasticsearch" and es.vectors_left_out_of_source
    assert not ServerInfo.from_root(_root("9.1.3"), URL).vectors_left_out_of_source
    assert ServerInfo.from_root(_root("8.19.2"), URL).compatible_with == 8


def test_old_or_other_servers_are_refused_naming_the_minimum() -> None:
    with pytest.raises(BackendError, match=r"needs OpenSearch 2\.12 or later"):
        ServerInfo.from_root(_root("2.11.0", "opensearch"), URL).check_supported("opensearch", URL)
    with pytest.raises(BackendError, match=r"needs Elasticsearch 8\.11 or later"):
        ServerInfo.from_root(_root("8.10.4"), URL).check_supported("elasticsearch", URL)
    with pytest.raises(BackendError, match="--backend opensearch"):
        ServerInfo.from_root(_root("2.19.1", "opensearch"), URL).check_supported(
            "elasticsearch", URL
        )
    with pytest.raises(BackendError, match="did not answer GET /"):
        ServerInfo.from_root("<html>", URL)


def test_capabilities_come_from_the_server_and_the_store_type(tmp_path) -> None:
    """Callers choose by ``Backend.capabilities`` and the admin protocol, never by name."""
    from es_visual.backends.base import Backend, Capabilities, IndexAdmin
    from es_visual.backends.embedded import EmbeddedBackend

    caps = ServerInfo.from_root(_root("2.19.1", "opensearch"), URL).capabilities()
    assert caps == Capabilities(store="OpenSearch 2.19.1", search_workers=8)
    assert ServerInfo.from_root(_root("9.1.3"), URL).capabilities().store == "Elasticsearch 9.1.3"
    store = EmbeddedBackend(tmp_path)
    try:
        assert isinstance(store, Backend) and isinstance(store, IndexAdmin)
        assert store.capabilities == Capabilities(store="embedded", search_workers=1)
    finally:
        store.close()
