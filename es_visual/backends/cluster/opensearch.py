"""The OpenSearch 2.12+ / 3.x backend (k-NN plugin), on the official ``opensearch-py`` client.

What differs from Elasticsearch: the client and its exceptions, the compiled
search body, ``index.knn`` (a static setting, only settable when an index is
created), no API keys, and iteration by scroll (a consistent snapshot on every
version; OpenSearch's point in time does not document a ``_shard_doc``
tiebreaker for ``search_after``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from es_visual.backends.cluster import compile_opensearch, dsl
from es_visual.backends.cluster.backend import (
    ApiFailure,
    ClusterBackend,
    _widened,
    first_settings,
)
from es_visual.core.errors import BackendError, ConfigError
from es_visual.core.ir import And, Node, SearchRequest, and_
from es_visual.core.nested import reaches_children


class OpenSearchBackend(ClusterBackend):
    name = "opensearch"
    engine = "opensearch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._score_scales: dict[tuple[str, str], compile_opensearch.ScoreScale] = {}

    def _make_client(self, **options: Any) -> Any:
        if options["api_key"]:
            raise ConfigError("OpenSearch has no API keys: use username and password")
        try:
            from opensearchpy import OpenSearch
        except ImportError as exc:  # an optional extra
            raise ConfigError(
                "the opensearch client is not installed: pip install 'es-visual[opensearch]'"
            ) from exc
        kwargs: dict[str, Any] = {
            "timeout": options["timeout"],
            "verify_certs": options["verify_certs"],
        }
        if options["basic_auth"]:
            kwargs["http_auth"] = options["basic_auth"]
        if options["ca_certs"]:
            kwargs["ca_certs"] = options["ca_certs"]
        if not options["verify_certs"]:
            kwargs["ssl_show_warn"] = False
            kwargs["ssl_assert_hostname"] = False
        return OpenSearch(hosts=[options["url"]], **kwargs)

    def _classify(self, exc: Exception) -> ApiFailure | str | None:
        from opensearchpy.exceptions import ConnectionError as OsConnectionError
        from opensearchpy.exceptions import TransportError

        if isinstance(exc, OsConnectionError):
            return str(exc.info or exc.error or exc).strip().splitlines()[0]
        if isinstance(exc, TransportError) and isinstance(exc.status_code, int):
            info = exc.info if isinstance(exc.info, dict) else {}
            error = info.get("error")
            if isinstance(error, dict):
                return ApiFailure(exc.status_code, str(error.get("type")), str(error.get("reason")))
            return ApiFailure(exc.status_code, str(exc.error), str(exc.info or ""))
        return None

    def _engine_request(self, request: SearchRequest) -> tuple[SearchRequest, Node | None]:
        """Before k-NN 3.5 a nested knn query parses its filter inside the nested scope,
        where a ``nested`` clause (``regions.label:dog``) matches nothing. There, the
        conjuncts that reach into a nested list leave the engine's filter (the ACL never
        does: it stays) and are checked on the hits' sources, over a wider k."""
        vq = request.vector
        if vq is None or vq.target not in dsl.NESTED_PATHS or self.server.joins_nested_filters:
            return super()._engine_request(request)
        parts = request.filter.children if isinstance(request.filter, And) else (request.filter,)
        inside = [p for p in parts if reaches_children(p)]
        if not inside:
            return super()._engine_request(request)
        outside = and_(*(p for p in parts if not reaches_children(p)))
        return _widened(replace(request, filter=outside), always=True), and_(*inside)

    def _root(self) -> Any:
        return self.client.transport.perform_request("GET", "/")

    def _compile(self, request: SearchRequest) -> dict[str, Any]:
        server = self.server
        return compile_opensearch.to_body(
            request,
            expand_nested_docs=server.expand_nested_docs,
            search_width=server.knn_method_parameters,
            scores=self._score_scale(request),
        )

    def _score_scale(self, request: SearchRequest) -> compile_opensearch.ScoreScale:
        if request.vector is None:
            return compile_opensearch.HALF_PLUS_HALF
        return self._scores(request.index, request.vector.target)

    def _scores(self, index: str, target: str) -> compile_opensearch.ScoreScale:
        """How the index's vector field turns a cosine into a score, from its mapping
        (engine and space_type), read once per index and field."""
        key = (index, target)
        if key not in self._score_scales:
            field = dsl.vector_field(target)  # type: ignore[arg-type]
            spec = _field_mapping(self._get_mapping(index), field)
            self._score_scales[key] = compile_opensearch.score_scale(
                spec, self.server.version, f"{index}/{field}"
            )
        return self._score_scales[key]

    def _bulk_helper(self) -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
        from opensearchpy.helpers import streaming_bulk

        return streaming_bulk

    def _check_new_visual(self, index: str) -> None:
        resp = self._call(
            f"reading the settings of {index!r}",
            self.client.indices.get_settings,
            index=index,
            params={"flat_settings": "true"},
        )
        settings = first_settings(resp)
        if str(settings.get("index.knn", "false")).lower() != "true":
            raise BackendError(
                f"index {index!r} was created without index.knn: true, which OpenSearch only "
                "accepts at creation, so vectors cannot be added to it in place. Copy it into "
                "an index that can hold them, embedding its media on the way, and put an alias "
                f"{index!r} in its place: `es-visual reindex --index {index} --model <model> "
                "--path-field <the field holding each document's media path> "
                "--replace-original`"
            )


def _field_mapping(mapping: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The mapping of the field at ``dotted`` (``visual.regions.vector``), or {}."""
    node: dict[str, Any] = mapping
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part) or {}
    return node
