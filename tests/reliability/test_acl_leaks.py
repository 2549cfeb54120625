"""No ACL leak on noida-db (a real Elasticsearch-API server, no nested fields): the
generated cases of the conformance suite (tests/conformance/acl_cases.py), which runs
them on the embedded store and on every live engine."""

from __future__ import annotations

from conformance.acl_cases import run


def test_no_acl_leak_on_noida_db(noida_url: str, tally) -> None:
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    backend = ElasticsearchBackend(noida_url, timeout=30)
    try:
        run(backend, "noida-db (ES API)", regions=False, seed=2, tally=tally, as_written=False)
    finally:
        backend.close()
