"""Ingest jobs started from the UI: one background thread each, progress readable any time.

Only folders under the configured roots may be ingested: the path comes from a
browser, the files are read by the server, so a path outside the roots (or one
that escapes them through ``..`` or a symlink) is refused before anything runs,
and so is each file whose real path (symlinks followed) lies outside its root.

What a job may write (docs/security.md): the ids of a folder job are namespaced
by their root (``<root name>~<digest of its real path>/<path under the root>``),
so they never meet the ids of a CLI ingest or of another root. A job writes a
document only when it is new or its user may write it (``AclPolicy.writable_filter``:
they may read it, and its ``acl.write`` names them or one of their groups, or it
has no ``acl.write`` and they are an admin): an admin cannot take over a document
kept from them. A job's readers go onto the documents it creates; an existing
document keeps its readers, and the job counts those it kept.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from es_visual.core.ir import Ids, Node, and_
from es_visual.ingest.sources import Asset, SourceError

if TYPE_CHECKING:
    from es_visual.backends.base import Backend

log = logging.getLogger(__name__)


class JobRefused(ValueError):
    """The job cannot start (path outside the roots, not a folder, another job running)."""


@dataclass
class Job:
    id: str
    user: str
    kind: str  # folder | reindex
    source: str
    readers: list[str]
    force: bool
    state: str = "queued"  # queued | running | done | failed
    total: int | None = None
    done: int = 0
    written: int = 0
    skipped: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    # Existing documents whose readers the job's readers did not replace.
    kept_readers: int = 0
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        end = self.finished or time.time()
        return {
            "id": self.id,
            "user": self.user,
            "kind": self.kind,
            "source": self.source,
            "readers": self.readers,
            "force": self.force,
            "state": self.state,
            "total": self.total,
            "done": self.done,
            "written": self.written,
            "skipped": self.skipped,
            "failed": len(self.failures),
            "failures": self.failures,
            "kept_readers": self.kept_readers,
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(end - self.started, 1),
        }


def resolve_root(path: str, roots: list[Path]) -> Path:
    """``path`` as a real folder inside one of ``roots``, or ``JobRefused``."""
    return locate(path, roots)[0]


def locate(path: str, roots: list[Path]) -> tuple[Path, Path]:
    """(``path`` as a real folder, the real root it lies in), or ``JobRefused``."""
    if not roots:
        raise JobRefused(
            "no folders may be ingested from the UI: start the server with --ingest-root"
        )
    if not path.strip():
        raise JobRefused("give a folder to ingest")
    candidate = Path(path.strip()).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        real = candidate.resolve()
        real_roots = [root.resolve() for root in roots]
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError on 3.11)
        raise JobRefused(f"{path} cannot be resolved: {exc}") from None
    for root in real_roots:
        if real == root or root in real.parents:
            if not real.is_dir():
                raise JobRefused(f"{path} is not a folder")
            return real, root
    allowed = ", ".join(str(r) for r in roots)
    raise JobRefused(f"{path} is outside the folders the UI may ingest ({allowed})")


Runner = Callable[["Job", Callable[[int], None]], Any]


class JobManager:
    """Runs one ingest at a time (they share the model and the store) and keeps the
    last ``keep`` jobs for the jobs page."""

    def __init__(self, keep: int = 50) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.keep = keep

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return replace(job, failures=list(job.failures)) if job else None

    def running(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.state in ("queued", "running")), None)

    def start(self, job: Job, run: Runner, count: Callable[[], int] | None = None) -> Job:
        with self._lock:
            busy = next((j for j in self._jobs.values() if j.state in ("queued", "running")), None)
            if busy is not None:
                raise JobRefused(f"job {busy.id} is still running; wait for it to finish")
            self._jobs[job.id] = job
            for old in sorted(self._jobs.values(), key=lambda j: j.started)[: -self.keep]:
                del self._jobs[old.id]
        thread = threading.Thread(
            target=self._run, args=(job, run, count), name=f"job-{job.id}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return job

    def _run(self, job: Job, run: Runner, count: Callable[[], int] | None) -> None:
        job.state = "running"
        try:
            if count is not None:
                job.total = count()

            def progress(n: int) -> None:
                job.done += n

            report = run(job, progress)
            job.written, job.skipped = report.written, report.skipped
            job.done = max(job.done, report.seen)
            job.failures = [f.to_dict() for f in report.failures]
            job.state = "done"
        except Exception as exc:  # shown on the jobs page; the server goes on
            log.exception("job %s failed", job.id)
            job.error = str(exc) or exc.__class__.__name__
            job.state = "failed"
        finally:
            job.finished = time.time()

    def wait(self, timeout: float = 30.0) -> None:
        """Join running jobs (tests and shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def shutdown(self) -> None:
        self.wait(timeout=5.0)


def new_job_id() -> str:
    return secrets.token_hex(4)


def with_readers(
    assets: Iterator[Any], readers: list[str], acl_field: str = "acl.read"
) -> Iterator[Any]:
    """Give every asset of a folder ingest the ACL the admin chose (none = public)."""
    for asset in assets:
        yield _set_readers(asset, readers, acl_field) if isinstance(asset, Asset) else asset


def _set_readers(asset: Asset, readers: list[str], acl_field: str) -> Asset:
    if not readers:
        return asset
    *parents, leaf = acl_field.split(".")
    metadata = dict(asset.metadata or {})
    node = metadata
    for name in parents:
        node[name] = dict(node.get(name) or {})
        node = node[name]
    node[leaf] = list(readers)
    return replace(asset, metadata=metadata)


def root_namespace(root: Path) -> str:
    """The id prefix of what UI jobs ingest from ``root``: its name and a digest of its
    real path, so two roots with one name (or a CLI ingest) never share an id."""
    real = Path(root).resolve()
    digest = hashlib.sha256(str(real).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{real.name or 'root'}~{digest}"


def under_root(
    assets: Iterable[Asset | SourceError], folder: Path, root: Path
) -> Iterator[Asset | SourceError]:
    """The assets of a walk of ``folder`` (inside ``root``), ids namespaced per root; a file
    whose real path is outside ``root`` (a symlink out) is refused, that file only."""
    prefix = "/".join(
        p for p in (root_namespace(root), folder.relative_to(root).as_posix()) if p != "."
    )
    for item in assets:
        if isinstance(item, SourceError):
            yield replace(item, id=f"{prefix}/{item.id}" if item.id is not None else None)
            continue
        doc_id = f"{prefix}/{item.id}"
        if root not in item.path.parents:
            reason = "a symlink to a file outside the ingest root: not ingested"
            yield SourceError(doc_id, item.origin, reason)
        else:
            yield replace(item, id=doc_id)


class WriteGuard:
    """Lets through only what a job's user may write (new documents, or ones ``writable``
    lets through), puts the job's readers on new documents only, and counts the existing
    documents that kept their own readers (``job.kept_readers``)."""

    def __init__(
        self,
        backend: Backend,
        index: str,
        writable: Node,
        job: Job,
        acl_field: str = "acl.read",
        chunk: int = 200,
    ) -> None:
        self.backend, self.index, self.writable, self.job = backend, index, writable, job
        self.acl_field, self.chunk = acl_field, chunk

    def __call__(self, assets: Iterable[Asset | SourceError]) -> Iterator[Asset | SourceError]:
        it = iter(assets)
        while batch := list(islice(it, self.chunk)):
            ids = tuple(a.id for a in batch if isinstance(a, Asset))
            existing = (
                dict(self.backend.iter_docs(self.index, filter=Ids(ids), fields=[self.acl_field]))
                if ids
                else {}
            )
            mine = (
                {
                    doc_id
                    for doc_id, _ in self.backend.iter_docs(
                        self.index, filter=and_(Ids(tuple(existing)), self.writable), fields=[]
                    )
                }
                if existing
                else set()
            )
            for item in batch:
                if not isinstance(item, Asset):
                    yield item
                elif item.id not in existing:
                    yield _set_readers(item, self.job.readers, self.acl_field)
                elif item.id not in mine:
                    reason = "a document with this id exists and you may not write it: not changed"
                    yield SourceError(item.id, item.origin, reason)
                else:
                    kept = _dotted(existing[item.id], self.acl_field)
                    if self.job.readers and kept != self.job.readers:
                        self.job.kept_readers += 1
                    yield item


def _dotted(source: dict[str, Any], dotted: str) -> Any:
    value: Any = source
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
