"""What an ingest run did: counts, per-item failures, time per stage."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from es_visual.ingest.sources import Ignored


@dataclass(frozen=True)
class Failure:
    id: str | None
    origin: str  # the file path or manifest line it came from
    stage: str  # source | read | analyze | embed | write
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "stage": self.stage, "reason": self.reason}


@dataclass(frozen=True)
class Note:
    """Something an item's ingest left out on purpose, while the item itself was written
    (faces not looked for in a 60000000x1 picture)."""

    id: str
    origin: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "note": self.note}


@dataclass
class IngestReport:
    index: str
    model: str
    pipeline: str
    seen: int = 0
    written: int = 0
    skipped: int = 0  # unchanged since the last ingest with the same model
    failures: list[Failure] = field(default_factory=list)
    # Files under an ingested folder that are not media (READMEs, sidecars, hidden files):
    # listed so that every file is accounted for; they are not failures.
    ignored: list[Ignored] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    metadata_updated: int = 0  # unchanged media whose manifest metadata was (re)applied
    interrupted: bool = False  # stopped by Ctrl-C: what is written stays, a re-run resumes
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def failed(self) -> int:
        return len(self.failures)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "pipeline": self.pipeline,
            "seen": self.seen,
            "written": self.written,
            "skipped": self.skipped,
            "failed": self.failed,
            "metadata_updated": self.metadata_updated,
            "ignored": len(self.ignored),
            "interrupted": self.interrupted,
            "failures": [f.to_dict() for f in self.failures],
            "ignored_files": [i.to_dict() for i in self.ignored],
            "notes": [n.to_dict() for n in self.notes],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped an ingest; ``report`` says what was written before it (a re-run
    skips those and resumes)."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(f"interrupted after {report.written} written")
        self.report = report
