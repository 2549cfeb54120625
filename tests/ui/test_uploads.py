"""Uploaded query pictures (issue 18): each user's own cache with a time limit, keyed by
content hash, embedded once per upload; a file over the limit comes back to the page
it was sent from, search kept, with the reason on it."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flask_ui.uploads import UploadCache, upload_token
from tests.ui.conftest import login, make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_same_bytes_same_token_and_each_user_their_own() -> None:
    cache = UploadCache()
    token = cache.put("bob", b"picture")
    assert token == upload_token(b"picture") == cache.put("bob", b"picture")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert cache.get("bob", token) == b"picture"
    assert cache.get("ana", token) is None  # the same hash is not ana's upload
    cache.put("ana", b"picture")
    assert cache.usage() == {"bob": (1, 7), "ana": (1, 7)}


def test_one_users_uploads_never_push_out_anothers() -> None:
    cache = UploadCache(per_user_items=3)
    ana = cache.put("ana", b"ana's only picture")
    bob = [cache.put("bob", f"bob {i}".encode()) for i in range(50)]
    assert cache.get("ana", ana) is not None
    assert [cache.get("bob", t) is not None for t in bob[-4:]] == [False, True, True, True]


def test_the_server_budget_is_taken_from_the_biggest_user_first() -> None:
    cache = UploadCache(per_user_items=10, per_user_bytes=1000, total_bytes=1500)
    ana = cache.put("ana", b"a" * 400)
    heavy = [cache.put("bob", bytes([i]) * 300) for i in range(3)]  # 900 bytes
    cache.put("eve", b"e" * 300)  # 1600 in all: bob, the biggest, loses his oldest
    assert cache.get("ana", ana) is not None
    assert cache.get("bob", heavy[0]) is None and cache.get("bob", heavy[2]) is not None


def test_uploads_expire_a_while_after_their_last_use() -> None:
    clock = Clock()
    cache = UploadCache(ttl_s=600, clock=clock)
    token = cache.put("bob", b"x")
    clock.now += 500
    assert cache.get("bob", token) == b"x"  # used: its hour starts again
    clock.now += 500
    assert cache.get("bob", token) == b"x"
    clock.now += 601
    assert cache.get("bob", token) is None
    assert cache.usage() == {}


def test_derived_values_are_computed_once_and_failures_are_not_kept() -> None:
    cache = UploadCache()
    entry = cache.entry("bob", cache.put("bob", b"x"))
    assert entry is not None
    calls: list[int] = []
    assert entry.derive("k", lambda: calls.append(1) or 42) == 42
    assert entry.derive("k", lambda: calls.append(1) or 43) == 42
    assert calls == [1]

    def broken() -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        entry.derive("bad", broken)
    assert entry.derive("bad", lambda: 7) == 7


# --- through the app ---------------------------------------------------------------------------


class CountingEmbedder:
    """The real MobileNetV2, with a count of the pictures it embeds."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.pictures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def embed_images(self, images: Any) -> Any:
        images = list(images)
        self.pictures += len(images)
        return self._model.embed_images(images)


@pytest.fixture
def counted(ui_data, mobilenet):
    from flask_ui import create_app

    data_dir, backend = ui_data
    embedder = CountingEmbedder(mobilenet)
    app = create_app(
        make_settings(data_dir, max_upload_mb=1),
        test_config={
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": embedder,
        },
    )
    return app, embedder


def png(skimage_dir: Path, name: str = "chelsea.png") -> io.BytesIO:
    out = io.BytesIO()
    Image.open(skimage_dir / name).convert("RGB").crop((40, 20, 420, 290)).save(out, "PNG")
    out.seek(0)
    return out


def ids(html: str) -> list[str]:
    return re.findall(r'<article class="card" data-id="([^"]+)"', html)


def test_reload_next_page_and_timeline_embed_the_upload_once(counted, skimage_dir) -> None:
    app, embedder = counted
    client = app.test_client()
    login(client, "bob")
    location = client.post("/", data={"image": (png(skimage_dir), "q.png"), "limit": "2"}).headers[
        "Location"
    ]
    first = client.get(location).get_data(as_text=True)
    assert ids(first)[0] == "animals/chelsea.png"
    assert embedder.pictures == 1
    client.get(location)  # reload
    next_url = re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&")
    assert ids(client.get(next_url).get_data(as_text=True))
    client.get(location.replace("?", "?on=frames&", 1))  # another target, the same vector
    token = re.search(r"upload=(\w+)", location).group(1)
    client.get(f"/assets/video/slideshow.mp4?upload={token}&on=frames")  # the timeline
    # The same file sent again is the same upload: the same token, nothing embedded.
    again = client.post("/", data={"image": (png(skimage_dir), "other name.png")})
    assert re.search(r"upload=(\w+)", again.headers["Location"]).group(1) == token
    client.get(again.headers["Location"])
    assert embedder.pictures == 1


def test_api_upload_pages_with_its_token(counted, skimage_dir) -> None:
    app, embedder = counted
    client = app.test_client()
    login(client, "bob")
    body = client.post("/api/search", data={"image": (png(skimage_dir), "q.png"), "limit": "1"})
    body = body.get_json()
    assert body["query"]["upload"] == upload_token(png(skimage_dir).getvalue())
    more = client.get(body["next_url"]).get_json()
    assert more["hits"] and more["hits"][0]["id"] != body["hits"][0]["id"]
    assert embedder.pictures == 1


def test_too_large_a_file_comes_back_to_the_page_with_the_reason(counted) -> None:
    app, _ = counted
    client = app.test_client()
    login(client, "bob")
    page = "/?where=tags%3Dcat&media=image"
    big = io.BytesIO(b"\0" * (1024 * 1024 + 1))
    response = client.post(
        "/", data={"image": (big, "big.png")}, headers={"Referer": f"http://localhost{page}"}
    )
    assert response.status_code == 303 and response.headers["Location"] == page
    html = client.get(page).get_data(as_text=True)
    assert "larger than the 1 MB limit" in html and 'value="tags=cat"' in html
    assert ids(html) == ["animals/chelsea.png"]
    # Without a page to go back to (another site, a script): the 413 page as before.
    other = client.post(
        "/",
        data={"image": (io.BytesIO(b"\0" * (1024 * 1024 + 1)), "b.png")},
        headers={"Referer": "http://elsewhere.example/"},
    )
    assert other.status_code == 413
    api = client.post("/api/search", data={"image": (io.BytesIO(b"\0" * (1024 * 1024 + 1)), "b")})
    assert api.status_code == 413 and api.get_json()["error"]["type"] == "file_too_large"


def test_the_page_knows_the_limit_before_sending(counted) -> None:
    app, _ = counted
    client = app.test_client()
    login(client, "bob")
    html = client.get("/").get_data(as_text=True)
    limit = int(re.search(r'id="image-input"[^>]*data-max-bytes="(\d+)"', html).group(1))
    assert 0 < limit < 1024 * 1024  # the request limit less the form's own fields
