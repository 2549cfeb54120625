"""Local CLIP checkpoints are known by their content, not their folder's name.

Two different checkpoints (the tiny random CLIPs, different weights) are each copied
into a folder called ``tinyclip``. Before, both were ``clip@tinyclip``: they shared
an index and a search silently loaded whichever folder it found. Now each tag holds
the hash of the checkpoint's config and weights, so ingesting with the other one is
refused (nothing written), and a search that finds the other weights under the
index's folder name is refused with a message that says so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli
from es_visual.core.errors import ModelMismatchError
from es_visual.models.registry import clear_cache
from es_visual.query.search import Search

SCENE_ONLY = "model: clip\nmax_side: 160\nfaces: {enabled: false}\n"


def test_same_folder_name_other_weights_is_refused(
    tmp_path: Path, tiny_clips: tuple[Path, Path], good_folder: Path, monkeypatch, tally
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    shutil.copytree(tiny_clips[0], first / "tinyclip")
    shutil.copytree(tiny_clips[1], second / "tinyclip")
    preset = tmp_path / "scene.yaml"
    preset.write_text(SCENE_ONLY)
    store = tmp_path / "store"
    base = ["--data-dir", str(store)]
    runner = CliRunner()
    problems: list[str] = []

    def ingest(checkpoint: Path):  # type: ignore[no-untyped-def]
        model = f"clip:{checkpoint}"
        args = [*base, "ingest", str(good_folder), "--model", model, "--pipeline", str(preset)]
        return runner.invoke(cli, args)

    made = ingest(first / "tinyclip")
    assert made.exit_code == 0, made.output
    with EmbeddedBackend(store) as backend:
        tag = backend.visual_spec("media").model
        before = {i: d for i, d in backend.iter_docs("media", with_vectors=True)}
    if not tag.startswith("clip@tinyclip#") or len(tag.split("#")[1]) != 16:
        problems.append(f"the tag does not carry the content hash: {tag}")

    other = ingest(second / "tinyclip")
    if other.exit_code != 1 or tag not in other.output or "reindex" not in other.output:
        problems.append(f"ingest with other weights: exit {other.exit_code}: {other.output}")
    with EmbeddedBackend(store) as backend:
        if {i: d for i, d in backend.iter_docs("media", with_vectors=True)} != before:
            problems.append("the refused ingest wrote something")

    # A search loads the index's model by its folder name: here, the other weights.
    clear_cache()
    monkeypatch.chdir(second)
    query = Search("media").similar_to(image=good_folder / "coffee.png")
    with EmbeddedBackend(store) as backend:
        with pytest.raises(ModelMismatchError) as refused:
            query.execute(backend)
        message = str(refused.value)
        if tag.split("#")[1] not in message or "other weights" not in message:
            problems.append(f"unclear refusal: {message}")
        cli_search = runner.invoke(
            cli, [*base, "search", "--image", str(good_folder / "coffee.png")]
        )
        if cli_search.exit_code != 1 or "other weights" not in cli_search.output:
            problems.append(f"CLI search: exit {cli_search.exit_code}: {cli_search.output}")

        # With the right folder there, the same search runs.
        clear_cache()
        monkeypatch.chdir(first)
        hits = query.limit(3).execute(backend).hits
        if len(hits) != 3:
            problems.append(f"the right checkpoint should answer: {hits}")
    stats = json.loads(runner.invoke(cli, [*base, "stats", "--json"]).stdout)
    if stats["model"] != tag:
        problems.append(f"stats shows {stats['model']}")
    tally.record("model identity: same name, other weights", tried=6, failed=len(problems))
    assert not problems, "\n".join(problems)
