"""The "extend my existing cluster" flow end to end, through the CLI, on every live engine
(and noida-db).

A user's index with their own fields and documents; `es-visual init` extends it,
`ingest --from-index` attaches `visual` to those documents (real MobileNetV2 on
scikit-image's pictures), `search --where` filters on the user's own fields with
no configuration, and `reindex` moves it to another model behind an alias.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from live_backends import BACKEND_OF

from es_visual.cli import cli
from es_visual.core.errors import ModelMismatchError
from es_visual.query.search import Search

IMAGES = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "horse.png",
]
SCENE_ONLY = "model: mobilenet-v2\nmax_side: 160\nfaces: {enabled: false}\n"


@pytest.fixture(scope="module")
def scene_pipeline(tmp_path_factory) -> str:
    """A preset without face detection: the flow is what is tested, and it keeps it fast."""
    path = tmp_path_factory.mktemp("pipelines") / "scene.yaml"
    path.write_text(SCENE_ONLY)
    return str(path)


def _user_index(backend, index: str, copies: int = 1) -> dict[str, dict]:
    """The user's own index: their mapping, _meta and documents, media paths relative."""
    # A user who will add vectors to an OpenSearch index creates it with index.knn (a
    # setting fixed at creation; tests/integration/test_opensearch_without_knn.py is the
    # index without it).
    settings = {"index": {"knn": True}} if backend.name == "opensearch" else {}
    backend.client.indices.create(
        index=index,
        body={
            "settings": settings,
            "mappings": {
                "_meta": {"owner": "photo-team"},
                "properties": {
                    "title": {"type": "text"},
                    "owner": {"type": "keyword"},
                    "media": {"properties": {"file_path": {"type": "keyword"}}},
                },
            },
        },
    )
    docs = {}
    for n in range(copies):
        for i, name in enumerate(IMAGES):
            doc_id = f"u{n}-{i}"
            docs[doc_id] = {
                "title": f"photo {Path(name).stem}",
                "owner": "team-b" if i % 2 else "team-a",
                "media": {"file_path": name},
            }
            backend.client.index(index=index, id=doc_id, body=docs[doc_id])
    backend.refresh(index)
    return docs


def _es(url: str, index: str, *args: str) -> list[str]:
    return [
        "--backend",
        BACKEND_OF.get(url, "elasticsearch"),
        "--url",
        url,
        "--index",
        index,
        *args,
    ]


def _run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def _vectors(backend, index: str) -> dict[str, tuple[str, list[float]]]:
    backend.refresh(index)
    out = {}
    for doc_id, _ in backend.iter_docs(index):
        doc = backend.get(index, doc_id, with_vectors=True)
        out[doc_id] = (doc["visual"]["model"], doc["visual"]["scene"])
    return out


def test_init_creates_extends_and_refuses_another_model(
    es_backend, cluster_url, index_name, scene_pipeline, tiny_clips
):
    docs = _user_index(es_backend, index_name)
    out = _run(*_es(cluster_url, index_name, "init", "--pipeline", scene_pipeline, "--json"))
    assert out.exit_code == 0, out.output
    said = json.loads(out.stdout)
    assert said["action"] == "extended" and said["dims"] == 1280 and said["face_dims"] is None
    assert es_backend._get_mapping(index_name)["_meta"]["owner"] == "photo-team"
    assert es_backend.get(index_name, "u0-1") == docs["u0-1"]  # documents untouched
    out = _run(*_es(cluster_url, index_name, "init", "--pipeline", scene_pipeline))
    assert out.exit_code == 0 and "already set up" in out.stdout
    # Faces are an extension of the same model, not a change.
    out = _run(
        *_es(cluster_url, index_name, "init", "--pipeline", scene_pipeline, "--face-dims", "128")
    )
    assert out.exit_code == 0 and out.stdout.startswith("extended"), out.output
    assert es_backend.visual_spec(index_name).face_dims == 128
    out = _run(*_es(cluster_url, index_name + "-new", "init", "--pipeline", scene_pipeline))
    assert out.exit_code == 0 and out.stdout.startswith("created")
    out = _run(*_es(cluster_url, index_name, "init", "--model", f"clip:{tiny_clips[0]}"))
    assert out.exit_code == 1
    assert "reindex" in out.stderr and "1280 dims" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_from_index_ingest_attaches_visual_and_resumes(
    es_backend, cluster_url, index_name, scene_pipeline, skimage_dir
):
    docs = _user_index(es_backend, index_name)
    args = _es(
        cluster_url,
        index_name,
        "ingest",
        "--from-index",
        "--path-field",
        "media.file_path",
        "--base-dir",
        str(skimage_dir),
        "--pipeline",
        scene_pipeline,
        "--json",
    )
    first = _run(*args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["written"], report["skipped"], report["failed"]) == (len(docs), 0, 0)
    for doc_id, user in docs.items():
        stored = es_backend.get(index_name, doc_id, with_vectors=True)
        assert {k: stored[k] for k in user} == user  # the user's fields, intact
        assert len(stored["visual"]["scene"]) == 1280
        assert stored["visual"]["path"] == str(skimage_dir / user["media"]["file_path"])
    assert es_backend.stats(index_name).documents == len(docs)  # same documents, none added
    second = json.loads(_run(*args).stdout)
    assert (second["written"], second["skipped"]) == (0, len(docs))


def test_where_on_user_fields_uses_the_index_mapping(
    es_backend, cluster_url, index_name, scene_pipeline, skimage_dir
):
    _user_index(es_backend, index_name)
    _run(*_es(cluster_url, index_name, "init", "--pipeline", scene_pipeline))
    out = _run(*_es(cluster_url, index_name, "search", "--where", "owner=team-b", "--json"))
    assert out.exit_code == 0, out.output
    ids = sorted(h["id"] for h in json.loads(out.stdout)["hits"])
    assert ids == ["u0-1", "u0-3", "u0-5"]
    out = _run(
        *_es(
            cluster_url,
            index_name,
            "search",
            "--json",
            "--where",
            "media.file_path:coffee.png OR title:rocket",
        )
    )
    assert sorted(h["id"] for h in json.loads(out.stdout)["hits"]) == ["u0-2", "u0-3"]
    out = _run(*_es(cluster_url, index_name, "explain", "--where", "owner=team-b"))
    assert json.loads(out.stdout)["query"]["bool"]["filter"][0] == {
        "term": {"owner": {"value": "team-b"}}
    }
    out = _run(*_es(cluster_url, index_name, "search", "--where", "nope=1"))
    assert out.exit_code == 2 and "owner" in out.stderr  # the known fields are the index's


def test_sigkill_mid_ingest_then_resume_equals_a_clean_run(
    es_backend, cluster_url, index_name, scene_pipeline, skimage_dir
):
    killed, clean = index_name, index_name + "-clean"
    docs = _user_index(es_backend, killed, copies=2)
    _user_index(es_backend, clean, copies=2)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def command(index: str, batch: int = 16) -> list[str]:
        return [
            sys.executable,
            "-m",
            "es_visual",
            *_es(
                cluster_url,
                index,
                "ingest",
                "--from-index",
                "--path-field",
                "media.file_path",
                "--base-dir",
                str(skimage_dir),
                "--pipeline",
                scene_pipeline,
                "--batch-size",
                str(batch),
                "--json",
            ),
        ]

    def embedded_count(index: str) -> int:
        return int(
            es_backend.client.count(
                index=index, body={"query": {"exists": {"field": "visual.model"}}}
            )["count"]
        )

    t0 = time.monotonic()
    proc = subprocess.Popen(
        command(killed, batch=1), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    done_at_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        es_backend.refresh(killed)
        done_at_kill = embedded_count(killed)
        if done_at_kill >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    print(f"killed after {time.monotonic() - t0:.1f}s with {done_at_kill} done")
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert 0 < done_at_kill < len(docs), "the kill should land part way through"

    t0 = time.monotonic()
    resumed = subprocess.run(command(killed), env=env, capture_output=True, timeout=300)
    print(f"resumed run: {time.monotonic() - t0:.1f}s")
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    report = json.loads(resumed.stdout)
    assert report["skipped"] >= done_at_kill - 1 and report["failed"] == 0
    assert report["written"] + report["skipped"] == len(docs)
    # The clean run in this process (same code path, the model already loaded here).
    whole = _run(*command(clean)[3:])
    assert whole.exit_code == 0, whole.output

    got, want = _vectors(es_backend, killed), _vectors(es_backend, clean)
    assert sorted(got) == sorted(want) == sorted(docs)  # no duplicates, none missing
    for doc_id, (model, vector) in want.items():
        assert got[doc_id][0] == model
        np.testing.assert_allclose(got[doc_id][1], vector, atol=1e-5)
        assert es_backend.get(killed, doc_id)["owner"] == docs[doc_id]["owner"]


def test_reindex_builds_a_new_index_and_swaps_the_alias(
    es_backend, cluster_url, index_name, scene_pipeline, skimage_dir, tiny_clips
):
    docs = _user_index(es_backend, index_name)
    # One user document without media: it is copied with its fields all the same.
    es_backend.client.index(
        index=index_name,
        id="no-media",
        body={"title": "text only", "owner": "team-a"},
        refresh=True,
    )
    _run(
        *_es(
            cluster_url,
            index_name,
            "ingest",
            "--from-index",
            "--path-field",
            "media.file_path",
            "--base-dir",
            str(skimage_dir),
            "--pipeline",
            scene_pipeline,
        )
    )
    old_spec = es_backend.visual_spec(index_name)
    from es_visual.models.clip import checkpoint_digest

    new = f"clip:{tiny_clips[0]}"
    # A local checkpoint's tag: its folder name and the hash of its config and weights.
    tag_a, tag_b = (f"clip@{f.name}#{checkpoint_digest(f)}" for f in tiny_clips)
    target = f"{index_name}-" + tag_a.replace("@", "-").replace("#", "-")

    plan = _run(
        *_es(
            cluster_url,
            index_name,
            "reindex",
            "--model",
            new,
            "--dry-run",
            "--json",
            "--pipeline",
            scene_pipeline,
        )
    )
    assert plan.exit_code == 0, plan.output
    counted = json.loads(plan.stdout)
    assert (counted["documents"], counted["with_media"], counted["to_embed"]) == (7, 6, 6)
    assert counted["target"] == target and counted["without_media"] == 1
    assert not es_backend.index_exists(target)  # a dry run writes nothing

    out = _run(
        *_es(
            cluster_url,
            index_name,
            "reindex",
            "--model",
            new,
            "--json",
            "--pipeline",
            scene_pipeline,
            "--replace-original",
        )
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    # Every document's user fields are copied, embedded or not (a resumed run keeps edits).
    assert report["swapped"] and report["left"] == [index_name] and report["copied"] == 7
    aliases = dict(es_backend.client.indices.get_alias(name=index_name))
    assert list(aliases) == [target]  # the name now resolves to the new index
    assert es_backend.visual_spec(index_name).model == tag_a
    for doc_id, user in docs.items():
        stored = es_backend.get(index_name, doc_id, with_vectors=True)
        assert {k: stored[k] for k in user} == user and len(stored["visual"]["scene"]) == 24
    assert es_backend.get(index_name, "no-media")["title"] == "text only"
    assert es_backend.field_types(index_name)["owner"] == "keyword"  # user mapping copied

    # Queries refuse to mix models: MobileNet's vectors or embedder against the CLIP index.
    from es_visual.models.registry import get_embedder

    stale = Search(index_name).similar_to(vector=[1.0] + [0.0] * (old_spec.dims - 1))
    with pytest.raises(ModelMismatchError, match="1280 dims"):
        stale.execute(es_backend)
    by_image = Search(index_name).similar_to(image=skimage_dir / "coffee.png")
    with pytest.raises(ModelMismatchError, match="tiny-clip-a"):
        by_image.execute(es_backend, embedder=get_embedder("mobilenet-v2"))
    hits = Search(index_name).similar_to(asset="u0-0").limit(3).execute(es_backend).hits
    assert hits and hits[0].id != "u0-0"  # the new vectors answer

    again = _run(*_es(cluster_url, index_name, "reindex", "--model", new))
    assert again.exit_code == 0 and "nothing to do" in again.stdout, again.output
    # Same dims: in place is allowed; other dims in place: one clear refusal.
    inplace = _run(
        *_es(
            cluster_url,
            index_name,
            "reindex",
            "--model",
            f"clip:{tiny_clips[1]}",
            "--in-place",
            "--pipeline",
            scene_pipeline,
            "--json",
        )
    )
    assert inplace.exit_code == 0, inplace.output
    assert json.loads(inplace.stdout)["ingest"]["written"] == 6
    assert es_backend.visual_spec(index_name).model == tag_b
    refused = _run(
        *_es(cluster_url, index_name, "reindex", "--model", "mobilenet-v2", "--in-place")
    )
    assert refused.exit_code == 1 and "same dims" in refused.stderr


def test_reindex_resumes_after_an_interruption(
    es_backend, index_name, scene_pipeline, skimage_dir, tiny_clips
):
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_index
    from es_visual.models.registry import get_embedder
    from es_visual.reindex import plan_reindex, run_reindex
    from es_visual.workflows import ingest, load_pipeline

    docs = _user_index(es_backend, index_name, copies=2)
    pipeline = load_pipeline(Settings(), scene_pipeline)
    ingest(
        es_backend,
        index_name,
        iter_index(es_backend, index_name, path_field="media.file_path", base_dir=skimage_dir),
        embedder=get_embedder("mobilenet-v2"),
        pipeline=pipeline,
    )
    clip = get_embedder(f"clip:{tiny_clips[0]}")
    pipeline.model = f"clip:{tiny_clips[0]}"

    seen = []

    def interrupt(n: int) -> None:  # what a Ctrl-C part way through looks like
        seen.append(n)
        if sum(seen) >= 4:
            raise KeyboardInterrupt

    plan = plan_reindex(es_backend, index_name, clip)
    with pytest.raises(KeyboardInterrupt):
        run_reindex(
            es_backend,
            plan,
            clip,
            pipeline,
            batch_size=2,
            progress=interrupt,
            replace_original=True,
        )
    es_backend.refresh(plan.target)
    assert not es_backend.client.indices.exists_alias(name=index_name)
    again = plan_reindex(es_backend, index_name, clip)
    assert again.documents == len(docs) and 0 < again.to_embed < len(docs)
    report = run_reindex(es_backend, again, clip, pipeline, batch_size=2, replace_original=True)
    assert report.swapped and report.ingest.skipped == len(docs) - again.to_embed
    assert sorted(i for i, _ in es_backend.iter_docs(index_name)) == sorted(docs)


def test_unreachable_cluster_is_one_line_and_exit_1():
    from tests.backends.conftest import _free_port

    url = f"http://127.0.0.1:{_free_port()}"
    for args in (
        ["init"],
        ["search", "--where", "owner=x"],
        ["stats"],
        ["reindex", "--model", "mobilenet-v2", "--dry-run"],
    ):
        out = _run(*_es(url, "media", *args))
        assert out.exit_code == 1, (args, out.output)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and url in lines[0] and "unreachable" in lines[0], out.stderr
