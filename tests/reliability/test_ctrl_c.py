"""Ctrl-C during `es-visual ingest`: a real process gets a real SIGINT mid-run.

It must stop with exit 130, say how many were written and that running the same
command again resumes; that count must be exactly what the store holds; the re-run
skips those and writes the rest, and the store passes SQLite's integrity check.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.reliability import test_crash_and_idempotency as crash
from tests.reliability.test_crash_and_idempotency import SAMPLES, _cli, _count_docs

corpus = crash.corpus  # the same 14 pictures and scene-only preset as the SIGKILL test


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_mid_ingest_reports_what_was_written_and_exits_130(
    tmp_path: Path, corpus: tuple[Path, Path], tally
) -> None:
    folder, preset = corpus
    store = tmp_path / "interrupted"
    db = store / "media.sqlite"
    proc = subprocess.Popen(
        _cli(store, folder, preset),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As in a terminal: a test run started in the background (`nohup ... &`) ignores
        # SIGINT, the child would inherit that, and Python then never raises Ctrl-C.
        preexec_fn=_sigint_default,
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
    if not 2 <= stored < len(SAMPLES):
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
    elif again["written"] + stored != len(SAMPLES):
        problems.append(f"after the re-run {again['written']} + {stored} != {len(SAMPLES)}")
    tally.record("crash: Ctrl-C + resume", tried=6, failed=len(problems))
    assert not problems, "\n".join(problems)
