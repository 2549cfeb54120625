"""Vector targets as a user meets them: `stats` counts each one (scene, regions, faces,
frames) with the presets that made it, and a search on a target the index does not hold
says so and names the presets that would add it (instead of a bare "(no results)")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.cli import cli
from es_visual.ingest.preset_targets import presets_adding, targets_of
from es_visual.ingest.presets import list_presets, read_preset


def invoke(data_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, skimage_dir: Path) -> Path:
    """Two photos (one with a face) ingested with the default (offline) preset."""
    root = tmp_path_factory.mktemp("targets")
    photos = root / "photos"
    photos.mkdir()
    for name in ("astronaut.png", "chelsea.png"):
        shutil.copyfile(skimage_dir / name, photos / name)
    result = invoke(root / "store", "ingest", str(photos))
    assert result.exit_code == 0, result.output
    return root / "store"


def test_shipped_presets_and_their_targets() -> None:
    presets = {name: read_preset(path) for name, path in list_presets().items()}
    assert targets_of(presets["offline"]) == {"scene", "faces", "frames"}
    assert targets_of(presets["objects"]) == {"scene", "regions", "frames"}
    assert presets["objects"]["model"] == "mobilenet-v2"  # offline scene model, no CLIP
    assert targets_of(presets["full"]) == {"scene", "regions", "faces", "frames"}
    assert presets_adding("regions") == ["full", "objects"]


def test_stats_counts_every_target_and_names_the_presets(store: Path) -> None:
    stats = json.loads(invoke(store, "stats", "--json").stdout)
    assert stats["vectors"] == {"scene": 2, "regions": 0, "faces": 1, "frames": 0}
    assert stats["vector_presets"] == {"scene": {"offline": 2}, "faces": {"offline": 1}}
    text = invoke(store, "stats").stdout
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert "2 (offline: 2 documents)" in lines["scene vectors"]
    assert "1 (offline: 1 document)" in lines["faces vectors"]
    assert "0 (added by the presets full, objects)" in lines["regions vectors"]
    assert lines["frames vectors"].split()[-1] == "0"


def test_search_on_regions_of_an_index_without_them_says_so(store: Path) -> None:
    result = invoke(store, "search", "--asset", "chelsea.png", "--on", "regions")
    assert result.exit_code == 0
    assert "(no results)" in result.stdout
    assert "holds no region vectors" in result.stderr
    assert "`es-visual ingest --pipeline objects ...`" in result.stderr
    body = json.loads(invoke(store, "search", "--asset", "chelsea.png", "--on", "regions",
                             "--json").stdout)  # fmt: skip
    assert body["hits"] == [] and "--pipeline objects" in body["note"]
    frames = json.loads(invoke(store, "search", "--asset", "chelsea.png", "--on", "frames",
                               "--json").stdout)  # fmt: skip
    assert "no video has been ingested" in frames["note"]


def test_no_note_where_the_target_has_vectors(store: Path) -> None:
    body = json.loads(invoke(store, "search", "--asset", "chelsea.png", "--json").stdout)
    assert [h["id"] for h in body["hits"]] == ["astronaut.png"] and "note" not in body
    # Empty for another reason (a filter): no note about presets.
    body = json.loads(
        invoke(store, "search", "--face", "astronaut.png:0", "--where", "tags=none",
               "--json").stdout
    )  # fmt: skip
    assert body["hits"] == [] and "note" not in body
