"""Faces from the command line: search by a photo (one face, several, none), same person
vs similar in the table and in --json, and `es-visual people` (list, show, name, merge,
split) with person:"Name" in --where. Real dlib vectors, the default offline preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from es_visual.cli import cli


@pytest.fixture(scope="module")
def store(tmp_path_factory, skimage_dir: Path) -> tuple[Path, Path]:
    """(data dir, folder of query pictures) with astronaut, camera and a cat ingested."""
    root = tmp_path_factory.mktemp("faces-cli")
    photos, queries = root / "photos", root / "queries"
    photos.mkdir()
    queries.mkdir()
    astronaut = Image.open(skimage_dir / "astronaut.png").convert("RGB")
    camera = Image.open(skimage_dir / "camera.png").convert("RGB")
    astronaut.save(photos / "astronaut.png")
    camera.save(photos / "camera.png")
    ImageOps.mirror(astronaut).resize((400, 400)).save(photos / "astronaut-2.jpg")
    Image.open(skimage_dir / "chelsea.png").convert("RGB").save(photos / "cat.png")
    both = Image.new("RGB", (1024, 512))
    both.paste(astronaut, (0, 0))
    both.paste(camera, (512, 0))
    both.save(queries / "both.png")
    Image.open(skimage_dir / "coffee.png").convert("RGB").save(queries / "cup.png")
    data = root / "store"
    result = invoke(data, "ingest", str(photos), "--json")
    assert result.exit_code == 0, result.output
    return data, queries


def invoke(data_dir: Path, *args: str):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


def hits(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"]


def test_a_photo_with_two_faces_asks_for_one(store) -> None:
    data, queries = store
    result = invoke(data, "search", "--image", str(queries / "both.png"), "--on", "faces")
    assert result.exit_code == 2
    assert "--query-face 0" in result.output and "--query-face 1" in result.output
    as_json = invoke(
        data, "search", "--image", str(queries / "both.png"), "--on", "faces", "--json"
    )
    assert as_json.exit_code == 2
    body = json.loads(as_json.stdout)
    assert body["error"] == "several_faces" and len(body["faces"]) == 2
    right = max(body["faces"], key=lambda f: f["bbox"][0])["index"]
    found = hits(
        invoke(
            data, "search", "--image", str(queries / "both.png"), "--on", "faces",
            "--query-face", str(right), "--json",
        )
    )  # fmt: skip
    assert [h["id"] for h in found] == ["camera.png"]
    assert found[0]["matched"]["same_person"] is True and found[0]["matched"]["person"]


def test_same_person_by_default_similar_when_widened(store) -> None:
    data, queries = store
    query = ["search", "--image", str(queries / "both.png"), "--on", "faces"]
    faces = json.loads(invoke(data, *query, "--json").stdout)["faces"]
    her = str(min(faces, key=lambda f: f["bbox"][0])["index"])  # the left half
    same = hits(invoke(data, *query, "--query-face", her, "--json"))
    assert sorted(h["id"] for h in same) == ["astronaut-2.jpg", "astronaut.png"]
    wide = invoke(data, *query, "--query-face", her, "--min-score", "0.5")
    assert wide.exit_code == 0, wide.output
    rows = {
        line.split()[1]: line for line in wide.output.splitlines()[2:] if line.strip()[:1].isdigit()
    }
    assert "same person" in rows["astronaut.png"] and "similar" in rows["camera.png"]


def test_a_photo_without_a_face_and_bad_combinations(store) -> None:
    data, queries = store
    none = invoke(data, "search", "--image", str(queries / "cup.png"), "--on", "faces")
    assert none.exit_code == 1 and "no face was found" in none.output
    lone = invoke(data, "search", "--image", str(queries / "cup.png"), "--query-face", "0")
    assert lone.exit_code == 2 and "--on faces" in lone.output


def test_people_list_name_merge_split_and_filter(store, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "store"
    shutil.copytree(store[0], data)  # changes stay in this test
    people = json.loads(invoke(data, "people", "list", "--json").stdout)["people"]
    assert len(people) == 2 and sorted(p["assets"] for p in people) == [1, 2]
    her = next(p["id"] for p in people if p["assets"] == 2)
    him = next(p["id"] for p in people if p["assets"] == 1)
    assert invoke(data, "people", "name", her, "Eileen Collins").exit_code == 0
    found = hits(invoke(data, "search", "--where", 'person:"eileen collins"', "--json"))
    assert sorted(h["id"] for h in found) == ["astronaut-2.jpg", "astronaut.png"]
    shown = json.loads(invoke(data, "people", "show", "Eileen Collins", "--json").stdout)
    assert shown["name"] == "Eileen Collins" and shown["total"] == 2
    taken = invoke(data, "people", "name", him, "Eileen Collins")
    assert taken.exit_code == 1 and "merge" in taken.output
    assert invoke(data, "people", "merge", "Eileen Collins", him).exit_code == 0
    assert len(json.loads(invoke(data, "people", "list", "--json").stdout)["people"]) == 1
    split = invoke(
        data, "people", "split", "Eileen Collins", "--face", "camera.png:0", "--name", "Cameraman"
    )
    assert split.exit_code == 0, split.output
    names = sorted(
        p["name"] for p in json.loads(invoke(data, "people", "list", "--json").stdout)["people"]
    )
    assert names == ["Cameraman", "Eileen Collins"]
    wrong = invoke(data, "people", "split", "Eileen Collins", "--face", "cat.png:0")
    assert wrong.exit_code == 2
    assert invoke(data, "people", "show", "Nobody").exit_code == 1
