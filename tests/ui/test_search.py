"""The search page: by image, find similar, DSL errors, refinements, paging, asset page."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image


def _crop_png(skimage_dir: Path, name: str, box: tuple[int, int, int, int]) -> io.BytesIO:
    image = Image.open(skimage_dir / name).convert("RGB").crop(box)
    out = io.BytesIO()
    image.save(out, "PNG")
    out.seek(0)
    return out


def _result_ids(html: str) -> list[str]:
    return re.findall(r'<article class="card" data-id="([^"]+)"', html)


def test_search_by_uploaded_image_finds_the_source_first(as_bob, skimage_dir: Path) -> None:
    upload = _crop_png(skimage_dir, "chelsea.png", (40, 20, 420, 290))
    response = as_bob.post(
        "/", data={"image": (upload, "../../etc/evil name.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "upload=" in location and "evil" not in location
    html = as_bob.get(location).get_data(as_text=True)
    assert _result_ids(html)[0] == "animals/chelsea.png"
    assert "your image" in html
    token = re.search(r"upload=([\w-]+)", location).group(1)
    assert as_bob.get(f"/media/upload/{token}").mimetype == "image/jpeg"


def test_uploads_are_private_to_their_user(client, skimage_dir: Path) -> None:
    from tests.ui.conftest import login

    login(client, "bob")
    upload = _crop_png(skimage_dir, "chelsea.png", (0, 0, 200, 200))
    location = client.post(
        "/", data={"image": (upload, "q.png")}, content_type="multipart/form-data"
    ).headers["Location"]
    token = re.search(r"upload=([\w-]+)", location).group(1)
    client.post("/logout")
    login(client, "ana")
    assert client.get(f"/media/upload/{token}").status_code == 404
    assert "expired" in client.get(location).get_data(as_text=True)


def test_not_an_image_upload_shows_an_error(as_bob) -> None:
    response = as_bob.post(
        "/", data={"image": (io.BytesIO(b"hello"), "x.jpg")}, content_type="multipart/form-data"
    )
    html = as_bob.get(response.headers["Location"]).get_data(as_text=True)
    assert "could not be read as an image" in html


def test_find_similar_excludes_the_asset_and_links_work(as_bob) -> None:
    html = as_bob.get("/?similar=people/astronaut.png").get_data(as_text=True)
    ids = _result_ids(html)
    assert ids and "people/astronaut.png" not in ids
    assert "Similar to" in html
    assert 'href="/?similar=animals%2Fchelsea.png"' in html or "similar=animals" in html


def test_dsl_syntax_error_is_shown_at_its_position(as_bob) -> None:
    html = as_bob.get("/?where=tags%3Dcat%20AND%20(").get_data(as_text=True)
    assert 'class="dsl-error"' in html
    assert re.search(r"column \d+", html)
    assert "<mark>" in html and "^" in html


def test_unknown_field_error_is_shown(as_bob) -> None:
    html = as_bob.get("/?where=nosuchfield%3D1").get_data(as_text=True)
    # Either the field map refuses it (shown under the box) or it simply matches nothing.
    assert 'class="dsl-error"' in html or "No matches" in html


def test_filter_media_toggle_and_threshold(as_bob) -> None:
    html = as_bob.get("/?where=tags%3Dcat").get_data(as_text=True)
    assert _result_ids(html) == ["animals/chelsea.png"]
    assert _result_ids(as_bob.get("/?media=video").get_data(as_text=True)) == [
        "video/slideshow.mp4"
    ]
    assert "video/slideshow.mp4" not in _result_ids(as_bob.get("/?media=image").get_data(True))
    strict = as_bob.get("/?similar=animals/chelsea.png&min_score=0.99").get_data(as_text=True)
    assert _result_ids(strict) == [] and "Lower the minimum similarity" in strict


def test_text_search_works_offline_with_an_image_only_model(as_bob) -> None:
    # No CLIP here: the scene model's concept labels and the captions rank the words.
    html = as_bob.get("/").get_data(as_text=True)
    assert not re.search(r'<input name="q"[^>]*disabled', html)
    found = as_bob.get("/?q=a+kitty").get_data(as_text=True)
    assert _result_ids(found)[0] == "animals/chelsea.png"
    assert 'class="why"' in found and "labels:" in found


def test_paging(as_bob) -> None:
    first = as_bob.get("/?limit=2").get_data(as_text=True)
    assert len(_result_ids(first)) == 2
    next_url = re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&")
    second = as_bob.get(next_url).get_data(as_text=True)
    assert len(_result_ids(second)) >= 1
    assert not set(_result_ids(first)) & set(_result_ids(second))


def test_asset_page_draws_face_boxes_that_search(as_bob) -> None:
    html = as_bob.get("/assets/people/astronaut.png").get_data(as_text=True)
    assert 'id="asset-img"' in html and "Find similar" in html
    boxes = re.findall(
        r'<a class="box box-(face|region)" data-bbox="([^"]+)"\s+href="([^"]+)"', html
    )
    assert boxes, "the astronaut's face should be detected and drawn"
    _kind, _bbox, href = boxes[0]
    result = as_bob.get(href.replace("&amp;", "&"))
    assert result.status_code == 200
    assert "Face 1 of" in result.get_data(as_text=True) or "Region of" in result.get_data(
        as_text=True
    )


def test_region_search_by_a_drawn_box(as_bob) -> None:
    html = as_bob.get("/?region=animals/chelsea.png&bbox=0.2,0.1,0.8,0.9").get_data(as_text=True)
    assert "Region of" in html
    assert _result_ids(html)


def test_index_page_for_admins(as_alice) -> None:
    html = as_alice.get("/index/").get_data(as_text=True)
    # Counted over what alice reads: 6 documents, 2 of them kept from her (coffee, rocket).
    assert "mobilenet" in html and 'id="stat-documents">4<' in html
    info = as_alice.get("/api/index").get_json()
    assert info["documents"] == 4 and info["dims"] > 0


def test_match_on_regions_without_region_vectors_says_which_preset_adds_them(as_bob) -> None:
    """The UI index is ingested with the offline preset: faces and frames, no regions."""
    html = as_bob.get("/?similar=animals/chelsea.png&on=regions").get_data(as_text=True)
    assert _result_ids(html) == []
    assert 'id="empty-target-note"' in html
    note = html.split('id="empty-target-note">', 1)[1].split("</p>", 1)[0]
    assert "holds no region vectors" in note and "--pipeline objects" in note
    # A target the index has: results, and no such note.
    html = as_bob.get("/?similar=animals/chelsea.png&on=scene").get_data(as_text=True)
    assert _result_ids(html) and "empty-target-note" not in html
