"""The Elasticsearch 8.11+ / 9.x backend, on the official ``elasticsearch`` client."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from es_visual.backends.cluster import compile_es
from es_visual.backends.cluster.backend import PIT_KEEP_ALIVE, ApiFailure, ClusterBackend
from es_visual.errors import ConfigError
from es_visual.query.ir import SearchRequest


class ElasticsearchBackend(ClusterBackend):
    name = "elasticsearch"
    engine = "elasticsearch"

    def _make_client(self, **options: Any) -> Any:
        try:
            from elasticsearch import Elasticsearch
        except ImportError as exc:  # an optional extra
            raise ConfigError(
                "the elasticsearch client is not installed: pip install 'es-visual[es]'"
            ) from exc
        kwargs: dict[str, Any] = {
            "request_timeout": options["timeout"],
            "verify_certs": options["verify_certs"],
        }
        if options["basic_auth"]:
            kwargs["basic_auth"] = options["basic_auth"]
        if options["api_key"]:
            kwargs["api_key"] = options["api_key"]
        if options["ca_certs"]:
            kwargs["ca_certs"] = options["ca_certs"]
        if not options["verify_certs"]:
            kwargs["ssl_show_warn"] = False
        return Elasticsearch(options["url"], **kwargs)

    def _classify(self, exc: Exception) -> ApiFailure | str | None:
        from elastic_transport import TransportError
        from elasticsearch import ApiError, UnsupportedProductError

        if isinstance(exc, UnsupportedProductError):
            return f"the server there is not Elasticsearch ({exc.message})"
        if isinstance(exc, ApiError):
            error = (exc.body or {}).get("error") if isinstance(exc.body, dict) else None
            if isinstance(error, dict):
                return ApiFailure(exc.meta.status, str(error.get("type")), str(error.get("reason")))
            return ApiFailure(exc.meta.status, str(exc.message), str(exc.body or ""))
        if isinstance(exc, TransportError):
            return _first_line(str(exc.message or exc))
        return None

    def _compile(self, request: SearchRequest) -> dict[str, Any]:
        return compile_es.to_body(request)

    def _bulk_helper(self) -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
        from elasticsearch.helpers import streaming_bulk

        return streaming_bulk

    def _iter_hits(
        self, index: str, body: dict[str, Any], batch_size: int
    ) -> Iterator[dict[str, Any]]:
        """Point in time + ``search_after`` on ``_shard_doc`` (the documented way to walk
        an index consistently); a scroll where a point in time cannot be opened."""
        try:
            pit = self.client.open_point_in_time(index=index, keep_alive=PIT_KEEP_ALIVE)
        except Exception as exc:
            if self._failure(exc) is None or self._failure(exc).status == 404:  # type: ignore[union-attr]
                self._call(f"opening a point in time on {index!r}", _raise, exc)
            yield from self._scroll_hits(index, body, batch_size)
            return
        pit_id = pit["id"]
        after: list[Any] | None = None
        try:
            while True:
                page: dict[str, Any] = {
                    **body,
                    "size": batch_size,
                    "pit": {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                    "sort": [{"_shard_doc": "asc"}],
                }
                if after is not None:
                    page["search_after"] = after
                resp = self._call(f"reading {index!r}", self.client.search, body=page)
                pit_id = resp.get("pit_id") or pit_id
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                yield from hits
                after = hits[-1]["sort"]
        finally:
            # It expires on its own; never mask the real error.
            with contextlib.suppress(Exception):
                self.client.close_point_in_time(id=pit_id)


def _raise(exc: Exception) -> None:
    raise exc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "connection failed"
