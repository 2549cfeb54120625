"""The embedded store: the ``Backend`` and ``IndexAdmin`` protocols on one machine, no
server; this module is the facade over the package's parts.

Layout of ``data_dir`` (``datadir.py``): one SQLite file per index (``<index>.sqlite``,
the source of truth: documents, vectors, spec) and a derived vector cache per index
(``<index>.vectors/``: matrix + faiss IVF per target) that is checked against the
SQLite store before every use and rebuilt or extended when stale.

Thread safety: safe to share between threads (the Flask UI calls it from
request threads). Each thread gets its own SQLite connection; writers are
serialized by SQLite (one IMMEDIATE transaction per ``bulk_update``/``delete``);
each target's in-memory vectors are guarded by their own lock, so vector
searches on one target run one at a time per process (faiss itself uses every
core), metadata searches run concurrently. Several processes may open the same
directory (an ingest while the UI serves): each keeps its own cache and catches
up from SQLite.

A missing index reads as empty (``get`` -> None, searches -> no hits); writing to
it creates it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from es_visual.backends.base import Capabilities, IndexStats
from es_visual.backends.embedded.datadir import DataDir
from es_visual.backends.embedded.handle import IndexHandle
from es_visual.backends.embedded.knn import vector_search
from es_visual.backends.embedded.metadata import metadata_search
from es_visual.backends.embedded.rank import rank_search
from es_visual.backends.embedded.sources import project, put_vectors_back
from es_visual.backends.embedded.sql import compile_filter
from es_visual.backends.embedded.vectors import VectorConfig
from es_visual.core.documents import BulkResult, DocUpdate, ItemError, VisualSpec
from es_visual.core.errors import BackendError, ModelMismatchError, QueryError
from es_visual.core.ir import MatchAll, Node, SearchRequest
from es_visual.core.ranking import RankRequest
from es_visual.core.results import SearchResult
from es_visual.core.slicing import Slice
from es_visual.private import private_dir

if TYPE_CHECKING:
    from es_visual.backends.base import Backend, IndexAdmin


class EmbeddedBackend:
    name = "embedded"
    capabilities = Capabilities(store="embedded", search_workers=1)

    def __init__(self, data_dir: str | Path, *, vectors: VectorConfig | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.config = vectors or VectorConfig()
        self._files = DataDir(self.data_dir)
        self._indexes: dict[str, IndexHandle] = {}
        self._lock = threading.Lock()
        self._closed = False

    # --- opening indexes -----------------------------------------------------------------

    def _open(self, index: str, *, create: bool) -> IndexHandle | None:
        if self._closed:
            raise BackendError("the embedded store is closed")
        index = self.resolve_index(index)
        handle = self._indexes.get(index)
        if handle is not None:  # the hot path: no path arithmetic per search
            return handle
        path, cache = self._files.paths(index)
        with self._lock:
            handle = self._indexes.get(index)
            if handle is None:
                if not create and not path.exists():
                    return None
                try:
                    private_dir(self.data_dir)  # 0700: it holds every document
                except OSError as exc:
                    raise BackendError(f"cannot create {self.data_dir}: {exc}") from exc
                handle = IndexHandle(index, path, cache, self.config)
                self._indexes[index] = handle
            return handle

    # --- the protocol ----------------------------------------------------------------------

    def ensure_index(self, index: str, spec: VisualSpec) -> None:
        if not isinstance(spec.dims, int) or spec.dims <= 0:
            raise QueryError(f"dims must be a positive integer, not {spec.dims!r}")
        handle = self._open(index, create=True)
        assert handle is not None
        current = handle.store.spec()
        if current is None:
            handle.store.set_spec(spec)
            return
        if (current.model, current.dims) != (spec.model, spec.dims):
            raise ModelMismatchError(
                f"index {index!r} holds vectors of {current.model} ({current.dims} dims), "
                f"not {spec.model} ({spec.dims} dims): use another index for the new model"
            )
        if spec.face_model is None:
            return
        if current.face_model is None:
            # Adding the face part to an index that had none is an extension, not a change.
            handle.store.set_spec(
                VisualSpec(current.model, current.dims, spec.face_model, spec.face_dims)
            )
        elif (current.face_model, current.face_dims) != (spec.face_model, spec.face_dims):
            raise ModelMismatchError(
                f"index {index!r} holds face vectors of {current.face_model} "
                f"({current.face_dims} dims), not {spec.face_model} ({spec.face_dims} dims)"
            )

    def visual_spec(self, index: str) -> VisualSpec | None:
        handle = self._open(index, create=False)
        return None if handle is None else handle.store.spec()

    def cached_spec(self, index: str) -> VisualSpec | None:
        # A read of the open store's own file: as cheap as a cache, and never stale.
        return self.visual_spec(index)

    def bulk_update(self, index: str, updates: Sequence[DocUpdate]) -> BulkResult:
        blocked = self._files.write_block(index)
        if blocked:
            return BulkResult(errors=[ItemError(u.id, blocked, retryable=True) for u in updates])
        handle = self._open(index, create=True)
        assert handle is not None
        return handle.store.bulk_update(list(updates), handle.store.spec())

    def block_writes(self, index: str, blocked: bool) -> None:
        """Refuse (or allow again) writes to ``index`` from every process, as
        ``index.blocks.write`` does on a cluster: a marker file beside the index."""
        self._files.block_writes(index, blocked)

    def get(
        self, index: str, doc_id: str, *, acl: Node = MatchAll(), with_vectors: bool = False
    ) -> dict[str, Any] | None:
        handle = self._open(index, create=False)
        if handle is None:
            return None
        where, params = compile_filter(acl)
        row = (
            handle.store.conn()
            .execute(
                f"SELECT d.rid, d.source FROM docs AS d WHERE d.id = ? AND {where}",
                [str(doc_id), *params],
            )
            .fetchone()
        )
        if row is None:
            return None
        source = json.loads(row[1])
        if with_vectors:
            put_vectors_back(source, handle.store.doc_vectors(row[0]))
        return source

    def delete(self, index: str, ids: Iterable[str]) -> int:
        blocked = self._files.write_block(index)
        if blocked:
            raise BackendError(blocked)
        handle = self._open(index, create=False)
        return 0 if handle is None else handle.store.delete(ids)

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
        handle = self._open(index, create=False)
        if handle is None:
            return
        # A slice is a hash of the id (Slice.owns), checked here: no shards to split by.
        mine = slice.owns if slice is not None and not slice.whole else None
        where, params = compile_filter(filter)
        include = tuple(fields) if fields is not None else None
        last = ""
        # Keyset paging by id: stable order, each batch a short read (no long-held snapshot
        # that would stop WAL checkpoints while a caller dawdles between batches).
        while True:
            rows = (
                handle.store.conn()
                .execute(
                    f"SELECT d.id, d.source, d.rid FROM docs AS d WHERE {where} AND d.id > ? "
                    f"ORDER BY d.id LIMIT ?",
                    [*params, last, max(1, batch_size)],
                )
                .fetchall()
            )
            for doc_id, raw, rid in rows:
                if mine is not None and not mine(doc_id):
                    continue
                source = json.loads(raw)
                if with_vectors:
                    put_vectors_back(source, handle.store.doc_vectors(rid))
                yield doc_id, project(source, include)
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def search(self, request: SearchRequest) -> SearchResult:
        if request.size < 0:
            raise QueryError(f"size must be >= 0, not {request.size}")
        handle = self._open(request.index, create=False)
        if handle is None:
            if request.vector is not None:
                raise QueryError(f"index {request.index!r} does not exist")
            return SearchResult(hits=(), took_ms=0.0, total=0)
        try:
            if request.vector is not None:
                return vector_search(handle, request, handle.store.spec())
            return metadata_search(handle, request)
        except sqlite3.Error as exc:
            raise BackendError(f"embedded search failed: {exc}") from exc

    def rank_search(self, request: RankRequest) -> SearchResult:
        """A text search's concept-label or BM25 ranking (``query.ranking.RankSearch``)."""
        handle = self._open(request.index, create=False)
        if handle is None:
            return SearchResult(hits=(), took_ms=0.0)
        try:
            return rank_search(handle, request)
        except sqlite3.Error as exc:
            raise BackendError(f"embedded search failed: {exc}") from exc

    def stats(self, index: str) -> IndexStats:
        handle = self._open(index, create=False)
        if handle is None:
            return IndexStats(index=index, documents=0, with_visual=0, with_errors=0, spec=None)
        conn = handle.store.conn()
        documents = conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        with_visual = conn.execute(
            "SELECT count(DISTINCT doc_rid) FROM vectors WHERE target = 'scene'"
        ).fetchone()[0]
        with_errors = conn.execute(
            "SELECT count(*) FROM docs WHERE coalesce(json_extract(source, '$.visual.error'), '') "
            "!= ''"
        ).fetchone()[0]
        vectors = dict(conn.execute("SELECT target, count(*) FROM vectors GROUP BY target"))
        concrete = self.resolve_index(index)
        path = self._files.paths(concrete)[0]
        disk, disk_cache = self._files.disk_bytes(concrete)
        ann = {
            t: {"vectors": tv.n_alive, "nlist": tv.nlist}
            for t, tv in handle.targets.items()
            if tv.ivf is not None
        }
        return IndexStats(
            index=index,
            documents=documents,
            with_visual=with_visual,
            with_errors=with_errors,
            spec=handle.store.spec(),
            vectors=vectors,
            extra={
                "path": str(path),
                "disk_bytes": disk,
                "cache_bytes": disk_cache,
                "ann": ann,
            },
        )

    def vector_origins(self, index: str) -> dict[str, dict[str, int]]:
        """Per vector target, the pipelines (``visual.pipeline``) of the documents holding
        its vectors, with how many documents each (``preset_targets.VectorOrigins``)."""
        handle = self._open(index, create=False)
        if handle is None:
            return {}
        rows = (
            handle.store.conn()
            .execute(
                "SELECT v.target, json_extract(d.source, '$.visual.pipeline'), "
                "count(DISTINCT v.doc_rid) FROM vectors AS v JOIN docs AS d ON d.rid = v.doc_rid "
                "GROUP BY 1, 2"
            )
            .fetchall()
        )
        out: dict[str, dict[str, int]] = {}
        for target, pipeline, docs in rows:
            name = pipeline if isinstance(pipeline, str) and pipeline else "(none)"
            out.setdefault(target, {})[name] = out.get(target, {}).get(name, 0) + int(docs)
        return out

    def refresh(self, index: str) -> None:
        """Writes are searchable at once; this brings the vector caches up to date and
        saves them to disk, so the next process starts without re-reading every vector."""
        handle = self._open(index, create=False)
        if handle is not None:
            handle.save()

    # --- aliases: a name that resolves to another index (what `reindex` swaps) ------------

    def resolve_index(self, index: str) -> str:
        """The index ``index`` names: the alias record's target, else itself."""
        return self._files.resolve(index)

    def index_exists(self, index: str) -> bool:
        return self._files.exists(index)

    def create_index_like(self, source: str, target: str, spec: VisualSpec) -> None:
        """The store has no user mapping to copy: ``target`` set up for ``spec``."""
        self.ensure_index(target, spec)

    def set_visual_spec(self, index: str, spec: VisualSpec) -> None:
        """Record a new model on ``index``, same dims only (``reindex --in-place``)."""
        handle = self._open(index, create=True)
        assert handle is not None
        current = handle.store.spec()
        if current is not None and current.dims != spec.dims:
            raise ModelMismatchError(
                f"index {index!r} holds {current.dims}-dims vectors; {spec.model} makes "
                f"{spec.dims}: the model cannot change in place"
            )
        if current is not None and spec.face_model is None and current.face_model is not None:
            spec = VisualSpec(spec.model, spec.dims, current.face_model, current.face_dims)
        handle.store.set_spec(spec)

    def swap_alias(self, alias: str, target: str) -> list[str]:
        """Point ``alias`` at ``target`` with one atomic write of the alias record; an
        index that was called ``alias`` itself is deleted after it (its documents were
        copied), as Elasticsearch's ``remove_index`` action does. Returns what it left."""
        self._files.paths(alias)
        if self.resolve_index(target) != target:
            raise QueryError(f"{target!r} is an alias; point {alias!r} at an index")
        aliases = dict(self._files.aliases())
        previous = aliases.get(alias)
        concrete = previous is None and self._files.paths(alias)[0].exists()
        aliases[alias] = target
        self._files.write_aliases(aliases)  # the swap: one atomic rename
        if concrete:
            self._drop_files(alias)
            return [alias]
        return [previous] if previous and previous != target else []

    def _drop_files(self, index: str) -> None:
        with self._lock:
            handle = self._indexes.pop(index, None)
        if handle is not None:
            handle.close()
        self._files.remove(index)

    def close(self) -> None:
        with self._lock:
            handles, self._indexes = list(self._indexes.values()), {}
            self._closed = True
        for handle in handles:
            handle.close()

    def __enter__(self) -> EmbeddedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if TYPE_CHECKING:
    # Checked by mypy, never run: the store satisfies both protocols it is used through.
    _AS_BACKEND: type[Backend] = EmbeddedBackend
    _AS_ADMIN: type[IndexAdmin] = EmbeddedBackend
