"""The command line as a user and a script see it: help, JSON output, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.cli import cli


@pytest.fixture
def photos(tmp_path: Path, skimage_dir: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]:
        shutil.copyfile(skimage_dir / name, root / name)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


def invoke(data_dir: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "es_visual", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("ingest", "search", "stats", "demo"):
        assert f"  {command}" in out


def test_ingest_json_report_and_partial_exit_code(tmp_path: Path, photos: Path) -> None:
    result = invoke(tmp_path / "store", "ingest", str(photos), "--json")
    assert result.exit_code == 3, result.output  # finished, one item failed
    report = json.loads(result.stdout)
    assert report["written"] == 4 and report["failed"] == 1
    assert report["failures"][0]["id"] == "broken.jpg"

    stats = json.loads(invoke(tmp_path / "store", "stats", "--json").stdout)
    assert stats["documents"] == 5 and stats["with_visual"] == 4 and stats["with_errors"] == 1
    assert stats["model"].startswith("mobilenet-v2@") and stats["dims"] == 1280


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest"]).exit_code == 2  # nothing to ingest
    assert runner.invoke(cli, ["--backend", "elasticsearch", "stats"]).exit_code == 2  # no URL
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2


def test_search_as_a_subprocess_prints_json(tmp_path: Path, photos: Path) -> None:
    env_dir = str(tmp_path / "store")
    subprocess.run(
        [sys.executable, "-m", "es_visual", "--data-dir", env_dir, "ingest", str(photos)],
        capture_output=True,
        text=True,
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "es_visual",
            "--data-dir",
            env_dir,
            "search",
            "--image",
            str(photos / "chelsea.png"),
            "--limit",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert next(h["id"] for h in data["hits"]) == "chelsea.png"
    assert set(data["hits"][0]) >= {"id", "score", "source", "matched"}
    assert "took_ms" in data
