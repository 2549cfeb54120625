"""The one protocol every store implements: embedded, Elasticsearch, OpenSearch.

Documents are plain dicts shaped like the user's own index documents, with
everything es-visual writes under ``visual`` (es_visual.core.schema, described in
docs/architecture.md). Vectors travel as lists of floats inside that dict on the
way in; they are never returned in a hit's ``source`` (they are large and the user
never wants to read them), but ``get(..., with_vectors=True)`` returns them for
"find similar".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from es_visual.core.documents import BulkResult, DocUpdate, ItemError, VisualSpec
from es_visual.core.ir import MatchAll, Node, SearchRequest
from es_visual.core.results import SearchResult
from es_visual.core.slicing import Slice


@dataclass(frozen=True)
class IndexStats:
    index: str
    documents: int  # all documents in the index
    with_visual: int  # documents carrying a scene vector
    with_errors: int  # documents whose last ingest failed (visual.error)
    spec: VisualSpec | None
    vectors: dict[str, int] = field(default_factory=dict)  # target -> count of vectors
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific (disk size, ...)

    def to_dict(self) -> dict[str, Any]:
        """Counts, models and dims (scene and face) as plain JSON, for ``stats --json``
        and ``/api/index`` alike; ``extra`` is left to the caller to place."""
        spec = self.spec
        return {
            "index": self.index,
            "documents": self.documents,
            "with_visual": self.with_visual,
            "with_errors": self.with_errors,
            "model": spec.model if spec else None,
            "dims": spec.dims if spec else None,
            "face_model": spec.face_model if spec else None,
            "face_dims": spec.face_dims if spec else None,
            "vectors": dict(self.vectors),
        }


@dataclass(frozen=True)
class Capabilities:
    """What a store is and can do, for callers that choose by it (never by its name).

    The embedded store's are fixed; a cluster's are derived from its distribution and
    version (``ServerInfo``, read once per backend). Protocols say which operations a
    store has (``IndexAdmin``, ``ChangeFeed``); this says how to use the ones all have."""

    store: str  # "embedded", "Elasticsearch 9.1.0", "OpenSearch 2.19.1": for messages
    # Searches worth sending at once: the embedded store already spreads one search over
    # every core (more threads only contend), a cluster spreads concurrent ones over nodes.
    search_workers: int


__all__ = [
    "Backend",
    "BulkResult",
    "Capabilities",
    "ChangeFeed",
    "ChangeMarks",
    "DocUpdate",
    "IndexStats",
    "ItemError",
    "VisualSpec",
]


@runtime_checkable
class Backend(Protocol):
    """A store of documents with visual vectors. Methods raise ``BackendError``
    subclasses (``BackendUnavailableError`` when unreachable)."""

    @property
    def name(self) -> str:
        """``embedded``, ``elasticsearch`` or ``opensearch`` (a class constant)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this store can do (read once; a cluster may be asked for its version)."""
        ...

    def ensure_index(self, index: str, spec: VisualSpec) -> None:
        """Create the index, or add the ``visual`` mapping to an existing one without
        touching user fields. Raises ``ModelMismatchError`` if it already holds
        vectors of another model or dims."""
        ...

    def index_exists(self, index: str) -> bool:
        """Whether ``index`` names an index (or an alias of one): a mistyped name is told
        apart from an empty index before a search or stats answers "0"."""
        ...

    def visual_spec(self, index: str) -> VisualSpec | None:
        """The spec the index was set up with; None if it has no ``visual`` yet. Read
        from the store now: what ingest, reindex and setup check before they write."""
        ...

    def cached_spec(self, index: str) -> VisualSpec | None:
        """``visual_spec`` as a search needs it: kept per process (a cluster reads it
        again after ``SPEC_TTL_S``, to see another process's reindex), dropped at once by
        this backend's own ``ensure_index``, ``set_visual_spec`` and ``swap_alias``."""
        ...

    def bulk_update(self, index: str, updates: Sequence[DocUpdate]) -> BulkResult:
        """Apply partial updates; every failed item is in ``errors``, none dropped."""
        ...

    def get(
        self, index: str, doc_id: str, *, acl: Node = MatchAll(), with_vectors: bool = False
    ) -> dict[str, Any] | None:
        """The document's source, or None when it is missing OR ``acl`` excludes it."""
        ...

    def delete(self, index: str, ids: Iterable[str]) -> int:
        """Delete documents; returns how many existed."""
        ...

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
        """Every matching (id, source), in a stable order, consistent while iterating.
        ``with_vectors`` puts the vectors back into each source, as ``get`` does.
        ``slice``: only that share of the documents (``es_visual.core.slicing``): the N
        slices of an index hold every document exactly once, whenever each is read."""
        ...

    def search(self, request: SearchRequest) -> SearchResult: ...

    def stats(self, index: str) -> IndexStats: ...

    def refresh(self, index: str) -> None:
        """Make everything written so far searchable."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class IndexAdmin(Protocol):
    """What ``reindex`` needs beyond ``Backend``: aliases, copies and write blocks.
    Every backend here implements it; ``as_admin`` says so in words when one does not."""

    def resolve_index(self, index: str) -> str:
        """The concrete index ``index`` names (itself, or its alias's one index)."""
        ...

    def create_index_like(self, source: str, target: str, spec: VisualSpec) -> None:
        """``target`` with ``source``'s user mapping and the visual mapping of ``spec``."""
        ...

    def set_visual_spec(self, index: str, spec: VisualSpec) -> None:
        """Record a new model of the same dims on ``index`` (``reindex --in-place``)."""
        ...

    def swap_alias(self, alias: str, target: str) -> list[str]:
        """Point ``alias`` at ``target`` atomically; returns what it left (or deleted)."""
        ...

    def block_writes(self, index: str, blocked: bool) -> None:
        """Refuse writes to ``index`` (``index.blocks.write``) or allow them again."""
        ...


def as_admin(backend: Backend) -> IndexAdmin:
    """``backend`` as an ``IndexAdmin``, or a clear error naming what it lacks."""
    if isinstance(backend, IndexAdmin):
        return backend
    from es_visual.core.errors import BackendError

    raise BackendError(f"the {backend.name} backend cannot manage indexes (aliases, copies)")


@dataclass(frozen=True)
class ChangeMarks:
    """Where an index's writes stand, for ``es-visual watch``: per shard, the sequence
    number up to which every write is done on every copy of the shard (its global
    checkpoint). ``uuid`` tells a recreated index (same name, new numbers) apart."""

    index: str  # the concrete index (an alias resolved)
    uuid: str
    shards: dict[int, int]  # shard number -> global checkpoint (-1: nothing written yet)


@runtime_checkable
class ChangeFeed(Protocol):
    """A store that can list the documents written since a point: the clusters, by each
    shard's ``_seq_no`` (every create and update gives a document a new, higher one)."""

    def change_marks(self, index: str) -> ChangeMarks:
        """The marks now (read before the documents they cover are searched)."""
        ...

    def show_changes(self, index: str) -> None:
        """Make every write up to the marks just read visible to searches (a refresh of
        the concrete ``index``), a busy cluster waited out."""
        ...

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
        """(id, source) of the documents of ``shard`` of the concrete ``index`` whose last
        write has a sequence number in (``after``, ``upto``], in that order. Call
        ``show_changes`` after reading ``upto`` and before this, so all are visible."""
        ...
