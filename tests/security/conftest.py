"""The security suite: attacks on the store, the ingest and the web UI, counted.

Every test records what it tried through the ``attacks`` fixture
(``attacks.record(area, tried=..., failed=...)``: one attack is one probe an
attacker could send, not one assertion); the run ends with a table of the
attacks tried and the ones that got through, per area. docs/security.md quotes
those counts.

Backends: the ``backend`` fixture is parametrized by name. Today it is the
embedded store; the live-cluster fixtures (tests/live_engines.py) can be added to
``BACKENDS`` so the same attacks run there (tests/security/attacks.py takes any
backend object).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class _Area:
    tried: int = 0
    failed: int = 0


class Attacks:
    def __init__(self) -> None:
        self.areas: dict[str, _Area] = defaultdict(_Area)

    def record(self, area: str, *, tried: int, failed: int = 0) -> None:
        self.areas[area].tried += tried
        self.areas[area].failed += failed


_ATTACKS = Attacks()


@pytest.fixture(scope="session")
def attacks() -> Attacks:
    return _ATTACKS


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _ATTACKS.areas:
        return
    tr = terminalreporter
    tr.write_sep("=", "security summary")
    width = max([len(a) for a in _ATTACKS.areas] + [24])
    tr.write_line(f"{'area':<{width}}  {'attacks':>7}  {'got through':>11}")
    tried = failed = 0
    for name in sorted(_ATTACKS.areas):
        area = _ATTACKS.areas[name]
        tried, failed = tried + area.tried, failed + area.failed
        tr.write_line(f"{name:<{width}}  {area.tried:>7}  {area.failed:>11}")
    tr.write_line(f"{'total':<{width}}  {tried:>7}  {failed:>11}")


def _embedded(tmp_path: Path) -> Iterator[Any]:
    from es_visual.backends.embedded import EmbeddedBackend

    with EmbeddedBackend(tmp_path / "store") as backend:
        yield backend


# name -> a generator fixture body taking tmp_path; live engines join here later.
BACKENDS = {"embedded": _embedded}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from BACKENDS[request.param](tmp_path)
