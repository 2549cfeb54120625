"""Faces and people in the web UI and its API: search faces by an uploaded photo (boxes on
the query picture, several faces, no face), same person vs similar on the cards, cards
cropped around the match, the People pages and their ACL, naming/merging/splitting.

Its own small index (real dlib, the offline preset): the astronaut in public and, for
the science group only, a second photo of her and the cameraman."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from es_visual.config import Settings
from tests.ui.conftest import USERS, login, make_settings

DOCS = {
    "pub/astronaut.png": ("astronaut", None),
    "lab/astronaut-again.jpg": ("astronaut-mirrored", ["group:science"]),
    "lab/camera.png": ("camera", ["group:science"]),
    "pub/cat.png": ("chelsea", None),
}


def picture(skimage_dir: Path, kind: str) -> Image.Image:
    if kind == "astronaut-mirrored":
        im = Image.open(skimage_dir / "astronaut.png").convert("RGB")
        return ImageOps.mirror(im).resize((400, 400))
    return Image.open(skimage_dir / f"{kind}.png").convert("RGB")


@pytest.fixture(scope="module")
def faces_data(tmp_path_factory, skimage_dir: Path, mobilenet):
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.ingest.sources import iter_manifest
    from es_visual.people.registry import PeopleRegistry
    from es_visual.workflows import ingest, load_pipeline

    root = tmp_path_factory.mktemp("faces-ui")
    lines = []
    for doc_id, (kind, readers) in DOCS.items():
        dest = root / "media" / doc_id
        dest.parent.mkdir(parents=True, exist_ok=True)
        picture(skimage_dir, kind).save(dest)
        doc = {"id": doc_id, "path": str(dest)}
        if readers:
            doc["acl"] = {"read": readers}
        lines.append(json.dumps(doc))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    settings = Settings(data_dir=root / "store", index="media", pipeline="offline")
    backend = EmbeddedBackend(settings.data_dir)
    report = ingest(
        backend,
        "media",
        iter_manifest(root / "manifest.jsonl"),
        embedder=mobilenet,
        pipeline=load_pipeline(settings),
        people=PeopleRegistry.in_data_dir(settings.data_dir),
    )
    assert report.failed == 0, report.to_dict()
    yield root, backend
    backend.close()


@pytest.fixture
def fclient(faces_data, mobilenet, tmp_path):
    from flask_ui import create_app

    root, backend = faces_data
    app = create_app(
        make_settings(root),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    return app.test_client()


def persons(backend) -> dict[str, list[str]]:
    return {i: d["visual"].get("persons") or [] for i, d in backend.iter_docs("media")}


def upload(client, image: Image.Image, **form):
    buf = io.BytesIO()
    image.save(buf, "PNG")
    data = {"image": (io.BytesIO(buf.getvalue()), "q.png"), "on": "faces", **form}
    return client.post("/", data=data, content_type="multipart/form-data")


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article class="card" data-id="([^"]+)"', html)


def test_ingest_clustered_the_two_photos_of_her_into_one_person(faces_data) -> None:
    _, backend = faces_data
    found = persons(backend)
    assert found["pub/astronaut.png"] == found["lab/astronaut-again.jpg"] != []
    assert found["lab/camera.png"] and found["lab/camera.png"] != found["pub/astronaut.png"]
    assert found["pub/cat.png"] == []


def test_upload_with_match_on_faces_finds_the_same_person_only(fclient, skimage_dir) -> None:
    login(fclient, "ana")
    query = ImageOps.mirror(picture(skimage_dir, "astronaut")).resize((300, 300))
    answer = upload(fclient, query)
    assert answer.status_code == 303
    html = fclient.get(answer.headers["Location"]).get_data(as_text=True)
    assert card_ids(html) == ["lab/astronaut-again.jpg", "pub/astronaut.png"] or card_ids(html) == [
        "pub/astronaut.png",
        "lab/astronaut-again.jpg",
    ]
    assert html.count('class="badge-person same"') == 2 and "lab/camera.png" not in card_ids(html)
    assert 'id="query-faces"' in html and 'class="qface chosen"' in html  # her box, chosen


def test_a_lower_min_score_shows_similar_faces_marked_similar(fclient, skimage_dir) -> None:
    login(fclient, "ana")
    answer = upload(fclient, picture(skimage_dir, "astronaut"), min_score="0.5")
    html = fclient.get(answer.headers["Location"]).get_data(as_text=True)
    assert "lab/camera.png" in card_ids(html)
    assert 'class="badge-person similar"' in html and 'class="badge-person same"' in html


def test_a_picture_with_two_faces_shows_boxes_to_choose_from(fclient, skimage_dir) -> None:
    login(fclient, "ana")
    both = Image.new("RGB", (1024, 512))
    both.paste(picture(skimage_dir, "astronaut"), (0, 0))
    both.paste(picture(skimage_dir, "camera"), (512, 0))
    answer = upload(fclient, both)
    html = fclient.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your picture has 2 faces" in html and card_ids(html) == []
    links = re.findall(r'<a href="([^"]+)" class="qface" data-face="(\d)"', html)
    assert len(links) == 2
    # The box on the right half is the cameraman: following it searches for him.
    boxes = re.findall(r'<rect x="([\d.]+)"', html)
    right = max(range(2), key=lambda i: float(boxes[i]))
    href = links[right][0].replace("&amp;", "&")
    chosen = fclient.get(href).get_data(as_text=True)
    assert card_ids(chosen) == ["lab/camera.png"]
    assert 'class="qface chosen"' in chosen


def test_a_picture_without_a_face_says_so(fclient, skimage_dir) -> None:
    login(fclient, "bob")
    answer = upload(fclient, picture(skimage_dir, "chelsea"))
    html = fclient.get(answer.headers["Location"]).get_data(as_text=True)
    assert "no face was found in the picture" in html


def test_cards_are_cropped_around_the_matched_face(fclient, skimage_dir) -> None:
    login(fclient, "ana")
    answer = upload(fclient, picture(skimage_dir, "astronaut"), min_score="0.5")
    html = fclient.get(answer.headers["Location"]).get_data(as_text=True)
    crops = re.findall(
        r'viewBox="([-\d. ]+)" preserveAspectRatio="xMidYMid meet"[^>]*>\s*<image[^>]*/>\s*'
        r'<rect class="match-box" x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" height="([\d.]+)"',
        html,
    )
    assert len(crops) == len(card_ids(html)) >= 3
    for view, x, y, w, h in crops:
        vx, vy, vw, vh = (float(v) for v in view.split())
        assert vw / vh == pytest.approx(4 / 3, rel=0.01)  # the tile's shape: nothing sliced
        x, y, w, h = float(x), float(y), float(w), float(h)
        assert vx <= x and x + w <= vx + vw and vy <= y and y + h <= vy + vh  # box in view


def test_people_page_shows_only_what_the_user_may_read(fclient, faces_data) -> None:
    _, backend = faces_data
    her = persons(backend)["pub/astronaut.png"][0]
    him = persons(backend)["lab/camera.png"][0]
    login(fclient, "bob")  # no science group: one photo of her, none of him
    html = fclient.get("/people").get_data(as_text=True)
    shown = re.findall(r'data-person="([^"]+)"', html)
    assert shown == [her] and "1 photo/video" in html
    assert fclient.get(f"/people/{him}").status_code == 404
    assert fclient.get(f"/api/people/{him}").status_code == 404
    page = fclient.get(f"/people/{her}").get_data(as_text=True)
    assert "pub/astronaut.png" in page and "lab/astronaut-again.jpg" not in page
    api = fclient.get("/api/people").get_json()
    assert [p["id"] for p in api["people"]] == [her] and api["people"][0]["assets"] == 1
    # The asset page links her face to her person.
    asset = fclient.get("/assets/pub/astronaut.png").get_data(as_text=True)
    assert f'class="person-link" href="/people/{her}"' in asset


def test_admins_name_merge_and_split(faces_data, mobilenet, tmp_path, skimage_dir) -> None:
    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    root, _ = faces_data
    # A copy of the store: these edits must not leak into the other tests.
    copy = tmp_path / "copy"
    shutil.copytree(root / "store", copy / "store")
    backend = EmbeddedBackend(copy / "store")
    users = {**USERS, "root": {**USERS["alice"], "groups": ["admin", "science"]}}
    app = create_app(
        make_settings(copy, users=users),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
        },
    )
    client = app.test_client()
    her = persons(backend)["pub/astronaut.png"][0]
    him = persons(backend)["lab/camera.png"][0]
    login(client, "bob")
    assert client.post(f"/people/{her}/name", data={"name": "Eileen"}).status_code == 403
    login(client, "root")
    assert client.post(f"/people/{her}/name", data={"name": "Eileen Collins"}).status_code == 303
    assert "Eileen Collins" in client.get("/people").get_data(as_text=True)
    hits = client.get("/api/search", query_string={"where": 'person:"Eileen Collins"'}).get_json()
    assert sorted(h["id"] for h in hits["hits"]) == ["lab/astronaut-again.jpg", "pub/astronaut.png"]
    # Merge the cameraman into her (a mistake), then split his face back out.
    assert client.post(f"/people/{her}/merge", data={"other": him}).status_code == 303
    assert persons(backend)["lab/camera.png"] == [her]
    answer = client.post(
        f"/people/{her}/split", data={"face": ["lab/camera.png:0"], "name": "Cameraman"}
    )
    assert answer.status_code == 303
    new = persons(backend)["lab/camera.png"][0]
    assert new not in (her, him) and answer.headers["Location"].endswith(f"/people/{new}")
    assert client.get("/api/people/cameraman").get_json()["name"] == "Cameraman"
    # A split may only move faces of the person.
    assert client.post(f"/people/{her}/split", data={"face": ["pub/cat.png:0"]}).status_code == 400
    backend.close()


def test_api_search_by_photo_on_faces(fclient, skimage_dir) -> None:
    login(fclient, "ana")
    both = Image.new("RGB", (1024, 512))
    both.paste(picture(skimage_dir, "astronaut"), (0, 0))
    both.paste(picture(skimage_dir, "camera"), (512, 0))
    buf = io.BytesIO()
    both.save(buf, "PNG")

    def post(**form):
        data = {"image": (io.BytesIO(buf.getvalue()), "q.png"), "on": "faces", **form}
        return fclient.post("/api/search", data=data, content_type="multipart/form-data")

    several = post()
    assert several.status_code == 400
    err = several.get_json()["error"]
    assert err["type"] == "several_faces" and len(err["faces"]) == 2
    right = max(err["faces"], key=lambda f: f["bbox"][0])["index"]
    found = post(query_face=str(right)).get_json()
    assert [h["id"] for h in found["hits"]] == ["lab/camera.png"]
    assert found["hits"][0]["matched"]["same_person"] is True
