"""``ingest --from-index --slice I/N`` and ``--workers N`` on the embedded store (the same
command line as on a cluster; the split is a hash of the id), and ``--device``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from es_visual.cli import cli
from es_visual.core.documents import DocUpdate
from es_visual.core.slicing import Slice

DOCS = 24


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An embedded store whose documents name their pictures in ``file`` (no vectors yet),
    and a scene-only pipeline."""
    from es_visual.backends.embedded import EmbeddedBackend

    rng = np.random.default_rng(7)
    media = tmp_path / "media"
    media.mkdir()
    updates = []
    for i in range(DOCS):
        path = media / f"{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
        updates.append(DocUpdate(f"doc-{i:02d}", {"file": str(path), "n": i}))
    backend = EmbeddedBackend(tmp_path / "store")
    assert backend.bulk_update("media", updates).ok
    backend.close()
    (tmp_path / "scene.yaml").write_text("model: mobilenet-v2\nfaces: {enabled: false}\n")
    return tmp_path


def _run(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "es_visual", "--data-dir", str(store / "store"), "ingest",
        "--from-index", "--path-field", "file", "--pipeline", str(store / "scene.yaml"), *args,
    ]  # fmt: skip
    env = {**os.environ, "ES_VISUAL_TORCH_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)


def test_workers_split_the_store_and_a_slice_rerun_skips_what_is_done(store: Path) -> None:
    done = _run(store, "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    by_slice = {w["slice"]: w for w in out["workers"]}
    assert set(by_slice) == {"0/2", "1/2"}
    ids = [f"doc-{i:02d}" for i in range(DOCS)]
    for name, worker in by_slice.items():
        share = Slice.parse(name)
        assert worker["exit_code"] == 0
        assert worker["seen"] == worker["written"] == sum(share.owns(i) for i in ids)
    assert out["total"]["written"] == DOCS and out["total"]["failed"] == 0
    assert 0 < out["balance"] <= 1

    again = _run(store, "--slice", "1/2", "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["written"] == 0 and report["skipped"] == by_slice["1/2"]["seen"]

    from es_visual.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(store / "store")
    assert backend.stats("media").with_visual == DOCS
    backend.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slice", "0/2"], "--from-index"),
        (["--from-index", "--slice", "2/2"], "from 0 to 1"),
        (["--from-index", "--slice", "half"], "expected I/N"),
        (["--from-index", "--slice", "0/2", "--workers", "2"], "not both"),
        (["--from-index", "--workers", "0"], "--workers"),
    ],
)
def test_slice_and_workers_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "ingest", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_device_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here: --device cuda is valid")
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "ingest", str(tmp_path), "--device", "cuda"]
    )
    assert result.exit_code == 2, result.output
    assert "--device cuda" in result.output and "GPU" in result.output


def test_device_and_batch_size_choice() -> None:
    import torch

    from es_visual.models.runtime import batch_size_for, describe_device, pick_device

    auto = pick_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"
    assert batch_size_for(torch.device("cpu"), 16) == 16  # the settings' batch on a CPU
    assert describe_device(torch.device("cpu")).startswith("cpu (")
    if torch.cuda.is_available():
        assert batch_size_for(torch.device("cuda"), 16) >= 64
