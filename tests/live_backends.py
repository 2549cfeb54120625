"""es-visual backends on the live engines of ``live_engines`` (a test helper module).

``open_cluster(name, url)`` gives the backend of engine ``name``; before the first one
on a cluster it installs an index template, so that every index a test creates there
has 2 shards and 1 replica on a 2-node cluster: paging, points in time and scores
behave as in production, not as on one shard.
"""

from __future__ import annotations

from typing import Any

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
    return cls(url, timeout=60, **kwargs)
