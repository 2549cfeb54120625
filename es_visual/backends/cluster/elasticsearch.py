"""The Elasticsearch 8.11+ / 9.x backend, on the official ``elasticsearch`` client."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from es_visual.backends.cluster import compile_es
from es_visual.backends.cluster.backend import (
    ApiFailure,
    ClusterBackend,
    PageClock,
    _bad_cursor,
    expired_context,
)
from es_visual.backends.cluster.responses import parse_response
from es_visual.backends.cluster.server import ServerInfo
from es_visual.core.cursor import encode_cursor
from es_visual.core.errors import BackendBusyError, ConfigError, CursorError
from es_visual.core.ir import SearchRequest
from es_visual.core.results import SearchResult
from es_visual.core.slicing import Slice


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
        return Elasticsearch(options["url"], transport_class=_compat_transport(), **kwargs)

    def _root(self) -> Any:
        return self.client.transport.perform_request(
            "GET", "/", headers={"accept": "application/json"}
        ).body

    def _on_server(self, info: ServerInfo) -> None:
        from elasticsearch import __versionstr__

        transport = self.client.transport
        if info.compatible_with < int(__versionstr__.split(".")[0]) and hasattr(
            transport, "compatible_with"
        ):
            transport.compatible_with = info.compatible_with

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

    def search(self, request: SearchRequest) -> SearchResult:
        if request.vector is not None:
            return super().search(request)
        return self._paged_search(request)

    def _paged_search(self, request: SearchRequest) -> SearchResult:
        """A metadata search, paged under a point in time: ``_shard_doc`` is the only
        unique tiebreaker Elasticsearch sorts on, and it needs one. The cursor carries
        the point in time's id after the sort values; the last page closes it."""
        what = f"searching {request.index!r}"
        request = self.exact_fields(request)
        values, pit_id = _split_cursor(request.after)
        if pit_id is None:
            self._ensure_server(what)
            opened = self._call(
                f"opening a point in time on {request.index!r}",
                self.client.open_point_in_time,
                index=request.index,
                keep_alive=PAGE_KEEP_ALIVE,
            )
            pit_id = opened["id"]
        body = self.exact_aggregations(
            request.index, compile_es.to_body(replace(request, after=values))
        )
        body["pit"] = {"id": pit_id, "keep_alive": PAGE_KEEP_ALIVE}
        started = time.perf_counter()
        try:
            resp = self.client.search(body=body)
        except Exception as exc:
            _bad_cursor(request, self._failure(exc))
            if request.after is not None and expired_context(self._failure(exc)):
                raise CursorError(
                    f"this page's cursor has expired (a next page can be asked for within "
                    f"{PAGE_KEEP_ALIVE} of the last): run the search again"
                ) from None
            self._call(what, _raise, exc)
            raise
        took_ms = (time.perf_counter() - started) * 1000
        pit_id = resp.get("pit_id") or pit_id
        result = parse_response(dict(resp), request, took_ms)
        if result.next_cursor is None or not result.hits:
            with contextlib.suppress(Exception):  # it expires on its own
                self.client.close_point_in_time(id=pit_id)
            return replace(result, next_cursor=None)
        last = result.hits[-1].sort or ()
        return replace(result, next_cursor=encode_cursor([*last, pit_id]))

    def _bulk_helper(self) -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
        from elasticsearch.helpers import streaming_bulk

        return streaming_bulk

    def _iter_hits(
        self, index: str, body: dict[str, Any], batch_size: int, slice: Slice | None = None
    ) -> Iterator[dict[str, Any]]:
        """Point in time + ``search_after`` on ``_shard_doc`` (the documented way to walk
        an index consistently), kept alive as long as the caller needs between pages;
        a scroll where a point in time cannot be opened.

        A ``slice`` is sliced on ``_id``, named: a point in time's default slices by
        Lucene doc ids, which only agree among slices of one point in time (they differ
        between a primary and its replica and after merges), and workers on several
        machines, or the rerun of a killed one, each open their own. Elasticsearch 8
        refuses ``_id`` under a point in time ("cannot slice on [_id] when using
        [point-in-time]"; 9.x takes it): there the slice is a sliced scroll, which splits
        on ``_id`` by default."""
        what = f"reading {index!r}" + (f" (slice {slice})" if slice is not None else "")
        clock = PageClock(batch_size)
        size, keep_alive = clock.next_page()
        try:
            self._ensure_server(what)
            pit = self._with_backoff(
                what, self.client.open_point_in_time, index=index, keep_alive=keep_alive
            )
        except BackendBusyError:
            raise
        except Exception as exc:
            if self._failure(exc) is None or self._failure(exc).status == 404:  # type: ignore[union-attr]
                self._call(f"opening a point in time on {index!r}", _raise, exc)
            yield from self._scroll_hits(index, body, batch_size, slice)
            return
        pit_id = pit["id"]
        after: list[Any] | None = None
        refused = False
        try:
            while True:
                page: dict[str, Any] = {
                    **body,
                    "size": size,
                    "pit": {"id": pit_id, "keep_alive": keep_alive},
                    "sort": [{"_shard_doc": "asc"}],
                }
                if after is not None:
                    page["search_after"] = after
                if slice is not None and not slice.whole:
                    page["slice"] = {"field": "_id", "id": slice.id, "max": slice.max}
                    if after is None:
                        first = self._first_sliced_page(what, page)
                        if first is None:
                            refused = True
                            break
                        resp = first
                    else:
                        resp = self._page(what, clock, self.client.search, body=page)
                else:
                    resp = self._page(what, clock, self.client.search, body=page)
                pit_id = resp.get("pit_id") or pit_id
                self._whole_page(what, resp)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                yield from hits
                after = hits[-1]["sort"]
                size, keep_alive = clock.next_page()
        finally:
            # It expires on its own; never mask the real error.
            with contextlib.suppress(Exception):
                self.client.close_point_in_time(id=pit_id)
        if refused:
            yield from self._scroll_hits(index, body, batch_size, slice)

    def _first_sliced_page(self, what: str, page: dict[str, Any]) -> Any | None:
        """The first page of a point in time sliced on ``_id``; None where the server
        refuses that slice (Elasticsearch 8: on every shard it has to split, so some
        shards may answer and the others fail)."""
        try:
            resp = self._with_backoff(what, self.client.search, body=page)
        except BackendBusyError:
            raise
        except Exception as exc:
            if _ID_SLICES_REFUSED in str(getattr(exc, "body", "")):
                return None
            self._call(what, _raise, exc)
            raise
        if _ID_SLICES_REFUSED in str((resp.get("_shards") or {}).get("failures") or ""):
            return None
        return resp


_ID_SLICES_REFUSED = "cannot slice on [_id] when using [point-in-time]"


def _compat_transport() -> type:
    """The client's transport, naming the server's major version in its
    ``compatible-with`` headers: an Elasticsearch 8 server refuses the 9.x client's
    "compatible-with=9" ("Accept version must be either version 8 or 7"), while every
    API es-visual calls is the same on 8 and 9. The client writes its own major into
    every request, so the rewrite has to happen below it, in the transport."""
    from elastic_transport import Transport

    class CompatTransport(Transport):
        compatible_with: int | None = None

        def perform_request(self, method: str, target: str, **kwargs: Any) -> Any:
            headers = kwargs.get("headers")
            if self.compatible_with is not None and headers:
                kwargs["headers"] = {
                    k: _COMPAT.sub(f"compatible-with={self.compatible_with}", v)
                    if isinstance(v, str)
                    else v
                    for k, v in dict(headers).items()
                }
            return super().perform_request(method, target, **kwargs)

    return CompatTransport


PAGE_KEEP_ALIVE = "10m"  # how long a next-page link of the UI or CLI stays good
_COMPAT = re.compile(r"compatible-with=\d+")


def _split_cursor(
    after: tuple[Any, ...] | None,
) -> tuple[tuple[Any, ...] | None, str | None]:
    """(sort values, point in time id) out of a cursor ``_paged_search`` made."""
    if not after:
        return None, None
    *values, pit_id = after
    if not isinstance(pit_id, str) or not values:
        raise CursorError("this cursor was not made by an Elasticsearch search of this index")
    return tuple(values), pit_id


def _raise(exc: Exception) -> None:
    raise exc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "connection failed"
