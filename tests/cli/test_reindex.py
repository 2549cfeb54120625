"""`es-visual reindex` and `init` on the embedded store: a new index behind an alias
record, in place, dry run, resume after an interruption, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli

IMAGES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "horse.png"]
SCENE_ONLY = "model: mobilenet-v2\nmax_side: 160\nfaces: {enabled: false}\n"


@pytest.fixture
def store(tmp_path: Path, skimage_dir: Path) -> dict:
    """An embedded store whose index `media` was ingested with MobileNetV2."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in IMAGES:
        shutil.copy(skimage_dir / name, photos / name)
    pipeline = tmp_path / "scene.yaml"
    pipeline.write_text(SCENE_ONLY)
    data = tmp_path / "data"
    base = ["--data-dir", str(data)]
    out = _run(*base, "ingest", str(photos), "--pipeline", str(pipeline))
    assert out.exit_code == 0, out.output
    return {"base": base, "data": data, "pipeline": str(pipeline), "photos": photos}


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _tag(folder: Path) -> str:
    """A local checkpoint's tag: its folder name and the hash of its config and weights."""
    from es_visual.models.clip import checkpoint_digest

    return f"clip@{folder.name}#{checkpoint_digest(folder)}"


def test_reindex_alongside_then_alias_then_in_place(store, tiny_clips):
    base, pipeline = store["base"], store["pipeline"]
    new = f"clip:{tiny_clips[0]}"
    tag_a, tag_b = _tag(tiny_clips[0]), _tag(tiny_clips[1])
    target = "media-" + tag_a.replace("@", "-").replace("#", "-")
    dry = _run(*base, "reindex", "--model", new, "--dry-run", "--json", "--pipeline", pipeline)
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert (plan["documents"], plan["to_embed"], plan["target"]) == (5, 5, target)
    with EmbeddedBackend(store["data"]) as b:
        assert not b.index_exists(target)  # a dry run writes nothing

    # The first reindex deletes the real index 'media' to put the alias in its place:
    # never without being asked, and refused before any work is done.
    refused = _run(*base, "reindex", "--model", new, "--pipeline", pipeline)
    assert refused.exit_code == 2 and "--replace-original" in refused.stderr
    with EmbeddedBackend(store["data"]) as b:
        assert not b.index_exists(target)
    out = _run(*base, "reindex", "--model", new, "--pipeline", pipeline, "--replace-original")
    assert out.exit_code == 0, out.output
    assert f"alias 'media' now points at '{target}'" in out.stdout
    with EmbeddedBackend(store["data"]) as b:
        assert b.resolve_index("media") == target
        assert b.visual_spec("media").model == tag_a
        assert not (store["data"] / "media.sqlite").exists()  # replaced by the alias
        doc = b.get("media", "coffee.png", with_vectors=True)
        assert len(doc["visual"]["scene"]) == 24
        assert b.stats("media").documents == 5
    stats = json.loads(_run(*base, "stats", "--json").stdout)
    assert stats["model"] == tag_a and stats["with_visual"] == 5
    found = _run(*base, "search", "--asset", "coffee.png", "--limit", "2", "--json")
    assert found.exit_code == 0 and len(json.loads(found.stdout)["hits"]) == 2
    # Ingest with the old model into the moved index is refused, with the way out.
    old = _run(*base, "ingest", str(store["photos"]), "--pipeline", pipeline)
    assert old.exit_code == 1 and "reindex" in old.stderr

    again = _run(*base, "reindex", "--model", new)
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    inplace = _run(*base, "reindex", "--model", f"clip:{tiny_clips[1]}", "--in-place",
                   "--pipeline", pipeline, "--json")  # fmt: skip
    assert inplace.exit_code == 0, inplace.output
    assert json.loads(inplace.stdout)["ingest"]["written"] == 5
    with EmbeddedBackend(store["data"]) as b:
        assert b.visual_spec("media").model == tag_b
        assert b.resolve_index("media") == target  # still the same index
    refused = _run(*base, "reindex", "--model", "mobilenet-v2", "--in-place")
    assert refused.exit_code == 1 and "same dims" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_reindex_resumes_after_an_interruption(store, tiny_clips):
    from es_visual.config import Settings
    from es_visual.models.registry import get_embedder
    from es_visual.reindex import plan_reindex, run_reindex
    from es_visual.workflows import load_pipeline

    clip = get_embedder(f"clip:{tiny_clips[0]}")
    pipeline = load_pipeline(Settings(), store["pipeline"])
    seen: list[int] = []

    def interrupt(n: int) -> None:  # a Ctrl-C after the first batches
        seen.append(n)
        if sum(seen) >= 2:
            raise KeyboardInterrupt

    with EmbeddedBackend(store["data"]) as b:
        plan = plan_reindex(b, "media", clip)
        with pytest.raises(KeyboardInterrupt):
            run_reindex(
                b, plan, clip, pipeline, batch_size=2, progress=interrupt, replace_original=True
            )
        assert b.resolve_index("media") == "media"  # not swapped half way
    out = _run(*store["base"], "reindex", "--model", f"clip:{tiny_clips[0]}", "--dry-run",
               "--json", "--pipeline", store["pipeline"])  # fmt: skip
    left = json.loads(out.stdout)
    assert left["documents"] == 5 and 0 < left["to_embed"] < 5
    out = _run(*store["base"], "reindex", "--model", f"clip:{tiny_clips[0]}", "--json",
               "--pipeline", store["pipeline"], "--replace-original")  # fmt: skip
    report = json.loads(out.stdout)
    assert report["swapped"] and report["ingest"]["skipped"] == 5 - left["to_embed"]
    with EmbeddedBackend(store["data"]) as b:
        assert sorted(i for i, _ in b.iter_docs("media")) == sorted(IMAGES)


def test_init_on_the_embedded_store(tmp_path: Path, tiny_clips):
    base = ["--data-dir", str(tmp_path / "data")]
    out = _run(*base, "init", "--face-dims", "0", "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["action"] == "created"
    out = _run(*base, "init", "--face-dims", "0")
    assert "already set up" in out.stdout
    out = _run(*base, "init", "--model", f"clip:{tiny_clips[0]}")
    assert out.exit_code == 1 and "reindex" in out.stderr
