"""A user never sees a document outside their ACL: pages, thumbnails, originals, API."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.ui.conftest import DOCS, FORBIDDEN_FOR_BOB, VIDEO_ID


def _upload(skimage_dir: Path, name: str):
    return (io.BytesIO((skimage_dir / name).read_bytes()), "query.png")


def test_browse_page_hides_forbidden_documents(as_bob) -> None:
    html = as_bob.get("/").get_data(as_text=True)
    for doc_id in DOCS:
        if doc_id in FORBIDDEN_FOR_BOB:
            assert doc_id not in html
        else:
            assert f'data-id="{doc_id}"' in html


def test_group_and_user_grants_are_honoured(as_ana) -> None:
    html = as_ana.get("/").get_data(as_text=True)
    assert 'data-id="food/coffee.png"' in html  # group:science
    assert 'data-id="space/rocket.jpg"' in html  # user:ana


@pytest.mark.parametrize("doc_id", FORBIDDEN_FOR_BOB)
def test_forbidden_asset_is_404_everywhere(as_bob, doc_id: str) -> None:
    urls = [
        f"/assets/{doc_id}",
        f"/media/thumb/{doc_id}",
        f"/media/original/{doc_id}",
        f"/?similar={doc_id}",
        f"/?region={doc_id}&bbox=0.1,0.1,0.5,0.5",
        f"/?face={doc_id}&face_index=0",
        f"/api/similar/{doc_id}",
        f"/api/assets/{doc_id}",
        f"/api/search?similar={doc_id}",
    ]
    for url in urls:
        response = as_bob.get(url)
        assert response.status_code == 404, url
        assert doc_id.encode() not in response.data or url.startswith("/?"), url


def test_missing_and_forbidden_look_the_same(as_bob) -> None:
    forbidden = as_bob.get("/api/assets/food/coffee.png")
    missing = as_bob.get("/api/assets/food/nothing.png")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.get_json() == missing.get_json()


def test_readable_asset_pages_work(as_ana) -> None:
    assert as_ana.get("/assets/food/coffee.png").status_code == 200
    thumb = as_ana.get("/media/thumb/food/coffee.png?size=160")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["Cache-Control"].startswith("private")
    original = as_ana.get("/media/original/food/coffee.png")
    assert original.status_code == 200 and original.mimetype == "image/png"


def test_thumbnail_cache_still_checks_access(client, ui_data) -> None:
    from tests.ui.conftest import login

    login(client, "ana")
    assert client.get("/media/thumb/food/coffee.png").status_code == 200  # now cached
    client.post("/logout")
    login(client, "bob")
    assert client.get("/media/thumb/food/coffee.png").status_code == 404


def test_image_search_never_returns_forbidden_documents(as_bob, skimage_dir: Path) -> None:
    # Search by the very picture bob may not see: it must not come back, in HTML or JSON.
    response = as_bob.post(
        "/", data={"image": _upload(skimage_dir, "coffee.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 303
    html = as_bob.get(response.headers["Location"]).get_data(as_text=True)
    assert "result" in html
    for doc_id in FORBIDDEN_FOR_BOB:
        assert doc_id not in html
    api = as_bob.post(
        "/api/search",
        data={"image": _upload(skimage_dir, "coffee.png"), "limit": "10"},
        content_type="multipart/form-data",
    ).get_json()
    ids = [h["id"] for h in api["hits"]]
    assert ids and not set(ids) & set(FORBIDDEN_FOR_BOB)


def test_the_same_search_as_an_allowed_user_finds_it_first(as_ana, skimage_dir: Path) -> None:
    api = as_ana.post(
        "/api/search",
        data={"image": _upload(skimage_dir, "coffee.png")},
        content_type="multipart/form-data",
    ).get_json()
    assert api["hits"][0]["id"] == "food/coffee.png"
    assert api["hits"][0]["score"] > 0.95


def test_api_search_and_similar_respect_the_acl(as_bob) -> None:
    hits = as_bob.get("/api/search?limit=50").get_json()["hits"]
    assert {h["id"] for h in hits} == (set(DOCS) | {VIDEO_ID}) - set(FORBIDDEN_FOR_BOB)
    similar = as_bob.get("/api/similar/animals/chelsea.png?limit=10").get_json()["hits"]
    assert similar and "animals/chelsea.png" not in {h["id"] for h in similar}
    assert not {h["id"] for h in similar} & set(FORBIDDEN_FOR_BOB)
