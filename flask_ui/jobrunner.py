"""Ingest jobs started from the UI: one background thread each, progress readable any time.

Only folders under the configured roots may be ingested: the path comes from a
browser, the files are read by the server, so a path outside the roots (or one
that escapes them through ``..`` or a symlink) is refused before anything runs.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(end - self.started, 1),
        }


def resolve_root(path: str, roots: list[Path]) -> Path:
    """``path`` as a real folder inside one of ``roots``, or ``JobRefused``."""
    if not roots:
        raise JobRefused(
            "no folders may be ingested from the UI: start the server with --ingest-root"
        )
    if not path.strip():
        raise JobRefused("give a folder to ingest")
    candidate = Path(path.strip()).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    real = candidate.resolve()
    for root in roots:
        if real == root.resolve() or root.resolve() in real.parents:
            if not real.is_dir():
                raise JobRefused(f"{path} is not a folder")
            return real
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
    if not readers:
        yield from assets
        return
    *parents, leaf = acl_field.split(".")
    for asset in assets:
        if not hasattr(asset, "metadata"):  # a SourceError: passed on as is
            yield asset
            continue
        metadata = dict(asset.metadata or {})
        node = metadata
        for name in parents:
            node[name] = dict(node.get(name) or {})
            node = node[name]
        node[leaf] = list(readers)
        yield replace(asset, metadata=metadata)
