"""Running searches on the embedded store: resolving similar_to, ACL on the source asset,
on("any") merging, model checks, and the CLI commands on top."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

# Imported, never skipped: a broken embedded store must fail these tests, not hide them.
from es_visual.backends import embedded
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import ModelMismatchError, NotFoundError, QueryError
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=3, face_model="faces@1", face_dims=2)


def unit(*xs: float) -> list[float]:
    v = np.asarray(xs, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


DOCS = {
    "a": {
        "tags": ["cat"],
        "acl": {"read": ["user:alice"]},
        "visual": {
            "media_type": "image",
            "scene": unit(1, 0, 0),
            "regions": [
                {"kind": "object", "label": "cat", "bbox": [0.1, 0.1, 0.5, 0.5],
                 "vector": unit(0, 1, 0)},
            ],
            "faces": [{"bbox": [0.2, 0.2, 0.3, 0.3], "vector": unit(1, 0)}],
        },
    },
    "b": {
        "tags": ["cat", "dog"],
        "visual": {
            "media_type": "image",
            "scene": unit(0.9, 0.1, 0),
            "faces": [{"bbox": [0.5, 0.5, 0.6, 0.6], "vector": unit(0.9, 0.1)}],
        },
    },
    "c": {
        "tags": ["dog"],
        "acl": {"read": ["group:staff"]},
        "visual": {
            "media_type": "image",
            "scene": unit(0, 0, 1),
            "regions": [
                {"kind": "object", "label": "dog", "bbox": [0.0, 0.0, 1.0, 0.5],
                 "vector": unit(0.1, 1, 0)},
            ],
        },
    },
    "v": {
        "tags": ["clip"],
        "visual": {
            "media_type": "video",
            "scene": unit(0, 1, 1),
            "frames": [{"t": 0.0, "vector": unit(0, 1, 1)}, {"t": 1.0, "vector": unit(1, 0, 0)}],
        },
    },
}  # fmt: skip


@pytest.fixture
def backend(tmp_path: Path):
    store = embedded.EmbeddedBackend(tmp_path / "store")
    store.ensure_index("media", SPEC)
    result = store.bulk_update("media", [DocUpdate(i, d) for i, d in DOCS.items()])
    assert result.ok, result.errors
    store.refresh("media")
    yield store
    store.close()


def ids(result) -> list[str]:
    return [h.id for h in result.hits]


def test_metadata_search_with_acl(backend) -> None:
    s = Search("media").where("tags=cat OR tags=dog")
    assert set(ids(s.execute(backend))) == {"a", "b", "c"}
    assert set(ids(s.as_user("bob").execute(backend))) == {"b"}
    assert set(ids(s.as_user("bob", groups=["staff"]).execute(backend))) == {"b", "c"}
    assert set(ids(s.as_user("alice").execute(backend))) == {"a", "b"}


def test_vector_search_orders_by_cosine(backend) -> None:
    result = Search("media").similar_to(vector=unit(1, 0, 0)).limit(2).execute(backend)
    assert ids(result) == ["a", "b"]
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert result.hits[0].matched is not None and result.hits[0].matched.kind == "scene"


def test_asset_search_excludes_the_asset_and_hides_forbidden_ones(backend) -> None:
    result = Search("media").similar_to(asset="a").limit(3).execute(backend)
    assert "a" not in ids(result) and ids(result)[0] == "b"
    with pytest.raises(NotFoundError) as forbidden:
        Search("media").similar_to(asset="a").as_user("bob").execute(backend)
    with pytest.raises(NotFoundError) as missing:
        Search("media").similar_to(asset="zzz").as_user("bob").execute(backend)
    assert str(forbidden.value) == str(missing.value).replace("zzz", "a")
    # Alice may read a: she gets results, none of them outside her ACL.
    mine = Search("media").similar_to(asset="a").as_user("alice").execute(backend)
    assert set(ids(mine)) <= {"b", "v"}


def test_face_search_uses_the_stored_face_vector(backend) -> None:
    result = Search("media").similar_to(face=("a", 0)).execute(backend)
    assert ids(result) == ["b"]
    assert result.hits[0].matched is not None and result.hits[0].matched.kind == "face"
    with pytest.raises(QueryError, match="face"):
        Search("media").similar_to(face=("a", 3)).execute(backend)
    with pytest.raises(QueryError, match="face"):
        Search("media").similar_to(asset="a").on("faces").execute(backend)


def test_region_search_reuses_a_stored_region_vector(backend) -> None:
    # Within 1e-3 of a's stored region: its vector (0,1,0) is used, no image is opened.
    result = Search("media").similar_to(region=("a", [0.1, 0.1, 0.5, 0.5005])).execute(backend)
    assert ids(result)[0] == "c"
    m = result.hits[0].matched
    assert m is not None and m.kind == "region" and m.label == "dog"
    with pytest.raises(QueryError, match=r"visual\.path"):
        Search("media").similar_to(region=("a", [0.0, 0.0, 0.2, 0.2])).execute(backend)


def test_on_any_merges_by_best_score_per_document(backend) -> None:
    result = Search("media").similar_to(vector=unit(1, 0, 0)).on("any").limit(10).execute(backend)
    got = ids(result)
    assert len(got) == len(set(got)) and {"a", "b", "v"} <= set(got)
    by_id = {h.id: h for h in result.hits}
    # The video's best match is its frame at t=1 (cosine 1), better than its scene (0).
    assert by_id["v"].matched is not None and by_id["v"].matched.kind == "frame"
    assert by_id["v"].score == pytest.approx(1.0, abs=1e-4)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_model_checks(backend, mobilenet) -> None:
    with pytest.raises(ModelMismatchError):
        Search("media").similar_to(vector=[1.0, 0.0]).execute(backend)
    with pytest.raises(ModelMismatchError):
        Search("media").similar_to(text="a cat").execute(backend, embedder=mobilenet)
    with pytest.raises(QueryError, match="no visual vectors"):
        Search("empty").similar_to(vector=[1.0, 0, 0]).execute(backend)


def test_region_search_crops_and_embeds_a_drawn_box(tmp_path: Path, mobilenet, skimage_dir) -> None:
    """A box that is no stored region: the asset's image is reopened, cropped, embedded."""
    from es_visual.media.crops import crop_normalized
    from es_visual.media.image import open_image

    chelsea = skimage_dir / "chelsea.png"
    box = [0.25, 0.0, 0.75, 0.6]  # the cat's face
    crop = crop_normalized(open_image(chelsea).image, box)
    vec = lambda im: mobilenet.embed_images([im])[0].tolist()  # noqa: E731
    store = embedded.EmbeddedBackend(tmp_path / "store")
    store.ensure_index("m", VisualSpec(model=mobilenet.tag, dims=mobilenet.dims))
    docs = {
        "chelsea": {"visual": {"scene": vec(open_image(chelsea).image), "path": str(chelsea)}},
        "face-crop": {"visual": {"scene": vec(crop)}},
        "coffee": {"visual": {"scene": vec(open_image(skimage_dir / "coffee.png").image)}},
    }
    assert store.bulk_update("m", [DocUpdate(i, d) for i, d in docs.items()]).ok
    store.refresh("m")
    result = (
        Search("m")
        .similar_to(region=("chelsea", box))
        .on("scene")
        .execute(store, embedder=mobilenet)
    )
    assert ids(result)[0] == "face-crop" and "chelsea" not in ids(result)
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-3)
    store.close()


# --- the CLI commands -----------------------------------------------------------------


@pytest.fixture
def runner_cli(backend, tmp_path: Path):
    from es_visual.cli import cli
    from es_visual.cli.explain import explain
    from es_visual.cli.search import search

    for command in (search, explain):  # until the coordinator lists them in commands.ALL
        if command.name not in cli.commands:
            cli.add_command(command)
    backend.close()  # the CLI opens the same store itself
    data_dir = str(tmp_path / "store")

    def run(*args: str):
        return CliRunner().invoke(cli, ["--data-dir", data_dir, *args], catch_exceptions=False)

    return run


def test_cli_search_json_and_table(runner_cli, tmp_path: Path) -> None:
    out = runner_cli("search", "--where", "tags=cat", "--as-user", "bob", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [h["id"] for h in data["hits"]] == ["b"] and "took_ms" in data

    vec = tmp_path / "q.json"
    vec.write_text(json.dumps(unit(1, 0, 0)))
    out = runner_cli("search", "--vector-file", str(vec), "--limit", "2", "--aggregate", "tags")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "id", "score", "matched"]
    assert lines[2].split()[1:4] == ["a", "1.000", "scene"]

    out = runner_cli("search", "--asset", "a", "--as-user", "bob", "--json")
    assert out.exit_code == 1 and "not found" in out.stderr
    out = runner_cli("search", "--where", "tags:(", "--json")
    assert out.exit_code == 2 and "^" in out.stderr
    out = runner_cli("search", "--where", "colour:red")
    assert out.exit_code == 2 and "known fields" in out.stderr


def test_cli_explain_prints_bodies(runner_cli) -> None:
    out = runner_cli("explain", "--asset", "a", "--as-user", "alice", "--target", "elasticsearch")
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["knn"]["field"] == "visual.scene"
    assert "user:alice" in json.dumps(body["knn"]["filter"])
    out = runner_cli("explain", "--where", "tags=cat", "--target", "embedded")
    ir_json = json.loads(out.stdout)
    assert ir_json["type"] == "SearchRequest" and ir_json["filter"] == {
        "type": "Term",
        "field": "tags",
        "value": "cat",
    }
    out = runner_cli("explain", "--asset", "a", "--on", "any", "--target", "opensearch")
    assert out.exit_code == 0, out.output
    assert isinstance(json.loads(out.stdout), list)
