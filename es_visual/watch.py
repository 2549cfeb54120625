"""Continuous ingest (``es-visual watch``): embed documents as they are written.

The change marker is each shard's ``_seq_no``. Every create and every update
gives a document a new, higher sequence number in its shard; the number is the
same on the primary and its replicas, and it can be ranged and sorted on. So
"what changed since the checkpoint" is, per shard, ``_seq_no`` in (checkpoint,
mark], read with ``search_after`` on ``_seq_no``. It needs nothing from the
user's index (an indexed-time field would need every writer of the index to set
it, through an ingest pipeline, and clocks that agree). Two details make it
exact:

* ``mark`` is the shard's *global checkpoint*, read before the search: every
  write up to it is done on every in-sync copy. A refresh after reading it
  makes all of them visible on whichever copy answers. Writes above it may be
  visible already, out of order; they are left for the next cycle, so a
  document whose write was still in flight is never skipped.
* A document written again while a cycle runs moves above ``mark`` and is in
  the next range; a deleted one is simply gone.

The checkpoint (the marks reached, per shard, with the index's uuid, the model
and the pipeline) is a small JSON file written after each shard's range is
ingested. A restart resumes from it; a recreated index (another uuid), another
model or pipeline starts over from nothing, which costs reads only: unchanged
documents are skipped as by any ingest. A shard whose range had a write that the
cluster refused (429 after every retry) keeps its old mark, so the range is
read again.

Writes of our own are changes too: a document embedded in one cycle is read
again in the next, found unchanged (same content hash and model) and skipped.
A document that fails keeps failing once more and then rests: its error is
written again unchanged, which the cluster treats as a no-op (no new sequence
number), so a missing file is not retried every few seconds until its document
changes. A file replaced under the same path, its document untouched, is not a
change the index can see: ``ingest --from-index`` finds it.

Reads back off on 429 (``BackendBusyError`` once the backend's own retries are
spent) and while the cluster is unreachable: the loop waits, doubling the wait
up to ``max_backoff``, and carries on from its checkpoint.

The embedded store keeps no change log: each cycle there reads every document
and skips the unchanged, which is exact but not incremental.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from es_visual.backends.base import Backend, ChangeFeed
from es_visual.core.errors import BackendBusyError, BackendUnavailableError, ConfigError
from es_visual.core.slicing import Slice
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.report import IngestReport
from es_visual.ingest.sources import iter_index
from es_visual.models.base import Embedder

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """What ``watch`` has done: per shard, the sequence number up to which every
    write has been looked at, for one concrete index, model and pipeline."""

    index: str
    uuid: str
    model: str
    pipeline: str
    path_field: str
    shards: dict[int, int] = field(default_factory=dict)
    updated_at: str = ""

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        """The checkpoint at ``path``; None when there is none yet. A file that is not
        one (hand-edited, another program's) is a ``ConfigError`` naming it."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"watch checkpoint {path}: cannot read it ({exc})") from None
        try:
            if raw.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {raw.get('version')!r}")
            return cls(
                index=str(raw["index"]),
                uuid=str(raw["uuid"]),
                model=str(raw["model"]),
                pipeline=str(raw["pipeline"]),
                path_field=str(raw["path_field"]),
                shards={int(k): int(v) for k, v in dict(raw["shards"]).items()},
                updated_at=str(raw.get("updated_at", "")),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"watch checkpoint {path} is not one es-visual wrote ({exc}); move it away "
                "to start over (a fresh start re-reads every document and skips the unchanged)"
            ) from None

    def save(self, path: Path) -> None:
        """Written whole or not at all (a temporary file renamed over the old one)."""
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        data = {"version": CHECKPOINT_VERSION, **asdict(self)}
        data["shards"] = {str(k): v for k, v in sorted(self.shards.items())}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def default_checkpoint(data_dir: Path, backend: str, url: str | None, index: str) -> Path:
    """``<data_dir>/watch/<backend>-<hash of the URL>-<index>.json``: one per cluster and
    index (the URL is hashed: it may hold a password)."""
    where = hashlib.sha256((url or "").encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in index)
    return Path(data_dir) / "watch" / f"{backend}-{where}-{safe}.json"


@dataclass
class Cycle:
    """One pass: which shards had changes, and what ingest made of them."""

    started: str
    changed_shards: dict[int, tuple[int, int]] = field(default_factory=dict)  # shard -> range
    seen: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    held_back: list[int] = field(default_factory=list)  # shards whose mark did not move
    reset: str | None = None  # why the checkpoint started over, if it did
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return not self.changed_shards and self.seen == 0

    def add(self, report: IngestReport) -> None:
        self.seen += report.seen
        self.written += report.written
        self.skipped += report.skipped
        self.failed += report.failed
        self.failures.extend(f.to_dict() for f in report.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "changed_shards": {str(k): list(v) for k, v in self.changed_shards.items()},
            "seen": self.seen,
            "written": self.written,
            "skipped": self.skipped,
            "failed": self.failed,
            "held_back": self.held_back,
            "reset": self.reset,
            "failures": self.failures,
        }


Ingest = Callable[..., IngestReport]  # es_visual.workflows.ingest's signature


class Watcher:
    """Cycles of "what changed since the checkpoint? embed it", for one index."""

    def __init__(
        self,
        backend: Backend,
        index: str,
        *,
        embedder: Embedder,
        pipeline: PipelineConfig,
        path_field: str,
        checkpoint: Path,
        base_dir: Path | None = None,
        batch_size: int = 16,
        acl_field: str | None = None,
    ) -> None:
        self.backend = backend
        self.index = index
        self.embedder = embedder
        self.pipeline = pipeline
        self.path_field = path_field
        self.base_dir = base_dir
        self.batch_size = batch_size
        self.acl_field = acl_field
        self.checkpoint_path = checkpoint
        self.checkpoint = Checkpoint.load(checkpoint)

    @property
    def incremental(self) -> bool:
        """Whether the store can list changes (a cluster), or each cycle reads it all."""
        return isinstance(self.backend, ChangeFeed)

    def cycle(self) -> Cycle:
        """One pass; raises ``BackendBusyError`` / ``BackendUnavailableError`` when the
        cluster is overloaded or away (``run`` waits and tries again)."""
        cycle = Cycle(started=datetime.now(UTC).isoformat(timespec="seconds"))
        if not isinstance(self.backend, ChangeFeed):
            cycle.add(self._ingest(iter_index(self.backend, self.index, **self._source_args())))
            return cycle
        feed = self.backend
        marks = feed.change_marks(self.index)
        ckpt = self.checkpoint
        fresh = Checkpoint(
            index=marks.index,
            uuid=marks.uuid,
            model=self.embedder.tag,
            pipeline=self.pipeline.name,
            path_field=self.path_field,
        )
        if ckpt is None or _identity(ckpt) != _identity(fresh):
            if ckpt is not None:
                cycle.reset = _why_reset(ckpt, fresh)
                log.warning("watch: starting over: %s", cycle.reset)
            ckpt = self.checkpoint = fresh
        todo = {
            shard: (ckpt.shards.get(shard, -1), mark)
            for shard, mark in sorted(marks.shards.items())
            if mark > ckpt.shards.get(shard, -1)
        }
        if not todo:
            return cycle
        # Every write up to each mark is done on every copy: a refresh shows them all.
        feed.show_changes(marks.index)
        for shard, (after, upto) in todo.items():
            cycle.changed_shards[shard] = (after, upto)
            changes = _ShardChanges(feed, shard, after, upto)
            report = self._ingest(iter_index(changes, marks.index, **self._source_args()))
            cycle.add(report)
            if any(f.stage == "write" for f in report.failures):
                cycle.held_back.append(shard)  # read this range again next time
                continue
            ckpt.shards[shard] = upto
            ckpt.save(self.checkpoint_path)
        return cycle

    def run(
        self,
        *,
        interval: float,
        cycles: int | None = None,
        max_backoff: float = 300.0,
        on_cycle: Callable[[Cycle], None] | None = None,
        on_wait: Callable[[Exception, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[Cycle]:
        """``cycles`` passes (forever when None), ``interval`` seconds apart. A busy or
        unreachable cluster is waited out: ``interval`` doubled after each failure in a
        row, up to ``max_backoff``; ``on_wait`` hears of each wait."""
        done: list[Cycle] = []
        failures = 0
        while cycles is None or len(done) < cycles:
            try:
                cycle = self.cycle()
            except (BackendBusyError, BackendUnavailableError) as exc:
                delay = min(max_backoff, max(1.0, interval) * 2**failures)
                failures += 1
                if on_wait is not None:
                    on_wait(exc, delay)
                sleep(delay)
                continue
            failures = 0
            done.append(cycle)
            if on_cycle is not None:
                on_cycle(cycle)
            if cycles is None or len(done) < cycles:
                sleep(interval)
        return done

    def _source_args(self) -> dict[str, Any]:
        return {
            "path_field": self.path_field,
            "base_dir": self.base_dir,
            "batch_size": max(100, self.batch_size),
        }

    def _ingest(self, source: Any) -> IngestReport:
        from es_visual.workflows import ingest

        return ingest(
            self.backend,
            self.index,
            source,
            embedder=self.embedder,
            pipeline=self.pipeline,
            batch_size=self.batch_size,
            acl_field=self.acl_field,
        )


class _ShardChanges:
    """One shard's changed documents, read the way ``iter_index`` reads an index."""

    def __init__(self, feed: ChangeFeed, shard: int, after: int, upto: int) -> None:
        self.feed, self.shard, self.after, self.upto = feed, shard, after, upto

    def iter_docs(
        self,
        index: str,
        *,
        fields: Sequence[str] | None = None,
        batch_size: int = 500,
        slice: Slice | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        if slice is not None:  # a shard's changes are read whole: watch never slices them
            raise ValueError("a shard's changes cannot be sliced")
        return self.feed.iter_changed(
            index, self.shard, self.after, self.upto, fields=fields, batch_size=batch_size
        )


def _identity(ckpt: Checkpoint) -> tuple[str, str, str, str, str]:
    return (ckpt.index, ckpt.uuid, ckpt.model, ckpt.pipeline, ckpt.path_field)


def _why_reset(old: Checkpoint, new: Checkpoint) -> str:
    if (old.index, old.uuid) != (new.index, new.uuid):
        return (
            f"the index is not the one the checkpoint followed ({old.index} {old.uuid} -> "
            f"{new.index} {new.uuid}): recreated, or the alias moved"
        )
    if old.model != new.model:
        return f"the model changed ({old.model} -> {new.model})"
    if old.pipeline != new.pipeline:
        return f"the pipeline changed ({old.pipeline} -> {new.pipeline})"
    return f"the path field changed ({old.path_field} -> {new.path_field})"
