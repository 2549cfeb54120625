"""The one protocol every store implements: embedded, Elasticsearch, OpenSearch.

Documents are plain dicts shaped like the user's own index documents, with
everything es-visual writes under ``visual`` (see DESIGN.md). Vectors travel as
lists of floats inside that dict on the way in; they are never returned in a
hit's ``source`` (they are large and the user never wants to read them), but
``get(..., with_vectors=True)`` returns them for "find similar".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from es_visual.documents import BulkResult, DocUpdate, ItemError, VisualSpec
from es_visual.query.ir import MatchAll, Node, SearchRequest
from es_visual.query.results import SearchResult


@dataclass(frozen=True)
class IndexStats:
    index: str
    documents: int  # all documents in the index
    with_visual: int  # documents carrying a scene vector
    with_errors: int  # documents whose last ingest failed (visual.error)
    spec: VisualSpec | None
    vectors: dict[str, int] = field(default_factory=dict)  # target -> count of vectors
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific (disk size, ...)


__all__ = [
    "Backend",
    "BulkResult",
    "DocUpdate",
    "IndexStats",
    "ItemError",
    "VisualSpec",
]


@runtime_checkable
class Backend(Protocol):
    """A store of documents with visual vectors. Methods raise ``BackendError``
    subclasses (``BackendUnavailableError`` when unreachable)."""

    name: str

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
        """The spec the index was set up with; None if it has no ``visual`` yet."""
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
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every matching (id, source), in a stable order, consistent while iterating.
        ``with_vectors`` puts the vectors back into each source, as ``get`` does."""
        ...

    def search(self, request: SearchRequest) -> SearchResult: ...

    def stats(self, index: str) -> IndexStats: ...

    def refresh(self, index: str) -> None:
        """Make everything written so far searchable."""
        ...

    def close(self) -> None: ...
