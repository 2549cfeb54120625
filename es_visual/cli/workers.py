"""``ingest --from-index --workers N``: N processes on this machine, one slice each.

Each worker is the same command a person would run on another machine,
``es-visual ingest --from-index --slice I/N``, started here with this run's
settings (written to a private config file, so flags, env vars and the config
file mean the same to the workers) and its progress read from the JSON lines
it prints on stderr (``--progress-lines``). A worker that dies costs its slice
only: the others finish, the exit code says so, and the message names the
command that finishes that slice (ingest skips what is already written).

Torch threads are shared out (``ES_VISUAL_TORCH_THREADS``), so N workers on C
cores do not start N x C threads that fight over the cores.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from es_visual.config import ENV_PREFIX, Settings
from es_visual.core.slicing import Slice, all_slices

PROGRESS_KEY = "es_visual_progress"
_STATUS_EVERY_S = 1.0


@dataclass
class Worker:
    slice: Slice
    proc: subprocess.Popen[str]
    started: float
    seen: int = 0
    failed: int = 0
    ended: float | None = None
    report: dict[str, Any] | None = None
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def summary(self) -> dict[str, Any]:
        """What the worker did, as ``--json`` lists it (its own report inside)."""
        report = self.report or {}
        seconds = self.seconds
        seen = int(report.get("seen", self.seen))
        return {
            "slice": str(self.slice),
            "exit_code": self.proc.returncode,
            "seen": seen,
            "written": report.get("written"),
            "skipped": report.get("skipped"),
            "failed": report.get("failed", self.failed),
            "seconds": round(seconds, 3),
            "docs_per_s": round(seen / seconds, 2) if seconds > 0 else None,
            "report": report or None,
        }


def progress_line(slice: Slice, seen: int, failed: int) -> str:
    """One line of ``--progress-lines``: what a worker has done so far."""
    return json.dumps({PROGRESS_KEY: {"slice": str(slice), "seen": seen, "failed": failed}})


def run_workers(
    settings: Settings,
    n: int,
    ingest_args: list[str],
    *,
    as_json: bool,
    show_status: bool,
    shards: int | None = None,
) -> int:
    """Run slices 0/N .. N-1/N as N processes; print per-worker and total results;
    returns the exit code (0 ok, 3 some items failed, 1 a worker failed, 130 Ctrl-C)."""
    if shards and n % shards and shards % n:
        click.secho(
            f"note: {n} workers over {shards} shards: the cluster splits by shard first, so "
            f"some slices hold more documents than others; a worker count that divides "
            f"{shards} or is a multiple of it shares the work evenly",
            err=True,
        )
    with tempfile.TemporaryDirectory(prefix="es-visual-workers-") as tmp:
        config = Path(tmp) / "settings.json"
        _write_settings(settings, config)
        env = _worker_env(n)
        workers: list[Worker] = []
        try:
            for one in all_slices(n):
                cmd = [
                    sys.executable, "-m", "es_visual", "--config", str(config), "ingest",
                    "--from-index", "--slice", str(one), "--workers", "1", "--json",
                    "--progress-lines", *ingest_args,
                ]  # fmt: skip
                proc = subprocess.Popen(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    env=env,
                )
                workers.append(Worker(one, proc, time.monotonic()))
            threads = [t for w in workers for t in _readers(w, show_status)]
            _wait(workers, show_status)
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            # The terminal's Ctrl-C reached every worker too (one process group): each
            # stops after its current write; wait for that, so nothing is cut mid-batch.
            for w in workers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    w.proc.wait(timeout=60)
            _finish_line(show_status)
            click.secho(
                "interrupted: what the workers wrote is kept; run the same command again to "
                "resume (written documents are skipped)",
                fg="yellow",
                err=True,
            )
            return 130
    return _report(workers, as_json)


def _write_settings(settings: Settings, path: Path) -> None:
    """This run's settings as a config file only this user can read (it may hold a
    password): the workers load exactly these, whatever their environment says."""
    values = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(settings).items()
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(values, fh)


def _worker_env(n: int) -> dict[str, str]:
    """The environment without the settings' ES_VISUAL_* variables (the config file
    holds them, flags included) nor click's ES_VISUAL_INGEST_* ones (a worker must not
    start workers), with torch's threads shared out among the N workers."""
    from es_visual.models.runtime import THREADS_ENV, available_cpus

    names = {f.name.upper() for f in dataclasses.fields(Settings)} | {"CONFIG"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not (
            k.startswith(ENV_PREFIX)
            and (k[len(ENV_PREFIX) :] in names or k.startswith(ENV_PREFIX + "INGEST_"))
        )
    }
    env.setdefault(THREADS_ENV, str(max(1, available_cpus() // n)))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _readers(worker: Worker, show_status: bool) -> list[threading.Thread]:
    def read_stderr() -> None:
        assert worker.proc.stderr is not None
        for line in worker.proc.stderr:
            line = line.rstrip("\n")
            if line.startswith("{" + json.dumps(PROGRESS_KEY)):
                try:
                    data = json.loads(line)[PROGRESS_KEY]
                except (ValueError, KeyError):
                    data = None
                if data is not None:
                    with worker.lock:
                        worker.seen, worker.failed = int(data["seen"]), int(data["failed"])
                    continue
            worker.stderr.append(line)
            _finish_line(show_status)
            click.echo(f"[worker {worker.slice}] {line}", err=True)

    def read_stdout() -> None:
        assert worker.proc.stdout is not None
        text = worker.proc.stdout.read()
        try:
            worker.report = json.loads(text) if text.strip() else None
        except ValueError:
            worker.stderr.append(text.strip()[-500:])

    threads = [threading.Thread(target=fn, daemon=True) for fn in (read_stderr, read_stdout)]
    for t in threads:
        t.start()
    return threads


def _wait(workers: list[Worker], show_status: bool) -> None:
    while True:
        running = 0
        for w in workers:
            if w.proc.poll() is None:
                running += 1
            elif w.ended is None:
                w.ended = time.monotonic()
        if show_status:
            click.echo("\r" + status_line(workers), err=True, nl=False)
        if not running:
            _finish_line(show_status)
            return
        time.sleep(_STATUS_EVERY_S)


def status_line(workers: list[Worker]) -> str:
    """``0/3 412 (9.1/s) | 1/3 380 (8.7/s) | ... | total 1180 (26.7/s)``."""
    parts = []
    total_seen, start = 0, min(w.started for w in workers)
    for w in workers:
        with w.lock:
            seen = w.seen
        total_seen += seen
        rate = seen / w.seconds if w.seconds > 0 else 0.0
        mark = "" if w.ended is None else (" done" if w.proc.returncode in (0, 3) else " FAILED")
        parts.append(f"{w.slice} {seen} ({rate:.1f}/s){mark}")
    elapsed = max(1e-9, max(w.seconds + (w.started - start) for w in workers))
    parts.append(f"total {total_seen} ({total_seen / elapsed:.1f}/s)")
    return " | ".join(parts)


def _finish_line(show_status: bool) -> None:
    if show_status:
        click.echo("\r\033[K", err=True, nl=False)


def _report(workers: list[Worker], as_json: bool) -> int:
    rows = [w.summary() for w in workers]
    start = min(w.started for w in workers)
    wall = max((w.ended or time.monotonic()) for w in workers) - start
    counts = {
        key: sum(int(r[key] or 0) for r in rows) for key in ("seen", "written", "skipped", "failed")
    }
    total: dict[str, int | float | None] = {
        **counts,
        "seconds": round(wall, 3),
        "docs_per_s": round(counts["seen"] / wall, 2) if wall > 0 else None,
    }
    seen = [int(r["seen"]) for r in rows]
    most = max(seen, default=0)
    balance = round(min(seen) / most, 3) if most else None
    broken = [w for w in workers if w.proc.returncode not in (0, 3)]
    if as_json:
        click.echo(
            json.dumps({"workers": rows, "total": total, "balance": balance}, indent=2, default=str)
        )
    else:
        from es_visual.cli.tables import render_table

        table = render_table(
            ["slice", "seen", "written", "unchanged", "failed", "seconds", "docs/s", "exit"],
            [
                [r["slice"], r["seen"], r["written"], r["skipped"], r["failed"],
                 f"{r['seconds']:.1f}", r["docs_per_s"], r["exit_code"]]
                for r in rows
            ]
            + [["total", total["seen"], total["written"], total["skipped"], total["failed"],
                f"{wall:.1f}", total["docs_per_s"], ""]],
        )  # fmt: skip
        click.echo(table)
        if balance is not None:
            click.echo(f"balance (fewest / most documents in a slice): {balance:.2f}")
        for w in workers:
            for failure in (w.report or {}).get("failures") or []:
                click.secho(
                    f"  failed  {failure.get('origin')}: {failure.get('reason')}",
                    fg="yellow",
                    err=True,
                )
    for w in broken:
        last = next((line for line in reversed(w.stderr) if line.strip()), "no output")
        click.secho(
            f"error: worker {w.slice} stopped (exit {w.proc.returncode}): {last}\n"
            f"  finish its share with: es-visual ... ingest --from-index --slice {w.slice} "
            "(the same options; what it wrote is skipped)",
            fg="red",
            err=True,
        )
    if broken:
        return 1
    return 3 if total["failed"] else 0
