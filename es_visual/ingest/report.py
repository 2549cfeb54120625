"""What an ingest run did: counts, per-item failures, time per stage."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    id: str | None
    origin: str  # the file path or manifest line it came from
    stage: str  # source | read | analyze | embed | write
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "stage": self.stage, "reason": self.reason}


@dataclass
class IngestReport:
    index: str
    model: str
    pipeline: str
    seen: int = 0
    written: int = 0
    skipped: int = 0  # unchanged since the last ingest with the same model
    failures: list[Failure] = field(default_factory=list)
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
            "failures": [f.to_dict() for f in self.failures],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
