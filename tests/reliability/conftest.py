"""The reliability suite: shared fixtures and the summary printed at the end of the run.

Every test here records what it tried through the ``tally`` fixture
(``tally.record(area, tried=..., failed=...)``: cases, not assertions); the
session's terminal summary prints one table with the cases tried and the
failures per area, next to each area's test outcomes. A case that fails is
also collected by its test and asserted at the end of it, so pytest fails too.

The noida-db server (a real Elasticsearch-API server) is the fixture of
tests/backends/conftest.py, loaded from there so both suites start it the same way.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_BACKENDS_CONFTEST = Path(__file__).parent.parent / "backends" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_reliability_noida", _BACKENDS_CONFTEST)
assert _spec is not None and _spec.loader is not None
_noida = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_noida)
noida_url = _noida.noida_url  # the session fixture: one server for this directory's tests

# The five samples every ingest test here starts from (distinct pictures).
GOOD_SAMPLES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "camera.png"]


@dataclass
class _Area:
    tried: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)


class Tally:
    def __init__(self) -> None:
        self.areas: dict[str, _Area] = defaultdict(_Area)
        self.outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, area: str, *, tried: int, failed: int = 0, note: str | None = None) -> None:
        self.areas[area].tried += tried
        self.areas[area].failed += failed
        if note:
            self.areas[area].notes.append(note)


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return _TALLY


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "tests/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    module = Path(report.nodeid.split("::")[0]).stem.removeprefix("test_")
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _TALLY.outcomes[module][report.outcome] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _TALLY.areas and not _TALLY.outcomes:
        return
    tr = terminalreporter
    tr.write_sep("=", "reliability summary")
    width = max([len(a) for a in _TALLY.areas] + [24])
    tr.write_line(f"{'area':<{width}}  {'cases tried':>11}  {'failures':>8}")
    tr.write_line(f"{'-' * width}  {'-' * 11}  {'-' * 8}")
    total_tried = total_failed = 0
    for name in sorted(_TALLY.areas):
        area = _TALLY.areas[name]
        total_tried += area.tried
        total_failed += area.failed
        tr.write_line(f"{name:<{width}}  {area.tried:>11}  {area.failed:>8}")
    tr.write_line(f"{'-' * width}  {'-' * 11}  {'-' * 8}")
    tr.write_line(f"{'total':<{width}}  {total_tried:>11}  {total_failed:>8}")
    notes = [(n, note) for n, a in sorted(_TALLY.areas.items()) for note in a.notes]
    for name, note in notes:
        tr.write_line(f"  note ({name}): {note}")
    if _TALLY.outcomes:
        tests = ", ".join(
            f"{module}: " + "/".join(f"{count} {outcome}" for outcome, count in sorted(c.items()))
            for module, c in sorted(_TALLY.outcomes.items())
        )
        tr.write_line(f"tests: {tests}")


@pytest.fixture
def good_folder(tmp_path: Path, skimage_dir: Path) -> Path:
    root = tmp_path / "good"
    root.mkdir()
    for name in GOOD_SAMPLES:
        shutil.copyfile(skimage_dir / name, root / name)
    return root
