"""es_visual.watch without a cluster: the checkpoint file, the embedded store's full-pass
cycles, and the CLI (the cluster's per-shard changes: tests/integration/test_watch.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from es_visual.cli import cli
from es_visual.core.documents import DocUpdate
from es_visual.core.errors import ConfigError
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.watch import Checkpoint, Watcher, default_checkpoint


def test_checkpoint_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ckpt.json"
    assert Checkpoint.load(path) is None
    ckpt = Checkpoint("media-v2", "uuid-1", "m@1", "offline", "file", {0: 12, 1: -1})
    ckpt.save(path)
    again = Checkpoint.load(path)
    assert again is not None and again.shards == {0: 12, 1: -1} and again.uuid == "uuid-1"
    assert again.updated_at
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        Checkpoint.load(path)
    path.write_text(json.dumps({"version": 1, "index": "x"}))
    with pytest.raises(ConfigError, match="not one es-visual wrote"):
        Checkpoint.load(path)


def test_default_checkpoint_never_holds_the_url() -> None:
    path = default_checkpoint(Path("/d"), "opensearch", "https://u:secret@h:9200", "my/idx")
    assert "secret" not in str(path) and path.parent == Path("/d/watch")
    assert path.name.startswith("opensearch-") and path.name.endswith("-my_idx.json")


def test_watch_on_the_embedded_store_reads_everything_and_skips_the_unchanged(
    tmp_path: Path, mobilenet
) -> None:
    from es_visual.backends.embedded import EmbeddedBackend

    rng = np.random.default_rng(3)
    backend = EmbeddedBackend(tmp_path / "store")
    updates = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        updates.append(DocUpdate(f"d{i}", {"file": str(path)}))
    assert backend.bulk_update("media", updates).ok
    watcher = Watcher(
        backend, "media", embedder=mobilenet, pipeline=PipelineConfig(name="scene-test"),
        path_field="file", checkpoint=tmp_path / "ckpt.json",
    )  # fmt: skip
    assert not watcher.incremental
    first, second = watcher.run(interval=0.0, cycles=2, sleep=lambda _s: None)
    assert (first.written, second.written, second.skipped) == (5, 0, 5)
    backend.close()


def test_watch_command_refuses_a_missing_index(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "--index", "nope", "watch", "--once"]
    )
    assert result.exit_code == 1 and "no such index 'nope'" in result.output
