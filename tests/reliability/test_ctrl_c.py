"""Ctrl-C during `es-visual ingest`: a real process gets a real SIGINT mid-run.

It must stop with exit 130, say how many were written and that running the same
command again resumes; that count must be exactly what the store holds; the re-run
skips those and writes the rest, and the store passes SQLite's integrity check.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability import test_crash_and_idempotency as crash
from tests.reliability.test_crash_and_idempotency import _cli, _count_docs

corpus = crash.corpus  # the same 14 pictures and scene-only preset as the SIGKILL test
# Each picture four times: 28 writes of two, so Ctrl-C after the first lands well before
# the end even when the test itself is starved of CPU (with 14 the run could finish, its
# interpreter already tearing down, before the signal arrived: exit 0, nothing to test).
COPIES = 4


@pytest.fixture(scope="module")
def many(corpus: tuple[Path, Path]) -> tuple[Path, Path, int]:
    folder, preset = corpus
    pictures = sorted(p for p in folder.rglob("*") if p.is_file())
    bigger = folder.parent / "many"
    for copy in range(COPIES):
        for picture in pictures:
            target = bigger / f"c{copy}" / picture.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(picture, target)
    return bigger, preset, COPIES * len(pictures)


def test_sigint_mid_ingest_reports_what_was_written_and_exits_130(
    tmp_path: Path, many: tuple[Path, Path, int], tally
) -> None:
    folder, preset, total = many
    store = tmp_path / "interrupted"
    db = store / "media.sqlite"
    proc = subprocess.Popen(
        _cli(store, folder, preset), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if _count_docs(db) >= 2:
            break
        time.sleep(0.02)
    finished_early = proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert not finished_early, "the ingest finished before Ctrl-C: add files"

    problems: list[str] = []
    if proc.returncode != 130:
        problems.append(f"exit {proc.returncode}, expected 130; stderr: {err[-2000:]}")
    if "Traceback" in err:
        problems.append(f"a traceback on Ctrl-C: {err[-2000:]}")
    report = json.loads(out) if out.strip().startswith("{") else {}
    stored = _count_docs(db)
    if not report.get("interrupted") or report.get("written") != stored:
        problems.append(f"report says {report.get('written')} written, the store holds {stored}")
    if f"{stored} written" not in err or "again to resume" not in err:
        problems.append(f"stderr does not say what was written and how to resume: {err!r}")
    if not 2 <= stored < total:
        problems.append(f"{stored} documents after Ctrl-C")
    with sqlite3.connect(db) as conn:
        check = conn.execute("PRAGMA integrity_check").fetchall()
    if check != [("ok",)]:
        problems.append(f"integrity_check after Ctrl-C: {check}")

    resumed = subprocess.run(
        _cli(store, folder, preset), capture_output=True, text=True, timeout=180
    )
    again = json.loads(resumed.stdout) if resumed.returncode == 0 else {}
    if resumed.returncode != 0 or again.get("skipped") != stored:
        problems.append(f"the re-run did not resume: {resumed.returncode} {again}")
    elif again["written"] + stored != total:
        problems.append(f"after the re-run {again['written']} + {stored} != {total}")
    tally.record("crash: Ctrl-C + resume", tried=6, failed=len(problems))
    assert not problems, "\n".join(problems)
