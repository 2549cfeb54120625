"""What the Elasticsearch and OpenSearch backends share: the whole protocol.

The two clusters speak the same REST API for everything but vector search and a
few details (the client class, its exceptions, point-in-time), so this class
does the work and ``elasticsearch.py`` / ``opensearch.py`` fill in small hooks.
Every client call goes through ``_call``, which turns a refused connection, a
DNS or TLS failure or a timeout into one ``BackendUnavailableError`` line naming
the URL and what was being done, and a cluster's error answer into
``BackendError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar, assert_never
from urllib.parse import quote

from es_visual.backends.base import Capabilities, ChangeMarks, IndexStats
from es_visual.backends.cluster import dsl, fusion, mappings, rank
from es_visual.backends.cluster.responses import HALF_PLUS_HALF, ScoreScale, parse_response
from es_visual.backends.cluster.server import ServerInfo
from es_visual.core import labels, schema
from es_visual.core.documents import BulkResult, DocUpdate, ItemError, VisualSpec
from es_visual.core.errors import (
    BackendBusyError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    CursorError,
    ModelMismatchError,
    NotFoundError,
)
from es_visual.core.ir import (
    And,
    Exists,
    Ids,
    Match,
    MatchAll,
    MatchNone,
    MultiMatch,
    Node,
    Not,
    Or,
    Prefix,
    Range,
    SearchRequest,
    Term,
    Terms,
    and_,
)
from es_visual.core.nested import child_filter, reaches_children
from es_visual.core.ranking import FusedResult, FuseRequest, LabelRank, RankRequest, TextRank
from es_visual.core.results import Hit, SearchResult
from es_visual.core.slicing import Slice

log = logging.getLogger(__name__)
T = TypeVar("T")

# Per-item statuses worth retrying: too many requests, and the cluster's own failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FIELD_TYPES_TTL_S = 60.0  # how long an index's field types are trusted without reading them
# How long a search trusts the index's spec (model, dims) without reading it: another
# process's reindex or in-place model change is seen after at most this long.
SPEC_TTL_S = 60.0
PIT_KEEP_ALIVE = "2m"  # what a metadata search's own point in time needs: one request


class PageClock:
    """Keep-alives for walking an index page by page while the caller works on each
    page (``ingest --from-index`` embeds ~0.5 s an image on a CPU, so a fixed 2m
    keep-alive over 500-document pages expired and the run died with 404).

    The first page is small, so even a slow caller is back within the floor; from
    then on each page is asked for with a keep-alive of three times what the caller
    has taken per document so far, times the page size (never below the floor)."""

    FIRST_PAGE = 32
    FLOOR_S = 300.0

    def __init__(self, batch_size: int) -> None:
        self.batch_size = max(1, batch_size)
        self.per_doc_s = 0.0
        self._asked: float | None = None
        self._size = 0

    def next_page(self) -> tuple[int, str]:
        """(size, keep-alive) for the page about to be asked for."""
        now = time.monotonic()
        if self._asked is not None and self._size:
            self.per_doc_s = max(self.per_doc_s, (now - self._asked) / self._size)
        self._asked = now
        first = self._size == 0
        self._size = min(self.batch_size, self.FIRST_PAGE) if first else self.batch_size
        seconds = max(self.FLOOR_S, 3.0 * self.per_doc_s * self._size)
        return self._size, f"{int(seconds)}s"


def expired_context(failure: ApiFailure | None) -> bool:
    """Whether a cluster error says a scroll or point in time no longer exists."""
    if failure is None:
        return False
    text = f"{failure.type} {failure.reason}".lower()
    return failure.status == 404 and (
        "search_context_missing" in text or "no search context" in text or "point in time" in text
    )


class ApiFailure(Exception):
    """A client exception reduced to what we report: HTTP status, error type, reason."""

    def __init__(self, status: int | None, type_: str, reason: str) -> None:
        super().__init__(f"{status} {type_}: {reason}")
        self.status, self.type, self.reason = status, type_, reason


class ClusterBackend:
    """The ``Backend`` protocol on an Elasticsearch-style cluster."""

    name: ClassVar[str]
    engine: ClassVar[mappings.Engine]

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        ca_certs: str | None = None,
        verify_certs: bool = True,
        timeout: float = 30.0,
        max_retries: int = 5,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        client: Any | None = None,
    ) -> None:
        if not url:
            raise ConfigError(f"the {self.name} backend needs a URL")
        url, url_user, url_password = split_credentials(url)
        username = username or url_user
        password = password if password is not None else url_password
        if password is not None and username is None:
            raise ConfigError("a password needs a username")
        # Without credentials: it is printed in every error message.
        self.url = url.rstrip("/")
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._specs: dict[str, tuple[float, VisualSpec | None]] = {}  # index -> (read at, spec)
        self._server: ServerInfo | None = None
        self._keywords: dict[str, dict[str, str]] = {}  # index -> text field -> keyword one
        self._types: dict[str, tuple[float, dict[str, str]]] = {}  # index -> (read at, types)
        # index -> (read at, (label_rank mapped, every document has it))
        self._label_ranks: dict[str, tuple[float, tuple[bool, bool]]] = {}
        self._pipelines: set[str] = set()  # search pipelines made (cluster.fusion)
        self._extensions_read = False  # server_extensions
        self.client = client or self._make_client(
            url=self.url,
            basic_auth=(username, password or "") if username else None,
            api_key=api_key,
            ca_certs=ca_certs,
            verify_certs=verify_certs,
            timeout=timeout,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> ClusterBackend:
        """From ``es_visual.config.Settings`` (or anything with the same attributes)."""
        return cls(
            settings.url,
            username=settings.username,
            password=settings.password,
            api_key=settings.api_key,
            ca_certs=settings.ca_certs,
            verify_certs=settings.verify_certs,
            timeout=settings.request_timeout,
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ClusterBackend:
        """From a plain dict: ``url`` plus any of the constructor's keywords
        (``request_timeout`` is accepted for ``timeout``)."""
        kwargs = dict(values)
        if "request_timeout" in kwargs:
            kwargs["timeout"] = kwargs.pop("request_timeout")
        try:
            url = kwargs.pop("url")
        except KeyError:
            raise ConfigError(f"the {cls.name} backend needs a url") from None
        return cls(url, **kwargs)

    # --- hooks for the subclasses -------------------------------------------------------

    def _make_client(self, **options: Any) -> Any:
        raise NotImplementedError

    def _classify(self, exc: Exception) -> ApiFailure | str | None:
        """A client exception as an ``ApiFailure`` (the cluster answered an error), a
        string (it could not be reached: why), or None (not a client exception)."""
        raise NotImplementedError

    def _compile(self, request: SearchRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _root(self) -> Any:
        """The body of ``GET /``, sent without the client's compatibility headers (an
        Elasticsearch 8 server refuses a 9.x client's before it knows what to answer)."""
        raise NotImplementedError

    def _score_scale(self, request: SearchRequest) -> ScoreScale:
        """How this request's vector field scores a cosine (see ``responses``)."""
        return HALF_PLUS_HALF

    def _on_server(self, info: ServerInfo) -> None:
        """Adapt the client to the server, once, before any other request."""

    def _bulk_helper(self) -> Callable[..., Iterable[tuple[bool, dict[str, Any]]]]:
        raise NotImplementedError

    def _iter_hits(
        self, index: str, body: dict[str, Any], batch_size: int, slice: Slice | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every hit of ``body``'s query, consistent while iterating; with ``slice``, only
        that share of them (the same share for every reader, whenever it starts)."""
        return self._scroll_hits(index, body, batch_size, slice)

    def _check_new_visual(self, index: str) -> None:
        """Anything that must hold before ``visual`` is added to an existing index."""

    # --- the one gate to the client ---------------------------------------------------------

    def _forget(self, index: str | None) -> None:
        """Drop what is cached about ``index`` (every index: None) after a mapping change."""
        for cache in (self._specs, self._keywords, self._types, self._label_ranks):
            if index is None:
                cache.clear()
            else:
                cache.pop(index, None)  # type: ignore[attr-defined]

    @property
    def capabilities(self) -> Capabilities:
        """From the server's distribution and version, read once (``server``)."""
        return self.server.capabilities()

    @property
    def server(self) -> ServerInfo:
        """The server's distribution and version, read once; an unsupported server is
        refused here, with the minimum version named."""
        return self._ensure_server("reading the server version")

    def _ensure_server(self, what: str) -> ServerInfo:
        if self._server is None:
            body = self._guarded(what, self._root)
            info = ServerInfo.from_root(body, self.url)
            info.check_supported(self.engine, self.url)
            self._on_server(info)
            self._server = info
        return self._server

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self._ensure_server(what)
        return self._guarded(what, fn, *args, **kwargs)

    def _guarded(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            failure = self._classify(exc)
            if failure is None:
                raise
            if isinstance(failure, str):
                raise BackendUnavailableError(
                    f"{self.name} at {self.url} is unreachable ({what}): {failure}"
                ) from None
            if failure.status == 429:
                raise BackendBusyError(
                    f"{self.name} at {self.url} is too busy ({what}): 429 {failure.type}: "
                    f"{failure.reason}; try again later"
                ) from None
            if failure.status in (401, 403):
                raise BackendError(
                    f"{self.name} at {self.url} refused {what}: {failure.status} "
                    f"{failure.type}: {failure.reason} (check username/password or api_key)"
                ) from None
            raise BackendError(f"{self.name} at {self.url}: {what} failed: {failure}") from None

    def _failure(self, exc: Exception) -> ApiFailure | None:
        failure = self._classify(exc)
        return failure if isinstance(failure, ApiFailure) else None

    # --- mapping --------------------------------------------------------------------------------

    def _index_exists(self, index: str) -> bool:
        return bool(
            self._call(f"checking index {index!r}", self.client.indices.exists, index=index)
        )

    def _put_meta(self, index: str, key: str, value: Any, doing: str) -> None:
        """Set one key of the index mapping's ``_meta``, keeping the others (the user's
        own, es-visual's spec), and drop what is cached of the index."""
        meta = dict(self._get_mapping(index).get("_meta") or {})
        meta[key] = value
        self._call(
            f"{doing} on {index!r}",
            self.client.indices.put_mapping,
            index=index,
            body={"_meta": meta},
        )
        self._forget(index)

    def _get_mapping(self, index: str) -> dict[str, Any]:
        """The mapping of ``index`` (for an alias: of its first index)."""
        resp = self._call(
            f"reading the mapping of {index!r}", self.client.indices.get_mapping, index=index
        )
        resp = dict(resp)
        if not resp:
            return {}
        return dict(next(iter(resp.values())).get("mappings") or {})

    def field_types(self, index: str) -> dict[str, str]:
        """The index's mapping flattened: dotted field path -> mapping type, for every
        leaf (sub-fields such as ``title.keyword`` included; objects are walked,
        nested objects are listed with type ``nested`` and walked too).

        Kept for ``FIELD_TYPES_TTL_S`` (every UI search would otherwise read the
        mapping first); es-visual's own mapping changes drop it at once."""
        cached = self._types.get(index)
        if cached is not None and time.monotonic() - cached[0] < FIELD_TYPES_TTL_S:
            return cached[1]
        types = flatten_mapping(self._get_mapping(index))
        self._types[index] = (time.monotonic(), types)
        return types

    def visual_spec(self, index: str) -> VisualSpec | None:
        if not self._index_exists(index):
            return None
        mapping = self._get_mapping(index)
        spec = mappings.spec_from_meta(mapping.get("_meta"))
        visual = (mapping.get("properties") or {}).get(schema.ROOT)
        if spec is None and visual is not None:
            spec = _spec_from_properties(visual)  # a mapping applied by hand, without _meta
        self._specs[index] = (time.monotonic(), spec)
        return spec

    def cached_spec(self, index: str) -> VisualSpec | None:
        """``visual_spec`` read at most once per ``SPEC_TTL_S`` (two round trips each: every
        search and every UI page needs it); ``_forget`` drops it on a mapping change."""
        cached = self._specs.get(index)
        if cached is not None and time.monotonic() - cached[0] < SPEC_TTL_S:
            return cached[1]
        return self.visual_spec(index)

    def ensure_index(self, index: str, spec: VisualSpec) -> None:
        self._forget(index)
        if not self._index_exists(index):
            body: dict[str, Any] = {
                "mappings": mappings.mapping_body(
                    self.engine, spec, label_rank=self._rank_features()
                )
            }
            settings = mappings.index_settings(self.engine)
            if settings:
                body["settings"] = settings
            self._call(
                f"creating index {index!r}", self.client.indices.create, index=index, body=body
            )
            return
        mapping = self._get_mapping(index)
        visual = (mapping.get("properties") or {}).get(schema.ROOT)
        existing = mappings.spec_from_meta(mapping.get("_meta"))
        if visual is not None:
            existing = existing or _spec_from_properties(visual)
            _check_compatible(index, existing, spec)
            # A newer es-visual (or faces turned on) adds fields: put_mapping adds them.
            wanted = mappings.visual_properties(
                self.engine, spec.dims, spec.face_dims, label_rank=self._rank_features()
            )
            if mappings.spec_from_meta(mapping.get("_meta")) == spec and not _missing(
                wanted, visual
            ):
                return
        else:
            self._check_new_visual(index)
        # The user's own _meta is kept: put_mapping replaces the whole _meta object.
        meta = dict(mapping.get("_meta") or {})
        meta[mappings.META_KEY] = mappings.spec_meta(spec)
        body = {
            "_meta": meta,
            "properties": {
                schema.ROOT: mappings.visual_properties(
                    self.engine, spec.dims, spec.face_dims, label_rank=self._rank_features()
                )
            },
        }
        self._call(
            f"adding the visual mapping to {index!r}",
            self.client.indices.put_mapping,
            index=index,
            body=body,
        )

    def index_exists(self, index: str) -> bool:
        """Whether ``index`` names an index or an alias."""
        return self._index_exists(index)

    def resolve_index(self, index: str) -> str:
        """The concrete index ``index`` names (itself, or the one its alias points at)."""
        resp = self._call(f"resolving {index!r}", self.client.indices.get_mapping, index=index)
        names = sorted(dict(resp))
        if index in names or not names:
            return index
        if len(names) > 1:
            raise BackendError(
                f"{self.name} at {self.url}: alias {index!r} points at several indexes "
                f"({', '.join(names)}); es-visual needs it to name one"
            )
        return names[0]

    def create_index_like(self, source: str, target: str, spec: VisualSpec) -> None:
        """Create ``target`` with ``source``'s user mapping, ``_meta`` and analysis
        settings (so copied user fields keep their types) and the ``visual`` mapping of
        ``spec``. Nothing happens if ``target`` exists with that spec already."""
        if self._index_exists(target):
            _check_compatible(target, self.visual_spec(target), spec)
            self.ensure_index(target, spec)
            return
        mapping = self._get_mapping(source)
        properties = dict(mapping.pop("properties", None) or {})
        properties.pop(schema.ROOT, None)
        meta = dict(mapping.get("_meta") or {})
        meta[mappings.META_KEY] = mappings.spec_meta(spec)
        ranked = self._rank_features()
        meta.pop(mappings.LABEL_RANK_META, None)
        if ranked:  # a new index, every document written by es-visual: all will have it
            meta[mappings.LABEL_RANK_META] = True
        visual = mappings.visual_properties(
            self.engine, spec.dims, spec.face_dims, label_rank=ranked
        )
        body: dict[str, Any] = {
            "mappings": {
                **mapping,
                "_meta": meta,
                "properties": {**properties, schema.ROOT: visual},
            }
        }
        settings: dict[str, Any] = dict(mappings.index_settings(self.engine).get("index") or {})
        resp = self._call(
            f"reading the settings of {source!r}", self.client.indices.get_settings, index=source
        )
        current = first_settings(resp).get("index", {})
        if current.get("analysis"):  # user fields may name custom analyzers
            settings["analysis"] = current["analysis"]
        if settings:
            body["settings"] = {"index": settings}
        self._call(
            f"creating index {target!r}", self.client.indices.create, index=target, body=body
        )
        self._forget(target)

    def set_visual_spec(self, index: str, spec: VisualSpec) -> None:
        """Record that ``index`` now holds vectors of ``spec.model`` (same dims only: a
        vector field's dims cannot change in place), for ``reindex --in-place``."""
        current = self.visual_spec(index)
        if current is not None and (current.dims, current.face_dims) != (
            spec.dims,
            spec.face_dims if spec.face_dims is not None else current.face_dims,
        ):
            raise ModelMismatchError(
                f"index {index!r} holds {current.dims}-dims vectors; {spec.model} makes "
                f"{spec.dims}: the model cannot change in place"
            )
        if current is None:
            self.ensure_index(index, spec)
            return
        self._put_meta(
            index, mappings.META_KEY, mappings.spec_meta(spec), f"recording model {spec.model}"
        )

    def block_writes(self, index: str, blocked: bool) -> None:
        """``index.blocks.write`` on (or off) for the concrete index ``index`` names."""
        self._call(
            f"{'blocking' if blocked else 'unblocking'} writes to {index!r}",
            self.client.indices.put_settings,
            index=index,
            body={"index": {"blocks": {"write": blocked}}},
        )

    def swap_alias(self, alias: str, target: str) -> list[str]:
        """Point ``alias`` at ``target`` in one atomic ``_aliases`` call. The indexes it
        pointed at lose it (they are kept); a concrete index called ``alias`` (the first
        migration of a user's index) is deleted in that same call, its documents having
        been copied. Returns the indexes the alias left (or that were deleted)."""
        actions: list[dict[str, Any]] = []
        old: list[str] = []
        is_alias = self._index_exists(alias) and bool(
            self._call(f"checking alias {alias!r}", self.client.indices.exists_alias, name=alias)
        )
        if is_alias:
            resp = self._call(f"reading alias {alias!r}", self.client.indices.get_alias, name=alias)
            old = sorted(i for i in dict(resp) if i != target)
            actions += [{"remove": {"index": i, "alias": alias}} for i in old]
        elif self._index_exists(alias):
            old = [alias]
            actions.append({"remove_index": {"index": alias}})
        actions.insert(0, {"add": {"index": target, "alias": alias}})
        self._call(
            f"pointing alias {alias!r} at {target!r}",
            self.client.indices.update_aliases,
            body={"actions": actions},
        )
        self._forget(None)
        return old

    # --- writes ---------------------------------------------------------------------------------

    def bulk_update(self, index: str, updates: Sequence[DocUpdate]) -> BulkResult:
        """Partial updates (``doc`` merged into the stored document), through the client's
        bulk helper. Items failing with 429/5xx are retried with exponential backoff;
        every item still failing is in ``errors``.

        An update that removes fields first (``unset``) is a read, a merge here and a
        write guarded by ``if_seq_no``/``if_primary_term``, re-read when someone wrote
        in between: no script, so it works on clusters without painless, and a
        concurrent edit is never overwritten."""
        if any(_writes_labels(u.doc) for u in updates) and self._label_rank_state(index)[0]:
            updates = [_with_label_rank(u) for u in updates]
        plain = [u for u in updates if not u.unset]
        result = self._bulk([_update_action(index, u) for u in plain], ok_statuses=())
        rewrites = [u for u in updates if u.unset]
        for attempt in range(self.max_retries + 1):
            if not rewrites:
                break
            outcome, conflicts = self._rewrite(index, rewrites, last=attempt == self.max_retries)
            result.written += outcome.written
            result.errors.extend(outcome.errors)
            rewrites = conflicts
        return result

    def _rewrite(
        self, index: str, updates: Sequence[DocUpdate], *, last: bool
    ) -> tuple[BulkResult, list[DocUpdate]]:
        """One read-merge-write pass; returns the outcome and the updates that met a
        concurrent write (409), to be read again."""
        source = self._source_filter(f"reading {index!r}", with_vectors=True)
        ids = [u.id for u in updates]
        resp = self._call(
            f"reading {len(ids)} document(s) from {index!r}", self._multi_get, index, ids, source
        )
        stored = {d["_id"]: d for d in resp["docs"] if d.get("found")}
        actions: list[dict[str, Any]] = []
        missing = BulkResult()
        for u in updates:
            doc = stored.get(u.id)
            if doc is None:
                if u.upsert:
                    actions.append({"_op_type": "create", "_index": index, "_id": u.id,
                                    "_source": u.doc})  # fmt: skip
                else:
                    missing.errors.append(ItemError(u.id, _DELETED, status=404))
                continue
            merged = merge_update(dict(doc.get("_source") or {}), u)
            if _writes_labels(merged) and self._label_rank_state(index)[0]:
                merged = label_rank_of(merged)
            actions.append({"_op_type": "index", "_index": index, "_id": u.id,
                            "if_seq_no": doc["_seq_no"], "if_primary_term": doc["_primary_term"],
                            "_source": merged})  # fmt: skip
        outcome = self._bulk(actions, ok_statuses=())
        by_id = {u.id: u for u in updates}
        conflicts = [] if last else [by_id[e.id] for e in outcome.errors if e.status == 409]
        retried = {u.id for u in conflicts}
        outcome.errors = [e for e in outcome.errors if e.id not in retried] + missing.errors
        return outcome, conflicts

    def _bulk(self, actions: list[dict[str, Any]], *, ok_statuses: Sequence[int]) -> BulkResult:
        result = BulkResult()
        pending = list(range(len(actions)))
        attempt = 0
        while pending:
            retry: list[int] = []
            try:
                outcomes = self._run_bulk([actions[i] for i in pending], written=result.written)
            except BackendUnavailableError as exc:
                # A cluster restarting or a dropped connection: the same backoff as 429/503.
                # Re-sending items that landed before the drop is harmless (updates merge).
                if attempt >= self.max_retries:
                    raise BackendUnavailableError(
                        f"{exc} (gave up after {attempt + 1} attempts)"
                    ) from None
                delay = min(self.initial_backoff * 2**attempt, self.max_backoff)
                log.warning("%s unreachable during bulk; retrying in %.1fs", self.name, delay)
                time.sleep(delay)
                attempt += 1
                continue
            for i, (ok, item) in zip(pending, outcomes, strict=True):
                info = next(iter(item.values())) if item else {}
                status = info.get("status")
                if ok or status in ok_statuses:
                    result.written += 1 if ok else 0
                    continue
                if status in RETRY_STATUSES and attempt < self.max_retries:
                    retry.append(i)
                    continue
                result.errors.append(
                    ItemError(
                        id=str(actions[i]["_id"]),
                        reason=_item_reason(info, actions[i]),
                        status=status,
                        retryable=status in RETRY_STATUSES,
                    )
                )
            pending = retry
            if pending:
                delay = min(self.initial_backoff * 2**attempt, self.max_backoff)
                log.info("%s: retrying %d bulk item(s) in %.1fs", self.name, len(pending), delay)
                time.sleep(delay)
                attempt += 1
        return result

    def _run_bulk(
        self, actions: list[dict[str, Any]], *, written: int
    ) -> list[tuple[bool, dict[str, Any]]]:
        """One pass of the helper over ``actions``: an (ok, item) per action, in order."""
        self._ensure_server("bulk update")
        helper = self._bulk_helper()
        out: list[tuple[bool, dict[str, Any]]] = []
        try:
            for ok, item in helper(
                self.client,
                actions,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=0,
            ):
                out.append((ok, item))
        except Exception as exc:
            failure = self._classify(exc)
            if not isinstance(failure, str):
                raise
            done = written + sum(1 for ok, _ in out if ok)
            raise BackendUnavailableError(
                f"{self.name} at {self.url} is unreachable (bulk update): {failure}; "
                f"{done} update(s) were written before it failed, "
                f"{len(actions) - len(out)} were not sent"
            ) from None
        return out

    def delete(self, index: str, ids: Iterable[str]) -> int:
        actions = [{"_op_type": "delete", "_index": index, "_id": i} for i in ids]
        if not actions:
            return 0
        result = self._bulk(actions, ok_statuses=(404,))
        if result.errors:
            first = result.errors[0]
            raise BackendError(
                f"{self.name} at {self.url}: deleting {len(result.errors)} document(s) from "
                f"{index!r} failed, e.g. {first.id}: {first.reason}"
            )
        return result.written

    def refresh(self, index: str) -> None:
        self._call(f"refreshing {index!r}", self.client.indices.refresh, index=index)

    def close(self) -> None:
        self.client.close()

    # --- reads ------------------------------------------------------------------------------------

    def get(
        self, index: str, doc_id: str, *, acl: Node = MatchAll(), with_vectors: bool = False
    ) -> dict[str, Any] | None:
        """A search by id AND acl, so a forbidden document reads exactly like a missing one."""
        if isinstance(acl, MatchNone):
            return None
        body: dict[str, Any] = {
            "size": 1,
            "query": {"bool": {"filter": [dsl.filter_to_query(and_(_ids(doc_id), acl))]}},
        }
        what = f"reading {doc_id!r} from {index!r}"
        body["_source"] = self._source_filter(what, with_vectors=with_vectors)
        try:
            resp = self.client.search(index=index, body=body)
        except Exception as exc:
            failure = self._failure(exc)
            if failure is not None and failure.status == 404:
                return None  # no such index: no such document
            self._call(what, _reraise, exc)
            raise
        hits = resp["hits"]["hits"]
        return dict(hits[0].get("_source") or {}) if hits else None

    def iter_docs(
        self,
        index: str,
        *,
        filter: Node = MatchAll(),
        fields: Sequence[str] | None = None,
        batch_size: int = 500,
        with_vectors: bool = False,
        slice: Slice | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(filter, MatchNone):
            return
        source = self._source_filter(
            f"reading {index!r}", with_vectors=with_vectors, includes=fields
        )
        if slice is not None and slice.whole:
            slice = None
        if isinstance(filter, Ids) and slice is None:
            # A lookup by id (ingest's "is it unchanged?"): a realtime multi-get sees
            # what was written a moment ago, where a search waits for the next refresh.
            yield from self._lookup_ids(index, filter.values, source)
            return
        body: dict[str, Any] = {"query": dsl.filter_to_query(filter), "_source": source}
        if isinstance(filter, MatchAll):
            body["query"] = {"match_all": {}}
        for hit in self._iter_hits(index, body, batch_size, slice):
            yield hit["_id"], dict(hit.get("_source") or {})

    def _source_filter(
        self, what: str, *, with_vectors: bool, includes: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """``_source`` for reading documents: without vectors (they are large), or with
        them, which Elasticsearch 9.2+ must be asked for explicitly."""
        source: dict[str, Any] = {}
        if includes is not None:
            source["includes"] = list(includes)
        if not with_vectors:
            source["excludes"] = list(dsl.HIDDEN_FIELDS)
        elif self._ensure_server(what).vectors_left_out_of_source:
            source["exclude_vectors"] = False
        return source

    def _multi_get(self, index: str, ids: Sequence[str], source: dict[str, Any]) -> Any:
        """``_mget`` of ``ids``. A multi-get names ``exclude_vectors`` in its URL (its
        per-document ``_source`` refuses the key), so the flag moves there."""
        source = dict(source)
        if source.pop("exclude_vectors", None) is not False:
            body = {"docs": [{"_id": i, "_source": source} for i in ids]}
            return self.client.mget(index=index, body=body)
        # A per-document ``_source``, even {}, would override the URL's: none is sent.
        params = {"_source_exclude_vectors": "false"}
        if source.get("includes"):
            params["_source_includes"] = ",".join(source["includes"])
        return self.client.perform_request(
            "POST",
            f"/{quote(index, safe='')}/_mget",
            params=params,
            headers={"accept": "application/json", "content-type": "application/json"},
            body={"docs": [{"_id": i} for i in ids]},
        )

    def _scroll_hits(
        self, index: str, body: dict[str, Any], batch_size: int, slice: Slice | None = None
    ) -> Iterator[dict[str, Any]]:
        """A scroll sorted by ``_doc``: a consistent snapshot on any version, kept alive
        as long as the caller needs between pages (``PageClock``). A ``slice`` is the
        cluster's sliced scroll: split by shard, then by a hash of ``_id``, so every
        worker's scroll agrees on the split whenever it was opened."""
        what = f"scrolling {index!r}" + (f" (slice {slice})" if slice is not None else "")
        clock = PageClock(batch_size)
        size, keep_alive = clock.next_page()
        first: dict[str, Any] = {**body, "size": size, "sort": ["_doc"]}
        if slice is not None and not slice.whole:
            first["slice"] = {"id": slice.id, "max": slice.max}
        resp = self._read(what, self.client.search, index=index, body=first, scroll=keep_alive)
        scroll_id = resp.get("_scroll_id")
        try:
            while True:
                self._whole_page(what, resp)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                yield from hits
                # A scroll's page size is fixed by its first request.
                _, keep_alive = clock.next_page()
                resp = self._page(
                    what,
                    clock,
                    self.client.scroll,
                    body={"scroll_id": scroll_id, "scroll": keep_alive},
                )
                scroll_id = resp.get("_scroll_id") or scroll_id
        finally:
            if scroll_id:
                try:
                    self.client.clear_scroll(body={"scroll_id": [scroll_id]})
                except Exception as exc:  # expiry is the fallback; never mask the real error
                    log.debug("clear_scroll failed: %s", exc)

    def _page(self, what: str, clock: PageClock, fn: Callable[..., T], **kwargs: Any) -> T:
        """The next page of a scroll or point in time; its expiry said in words. A 429
        is waited out (``_with_backoff``): a refused page was not run, so asking for it
        again skips nothing."""
        try:
            return self._with_backoff(what, fn, **kwargs)
        except BackendBusyError:
            raise
        except Exception as exc:
            if expired_context(self._failure(exc)):
                raise BackendError(
                    f"{self.name} at {self.url}: {what}: the server dropped the read "
                    f"context between two pages (about {clock.per_doc_s:.1f}s a document "
                    "here); run the command again: it resumes where it stopped"
                ) from None
            self._call(what, _reraise, exc)
            raise

    # --- reads that wait out a busy cluster, changes since a checkpoint -----------------------

    def _with_backoff(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, asked again after a growing pause while the cluster
        answers 429 (too many requests), as bulk writes are; ``BackendBusyError`` once
        ``max_retries`` pauses did not help. Any other exception is raised as it is."""
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                failure = self._failure(exc)
                if failure is None or failure.status != 429:
                    raise
                if attempt >= self.max_retries:
                    raise BackendBusyError(
                        f"{self.name} at {self.url}: {what}: the cluster still answered 429 "
                        f"(too many requests) after {attempt + 1} attempts: {failure.reason}"
                    ) from None
                delay = min(self.initial_backoff * 2**attempt, self.max_backoff)
                log.warning("%s busy (429) while %s; asking again in %.1fs", self.name, what, delay)
                time.sleep(delay)
                attempt += 1

    def _read(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``_call`` for reads: 429 answers waited out (``_with_backoff``) first."""
        self._ensure_server(what)
        try:
            return self._with_backoff(what, fn, *args, **kwargs)
        except BackendBusyError:
            raise
        except Exception as exc:
            self._call(what, _reraise, exc)
            raise

    def _whole_page(self, what: str, resp: Mapping[str, Any]) -> None:
        """Refuse a page some shards failed to answer: its documents on them would be
        skipped without a word (a 200 answer with ``_shards.failed``)."""
        shards = resp.get("_shards") or {}
        failed = int(shards.get("failed") or 0)
        if not failed:
            return
        causes = [(f.get("reason") or {}) for f in shards.get("failures") or []]
        types = {str(c.get("type")) for c in causes}
        first = causes[0] if causes else {}
        text = (
            f"{self.name} at {self.url}: {what}: {failed} of {shards.get('total')} shard(s) "
            f"did not answer ({first.get('type')}: {first.get('reason')}); their documents "
            "would be missed, so this read stops: run it again (what is done is skipped)"
        )
        if types == {"es_rejected_execution_exception"}:
            raise BackendBusyError(text)
        raise BackendError(text)

    def _lookup_ids(
        self, index: str, ids: Sequence[str], source: dict[str, Any]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``_multi_get`` of ``ids`` (a missing index: none of them), 429 waited out."""
        if not ids:
            return
        what = f"reading {len(ids)} document(s) from {index!r}"
        self._ensure_server(what)
        try:
            resp = self._with_backoff(what, self._multi_get, index, ids, source)
        except BackendBusyError:
            raise
        except Exception as exc:
            failure = self._failure(exc)
            if failure is not None and failure.status == 404:
                return  # no such index: none of the documents exist
            self._call(what, _reraise, exc)
            raise
        for doc in resp["docs"]:
            if doc.get("found"):
                yield doc["_id"], dict(doc.get("_source") or {})

    def change_marks(self, index: str) -> ChangeMarks:
        """Each shard's global checkpoint: every write up to that sequence number is done
        on every in-sync copy, so after a refresh any copy shows all of them (a higher
        number may already show while a lower one is still in flight: never past this)."""
        what = f"reading the write checkpoints of {index!r}"
        resp = dict(self._read(what, self.client.indices.stats, index=index, level="shards"))
        indices = resp.get("indices") or {}
        if len(indices) != 1:
            raise BackendError(
                f"{self.name} at {self.url}: {index!r} names {len(indices)} indexes "
                f"({', '.join(sorted(indices)) or 'none'}); watch follows exactly one"
            )
        name, entry = next(iter(indices.items()))
        marks: dict[int, int] = {}
        for shard, copies in (entry.get("shards") or {}).items():
            active = [
                c
                for c in copies
                if (c.get("routing") or {}).get("state") in ("STARTED", "RELOCATING")
                and "global_checkpoint" in (c.get("seq_no") or {})
            ]
            # The primary computes the global checkpoint; a replica learns it later (with
            # the next write or a periodic sync), so its own figure may lag a write behind.
            primary = [c for c in active if (c.get("routing") or {}).get("primary")]
            seen = [int(c["seq_no"]["global_checkpoint"]) for c in primary or active]
            if seen:  # a shard with no started copy waits for a later cycle
                marks[int(shard)] = min(seen)
        uuid = str(entry.get("uuid") or "")
        if not uuid:
            settings = dict(
                self._read(what, self.client.indices.get_settings, index=name, name="index.uuid")
            )
            uuid = str(next(iter(settings.values()))["settings"]["index"]["uuid"])
        return ChangeMarks(index=name, uuid=uuid, shards=marks)

    def show_changes(self, index: str) -> None:
        """A refresh of ``index``: every write up to the marks read before it is then
        visible on every copy. 429 answers are waited out, as for the other reads here."""
        self._read(f"refreshing {index!r}", self.client.indices.refresh, index=index)

    def iter_changed(
        self,
        index: str,
        shard: int,
        after: int,
        upto: int,
        *,
        fields: Sequence[str] | None = None,
        batch_size: int = 500,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The documents of one shard whose last write is in (``after``, ``upto``] by
        ``_seq_no``, in that order (unique within a shard: ``search_after`` needs no
        tiebreaker and no point in time; a document written again meanwhile leaves the
        range and is in the next one)."""
        if upto <= after:
            return
        what = f"reading the changes of {index!r} shard {shard}"
        source = self._source_filter(what, with_vectors=False, includes=fields)
        body: dict[str, Any] = {
            "query": {"range": {"_seq_no": {"gt": after, "lte": upto}}},
            "_source": source,
            "size": max(1, batch_size),
            "sort": [{"_seq_no": "asc"}],
            "track_total_hits": False,
        }
        while True:
            resp = self._read(
                what, self.client.search, index=index, body=body, preference=f"_shards:{shard}"
            )
            self._whole_page(what, resp)
            hits = resp["hits"]["hits"]
            for hit in hits:
                yield hit["_id"], dict(hit.get("_source") or {})
            if len(hits) < body["size"]:
                return
            body["search_after"] = hits[-1]["sort"]

    def search(self, request: SearchRequest) -> SearchResult:
        if request.vector is not None and request.vector.model:
            spec = self.cached_spec(request.index)
            if spec is not None and spec.model and spec.model != request.vector.model:
                raise ModelMismatchError(
                    f"index {request.index!r} holds vectors of {spec.model}; the query vector "
                    f"comes from {request.vector.model}: embed the query with the index's model "
                    "or search an index built with this one"
                )
        request = self.exact_fields(request)
        sent, checked_here = self._engine_request(request)
        body = self.exact_aggregations(request.index, self._compile(sent))
        self._children_in_source(request, body)
        started = time.perf_counter()
        try:
            resp = self.client.search(index=request.index, body=body)
        except Exception as exc:
            _bad_cursor(request, self._failure(exc))
            self._call(f"searching {request.index!r}", _reraise, exc)
            raise
        took_ms = (time.perf_counter() - started) * 1000
        return parse_response(
            dict(resp), request, took_ms, self._score_scale(request), checked_here
        )

    def rank_search(self, request: RankRequest) -> SearchResult:
        """``RankSearch``: the engine ranks (``cluster.rank``). An index whose documents
        do not all carry ``visual.label_rank`` yet (made before it existed: run
        ``es-visual labels --backfill``) has its labels ranked here, over every document
        that carries one of the concepts, read in pages: slower, the same order."""
        started = time.perf_counter()
        if isinstance(request.rank, LabelRank) and not self.ranks_labels(request.index):
            return self._labels_by_reading(request, request.rank, started)
        scoped = self.exact_fields(
            SearchRequest(index=request.index, filter=request.filter, acl=request.acl)
        ).scoped_filter
        body = rank.rank_body(request, scoped)
        if body is None:
            return SearchResult(hits=(), took_ms=0.0)
        params = rank.TEXT_PARAMS if isinstance(request.rank, TextRank) else {}
        resp = self._call(
            f"ranking {request.index!r}",
            self.client.search,
            index=request.index,
            body=body,
            **params,
        )
        hits = [
            Hit(
                id=h["_id"], score=round(float(h["_score"]), 6), source=dict(h.get("_source") or {})
            )
            for h in resp["hits"]["hits"]
        ]
        hits.sort(key=lambda h: (-(h.score or 0.0), h.id))
        return SearchResult(hits=tuple(hits), took_ms=(time.perf_counter() - started) * 1000)

    def can_fuse(self) -> bool:
        return self.server_extensions().fusion != "client"

    def fuse_search(self, request: FuseRequest) -> FusedResult | None:
        """``FuseSearch``: the engine fuses (``cluster.fusion``) where the server can
        (``ServerInfo.fusion``, read once) and the request allows; None otherwise."""
        if not fusion.fusable(request):
            return None
        labelled = any(isinstance(rr.rank, LabelRank) for _, rr in request.ranks)
        if labelled and not self.ranks_labels(request.index):
            return None
        info = self.server_extensions()
        if info.fusion == "client":
            return None
        scoped = {
            name: self.exact_fields(
                SearchRequest(index=rr.index, filter=rr.filter, acl=rr.acl)
            ).scoped_filter
            for name, rr in request.ranks
        }
        request = replace(
            request, vectors=tuple((n, self.exact_fields(vr)) for n, vr in request.vectors)
        )
        started = time.perf_counter()
        what = f"fusing a text search of {request.index!r} ({info.fusion})"
        if info.fusion == "rrf_retriever":
            body = fusion.es_body(request, scoped)
            resp = self._call(what, self.client.search, index=request.index, body=body)
        else:
            name = self._fusion_pipeline(request.k)
            body = fusion.opensearch_body(request, scoped, search_width=info.knn_method_parameters)
            resp = self._call(
                what,
                self.client.search,
                index=request.index,
                body=body,
                params={"search_pipeline": name},
            )
        raw = resp["hits"]["hits"]
        hits = [
            Hit(
                id=h["_id"],
                score=round(float(h["_score"] or 0.0), 8),
                source=dict(h.get("_source") or {}),
            )
            for h in raw
        ]
        hits.sort(key=lambda h: (-(h.score or 0.0), h.id))  # ties by id, as query.ranking.rrf
        ranks = {}
        if info.fusion == "rrf_retriever":
            ranks = {h["_id"]: fusion.es_ranks(h, request.names) for h in raw}
        return FusedResult(
            hits=tuple(hits[: request.size]),
            ranks=ranks,
            took_ms=(time.perf_counter() - started) * 1000,
            fused_by=info.fusion,
        )

    def server_extensions(self) -> ServerInfo:
        """``server`` with the plugins and modules of every node and, on Elasticsearch,
        the license: read once, the first time a choice depends on them. A user who
        may not list plugins (no ``monitor`` privilege) gets the distribution's
        defaults (``ServerInfo.extensions`` None) and es-visual's own fusion."""
        info = self.server
        if self._extensions_read:
            return info
        try:
            nodes = self._call(
                "reading the plugins of each node", self.client.nodes.info, metric="plugins"
            )
        except BackendUnavailableError:
            raise
        except BackendError as exc:
            log.warning("the plugins of %s could not be read: %s", self.url, exc)
            self._extensions_read = True
            return info
        license_body = None
        if info.distribution == "elasticsearch":
            try:
                license_body = self.client.license.get()
            except Exception as exc:  # no x-pack: no license API, so no licensed feature
                log.debug("no license on %s: %s", self.url, self._failure(exc) or exc)
        self._server = info.with_extensions(dict(nodes), dict(license_body or {}))
        self._extensions_read = True
        return self._server

    def _fusion_pipeline(self, k: int) -> str:
        """The search pipeline fusing a hybrid query by reciprocal rank, made once."""
        name = fusion.pipeline_name(k)
        if name not in self._pipelines:
            self._call(
                f"creating the search pipeline {name!r}",
                self.client.transport.perform_request,
                "PUT",
                f"/_search/pipeline/{name}",
                body=fusion.pipeline(k),
            )
            self._pipelines.add(name)
        return name

    def ranks_labels(self, index: str) -> bool:
        """Whether every document of ``index`` carries ``visual.label_rank`` (the mapping
        has it and its ``_meta`` says so)."""
        return self._label_rank_state(index)[1]

    def _label_rank_state(self, index: str) -> tuple[bool, bool]:
        """(the mapping has ``visual.label_rank``, every document has it), read once a
        minute: writes add the field only where it is mapped (elsewhere dynamic
        mapping would make a float field of every label)."""
        cached = self._label_ranks.get(index)
        if cached is not None and time.monotonic() - cached[0] < FIELD_TYPES_TTL_S:
            return cached[1]
        mapping = self._get_mapping(index) if self._index_exists(index) else {}
        visual = (mapping.get("properties") or {}).get(schema.ROOT) or {}
        field = (visual.get("properties") or {}).get(labels.RANK) or {}
        mapped = field.get("type") == "rank_features"
        complete = mapped and (mapping.get("_meta") or {}).get(mappings.LABEL_RANK_META) is True
        self._label_ranks[index] = (time.monotonic(), (mapped, complete))
        return mapped, complete

    def _rank_features(self) -> bool:
        return self.server_extensions().rank_features

    def complete_label_ranks(self, index: str, *, batch_size: int = 500) -> int:
        """Give ``visual.label_rank`` to every labelled document of ``index`` (an index
        that gained the field after documents were labelled), then mark the index so
        that the engine ranks its labels; the number of documents written."""
        spec = self.visual_spec(index)
        if spec is None:
            return 0
        self.ensure_index(index, spec)  # the field, where the mapping lacks it
        if not self._label_rank_state(index)[0]:
            return 0  # a server without rank_features: es-visual ranks the labels
        written = 0
        wanted = (labels.LABELS_FIELD, labels.SCORES_FIELD)
        batch: list[DocUpdate] = []
        docs = self.iter_docs(
            index, filter=Exists(labels.LABELS_FIELD), fields=wanted, batch_size=batch_size
        )
        for doc_id, doc in docs:
            visual = doc.get(schema.ROOT) or {}
            change = {labels.LABELS: visual.get(labels.LABELS)}
            if labels.SCORES in visual:
                change[labels.SCORES] = visual[labels.SCORES]
            batch.append(DocUpdate(doc_id, {schema.ROOT: change}, upsert=False))
            if len(batch) >= batch_size:
                written += self._write_ranks(index, batch)
                batch = []
        if batch:
            written += self._write_ranks(index, batch)
        self._put_meta(index, mappings.LABEL_RANK_META, True, "marking as ranked by labels")
        self.refresh(index)
        return written

    def _write_ranks(self, index: str, batch: list[DocUpdate]) -> int:
        result = self.bulk_update(index, batch)
        if result.errors:
            first = result.errors[0]
            raise BackendError(
                f"{len(result.errors)} document(s) of {index!r} could not be given their "
                f"label ranks (first: {first.id}: {first.reason})"
            )
        return result.written

    def _labels_by_reading(
        self, request: RankRequest, rank_: LabelRank, started: float
    ) -> SearchResult:
        weights = dict(rank_.concepts)
        if not weights:
            return SearchResult(hits=(), took_ms=0.0)
        node = and_(Terms(labels.LABELS_FIELD, tuple(weights)), request.scoped_filter)
        node = self.exact_fields(SearchRequest(index=request.index, filter=node)).filter
        wanted = (labels.LABELS_FIELD, labels.SCORES_FIELD)
        scored: list[tuple[float, str]] = []
        for doc_id, doc in self.iter_docs(request.index, filter=node, fields=wanted):
            score = round(labels.concept_score(labels.read_pairs(doc.get(schema.ROOT)), weights), 6)
            if score > 0:
                scored.append((score, doc_id))
        scored.sort(key=lambda p: (-p[0], p[1]))
        best = scored[: max(0, request.size)]
        found = dict(self.iter_docs(
            request.index, filter=Ids(tuple(i for _, i in best)), fields=request.fields
        )) if best else {}  # fmt: skip
        hits = tuple(Hit(id=i, score=s, source=found[i]) for s, i in best if i in found)
        return SearchResult(hits=hits, took_ms=(time.perf_counter() - started) * 1000)

    def _children_in_source(self, request: SearchRequest, body: dict[str, Any]) -> None:
        """A nested kNN whose filter picks the competing children: the hits bring the
        searched list with its vectors, so that ``responses`` scores the children that
        pass (the vectors are dropped there, never returned)."""
        vq = request.vector
        if vq is None or vq.target not in dsl.NESTED_PATHS or not reaches_children(request.filter):
            return
        field = dsl.vector_field(vq.target)
        source = body.setdefault("_source", {})
        source["excludes"] = [f for f in source.get("excludes", []) if f != field]
        if source.get("includes"):
            source["includes"] = [*source["includes"], dsl.NESTED_PATHS[vq.target]]
        if self.server.vectors_left_out_of_source:
            source["exclude_vectors"] = False

    def _engine_request(self, request: SearchRequest) -> tuple[SearchRequest, Node | None]:
        """What is sent for ``request``, and the part of its filter checked on the hits
        instead (None: all of it runs in the engine)."""
        return _widened(request), None

    def exact_fields(self, request: SearchRequest) -> SearchRequest:
        """``request`` with every exact use of a ``text`` field (term, terms, prefix,
        range, sort, aggregation) moved to its ``keyword`` sub-field: what dynamic
        mapping makes of a string (``tags`` -> ``tags.keyword``). Full-text parts keep
        the text field. The same request then means the same on a cluster as on the
        embedded store, whoever built it (CLI, UI, API, duplicates)."""
        if request.index not in self._keywords:
            types = self.field_types(request.index) if self._index_exists(request.index) else {}
            self._keywords[request.index] = {
                f: f"{f}.{sub}"
                for f, t in types.items()
                if t in ("text", "match_only_text")
                for sub in ("keyword", "raw")
                if types.get(f"{f}.{sub}") == "keyword"
            }
        moved = self._keywords[request.index]
        if not moved:
            return request
        return replace(
            request,
            filter=_exact(request.filter, moved),
            acl=_exact(request.acl, moved),
            sort=tuple(replace(s, field=moved.get(s.field, s.field)) for s in request.sort),
        )

    def exact_aggregations(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body``'s terms aggregations counted on keyword sub-fields (as
        ``exact_fields``), still named as asked."""
        moved = self._keywords.get(index) or {}
        for agg in (body.get("aggs") or {}).values():
            terms = agg.get("terms") or {}
            if terms.get("field") in moved:
                terms["field"] = moved[terms["field"]]
        return body

    def stats(self, index: str) -> IndexStats:
        if not self._index_exists(index):
            raise NotFoundError(f"no such index {index!r} on {self.name} at {self.url}")
        mapping = self._get_mapping(index)
        visual = ((mapping.get("properties") or {}).get(schema.ROOT) or {}).get("properties") or {}
        errors = {"filter": {"exists": {"field": schema.ERROR_FIELD}}}
        aggs: dict[str, Any] = {"with_errors": errors}
        for target, path in dsl.NESTED_PATHS.items():
            if target in visual:
                aggs[target] = {"nested": {"path": path}}
        what = f"counting documents in {index!r}"
        resp = self._call(
            what,
            self.client.search,
            index=index,
            body={"size": 0, "track_total_hits": True, "aggs": aggs},
        )
        # A query, not a filter aggregation: an ``exists`` over a vector field is a plain
        # query on every version, while some ES-compatible servers refuse it as an
        # aggregation filter (noida-db asks for doc values there).
        counted = self._call(
            what,
            self.client.count,
            index=index,
            body={"query": {"exists": {"field": dsl.SCENE_FIELD}}},
        )
        a = resp.get("aggregations") or {}
        with_visual = int(counted["count"])
        vectors = {"scene": with_visual}
        for target in dsl.NESTED_PATHS:
            if target in a:
                vectors[target] = int(a[target]["doc_count"])
        extra: dict[str, Any] = {"cluster": self.url}
        return IndexStats(
            index=index,
            documents=int(resp["hits"]["total"]["value"]),
            with_visual=with_visual,
            with_errors=int(a["with_errors"]["doc_count"]),
            spec=mappings.spec_from_meta(mapping.get("_meta")),
            vectors=vectors,
            extra=extra,
        )


# --- helpers ------------------------------------------------------------------------------------


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:pw@host:9200`` -> (``https://host:9200``, user, pw)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.username:
        return url, None, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    password = unquote(parts.password) if parts.password is not None else None
    return clean, unquote(parts.username), password


def flatten_mapping(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"properties": {"a": {"properties": {"b": {"type": "keyword"}}}}}`` ->
    ``{"a.b": "keyword"}``."""
    out: dict[str, str] = {}
    for name, spec in (mapping.get("properties") or {}).items():
        path = f"{prefix}{name}"
        kind = spec.get("type")
        if "properties" in spec:
            if kind == "nested":
                out[path] = "nested"
            out.update(flatten_mapping(spec, path + "."))
        else:
            out[path] = kind or "object"
        for sub, sub_spec in (spec.get("fields") or {}).items():
            out[f"{path}.{sub}"] = sub_spec.get("type", "object")
    return out


def _spec_from_properties(visual: Mapping[str, Any]) -> VisualSpec | None:
    """A spec guessed from a ``visual`` mapping without ``_meta`` (set up by hand)."""
    scene = (visual.get("properties") or {}).get("scene") or {}
    dims = scene.get("dims") or scene.get("dimension")
    return VisualSpec(model="", dims=int(dims)) if dims else None


def _check_compatible(index: str, existing: VisualSpec | None, spec: VisualSpec) -> None:
    if existing is None:
        return
    if existing.dims != spec.dims or (existing.model and existing.model != spec.model):
        raise ModelMismatchError(
            f"index {index!r} already holds visual vectors of "
            f"{existing.model or 'an unknown model'} ({existing.dims} dims); this run uses "
            f"{spec.model} ({spec.dims} dims). Use `es-visual reindex --model {spec.model}` "
            "or another index"
        )
    if (
        existing.face_dims is not None
        and spec.face_dims is not None
        and (existing.face_dims != spec.face_dims or existing.face_model != spec.face_model)
    ):
        raise ModelMismatchError(
            f"index {index!r} holds face vectors of {existing.face_model} "
            f"({existing.face_dims} dims); this run uses {spec.face_model} ({spec.face_dims} dims)"
        )


_DELETED = "the document was deleted from the index while this ran; it was not re-created"


def merge_update(stored: dict[str, Any], update: DocUpdate) -> dict[str, Any]:
    """``update`` applied to ``stored`` as ``_update`` would: ``unset`` paths removed
    first (a literal dotted key, or a walk through objects), then ``doc`` merged
    (objects key by key, anything else replaced)."""

    def unset(node: dict[str, Any], path: str) -> None:
        if path in node:
            node.pop(path)
            return
        head, dot, rest = path.partition(".")
        while dot:
            child = node.get(head)
            if isinstance(child, dict):
                unset(child, rest)
            more, dot, rest = rest.partition(".")
            head = f"{head}.{more}"

    def merge(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
        for key, value in src.items():
            if isinstance(value, Mapping) and isinstance(dst.get(key), dict):
                merge(dst[key], value)
            else:
                dst[key] = value

    for path in update.unset:
        unset(stored, path)
    merge(stored, update.doc)
    return stored


def _writes_labels(doc: Mapping[str, Any]) -> bool:
    visual = doc.get(schema.ROOT)
    return isinstance(visual, Mapping) and (labels.LABELS in visual or labels.RANK in visual)


def _with_label_rank(update: DocUpdate) -> DocUpdate:
    """``update`` also writing ``visual.label_rank`` when it writes labels (see
    ``core.labels``): derived here, so documents elsewhere never carry it."""
    visual = update.doc.get(schema.ROOT)
    if not isinstance(visual, Mapping) or labels.LABELS not in visual:
        return update
    rank = labels.rank_features(labels.read_pairs(visual))
    return replace(update, doc={**update.doc, schema.ROOT: {**visual, labels.RANK: rank}})


def label_rank_of(source: dict[str, Any]) -> dict[str, Any]:
    """A whole document with its ``visual.label_rank`` made from its labels (or none)."""
    visual = source.get(schema.ROOT)
    if isinstance(visual, dict):
        visual.pop(labels.RANK, None)
        if labels.LABELS in visual:
            visual[labels.RANK] = labels.rank_features(labels.read_pairs(visual))
    return source


def _update_action(index: str, update: DocUpdate) -> dict[str, Any]:
    action: dict[str, Any] = {
        "_op_type": "update",
        "_index": index,
        "_id": update.id,
        "doc": update.doc,
    }
    if update.upsert:
        action["doc_as_upsert"] = True
    return action


def _item_reason(info: Mapping[str, Any], action: Mapping[str, Any] | None = None) -> str:
    error = info.get("error")
    if (
        action is not None
        and action.get("_op_type") == "update"
        and info.get("status") == 404
        and isinstance(error, Mapping)
        and error.get("type") == "document_missing_exception"
    ):
        # Only updates that may not create the document get here (``ingest --from-index``).
        return _DELETED
    if isinstance(error, Mapping):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
        cause = error.get("caused_by")
        if isinstance(cause, Mapping) and cause.get("reason"):
            text += f" ({cause.get('type')}: {cause['reason']})"
        return text
    if error:
        return str(error)
    exc = info.get("exception")
    return str(exc) if exc else f"status {info.get('status')}"


def first_settings(resp: Any) -> dict[str, Any]:
    """The ``settings`` of the one index in a ``get_settings`` answer ({} when none)."""
    for entry in dict(resp).values():
        return dict(entry.get("settings") or {})
    return {}


def _bad_cursor(request: SearchRequest, failure: ApiFailure | None) -> None:
    """A cursor the engine refuses (another search's, or edited) is the caller's error."""
    refused = failure is not None and failure.status == 400
    if request.after is not None and refused and "search_after" in str(failure):
        raise CursorError(
            "this cursor does not belong to this search (its sort changed, or it was "
            "edited): run the search again without it"
        )


def _widened(request: SearchRequest, *, always: bool = False) -> SearchRequest:
    """The request sent for a nested kNN whose filter picks which children compete
    (``regions.label:dog``): the engine ranks documents by their best child of any
    kind, ``responses`` re-ranks them by their best child that passes, so more
    documents are asked for than will be kept."""
    vq = request.vector
    if vq is None or vq.target not in dsl.NESTED_PATHS:
        return request
    if not always and isinstance(child_filter(request.filter, vq.target), MatchAll):
        return request
    wider = min(max(3 * vq.k, vq.k + 20), dsl.MAX_CANDIDATES)
    return replace(
        request,
        size=max(request.size, wider),
        vector=replace(vq, k=wider, num_candidates=max(vq.num_candidates, wider)),
    )


def _missing(wanted: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    """Whether mapping ``wanted`` has a field (at any depth) that ``have`` lacks."""
    got = have.get("properties") or {}
    for name, spec in (wanted.get("properties") or {}).items():
        if name not in got or ("properties" in spec and _missing(spec, got[name])):
            return True
    return False


def _exact(node: Node, moved: Mapping[str, str]) -> Node:
    """``node`` with its exact leaves on the fields of ``moved`` moved to their keyword
    sub-fields (see ``exact_fields``)."""
    match node:
        case And(children):
            return And(tuple(_exact(c, moved) for c in children))
        case Or(children):
            return Or(tuple(_exact(c, moved) for c in children))
        case Not(child):
            return Not(_exact(child, moved))
        case Term() | Terms() | Prefix() | Range():
            return replace(node, field=moved[node.field]) if node.field in moved else node
        case MatchAll() | MatchNone() | Match() | MultiMatch() | Exists() | Ids():
            return node
        case _:
            assert_never(node)


def _ids(doc_id: str) -> Node:
    from es_visual.core.ir import Ids

    return Ids((doc_id,))


def _reraise(exc: Exception) -> None:
    raise exc
