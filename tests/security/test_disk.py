"""Disk: the thumbnail cache stays within its limits; the data dir is the owner's only.

Before the fix: every distinct ``?t=`` of a video made a cache file, without end;
the data dir was created 0755 and its SQLite, vector and UI files 0644, so every
local user could read every document, vector and thumbnail.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from es_visual.core.documents import DocUpdate, VisualSpec
from tests.security.test_ui_jobs import USERS
from tests.ui.conftest import login, make_settings


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask: what a private file must not depend on."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def loose_modes(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that others could open."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            out.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return out


def test_the_embedded_store_is_created_private(tmp_path: Path, umask_022: None, attacks) -> None:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.backends.embedded.vectors import VectorConfig
    from es_visual.query.search import Search

    data = tmp_path / "new" / "data"
    rng = np.random.default_rng(0)
    with EmbeddedBackend(data, vectors=VectorConfig(ann_min_vectors=50)) as backend:
        backend.ensure_index("media", VisualSpec("toy@1", 8))
        updates = [
            DocUpdate(f"d{i}", {"tags": ["x"], "visual": {"scene": rng.normal(size=8).tolist()}})
            for i in range(300)
        ]
        assert backend.bulk_update("media", updates).ok
        Search("media").similar_to(vector=[1.0] * 8).execute(backend)  # builds the ANN index
        backend.refresh("media")  # saves the vector cache
        backend.swap_alias("photos", "media")  # writes the alias record
    files = sorted(p.name for p in data.rglob("*") if p.is_file())
    assert {"media.sqlite", "aliases.json"} <= set(files)
    assert any(name.endswith(".faiss") for name in files), files  # the cache is there
    loose = loose_modes(data)
    entries = 1 + len(list(data.rglob("*")))
    attacks.record("disk: files others could read (store)", tried=entries, failed=len(loose))
    assert not loose, loose
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


@pytest.fixture
def ui(tmp_path: Path, skimage_dir: Path):
    """A fresh data dir (nothing there yet), a photo and a 6 s video in the index."""
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.demo import write_slideshow

    media = tmp_path / "media"
    media.mkdir()
    video = write_slideshow(
        media / "clip.mp4",
        [skimage_dir / n for n in ("chelsea.png", "coffee.png", "rocket.jpg")],
        secs=2.0,
        size=(160, 112),
    )
    photo = media / "cat.png"
    photo.write_bytes((skimage_dir / "chelsea.png").read_bytes())
    data = tmp_path / "ui-data"
    backend = EmbeddedBackend(data / "store")
    backend.bulk_update(
        "media",
        [
            DocUpdate(
                "clip", {"visual": {"path": str(video), "media_type": "video", "content_hash": "v"}}
            ),
            DocUpdate(
                "cat", {"visual": {"path": str(photo), "media_type": "image", "content_hash": "c"}}
            ),
        ],
    )
    yield data, backend
    backend.close()


def make_app(data: Path, backend: Any, **settings: Any) -> Any:
    from flask_ui import create_app

    # The data dir itself, as `es-visual serve` gives it; the secret generated and kept there.
    values = replace(make_settings(data, users=USERS, **settings), data_dir=data, secret_key=None)
    return create_app(
        values,
        test_config={"TESTING": True, "WTF_CSRF_ENABLED": False, "ES_VISUAL_BACKEND": backend},
    )


def thumbs(data: Path) -> list[Path]:
    return sorted((data / "ui-cache" / "thumbs").glob("*/*.jpg"))


def test_the_thumbnail_cache_is_capped(ui, umask_022: None, attacks) -> None:
    data, backend = ui
    app = make_app(data, backend, thumb_cache_files=5)
    client = app.test_client()
    login(client, "bob")
    times = [round(0.1 + 0.19 * i, 3) for i in range(30)]
    for t in times:
        assert client.get(f"/media/thumb/clip?size=160&t={t}").status_code == 200
    kept = thumbs(data)
    attacks.record("disk: thumbnail cache growth", tried=len(times), failed=max(0, len(kept) - 5))
    assert len(kept) == 5, len(kept)
    # The least recently used went: one used again now stays when new ones come.
    assert client.get(f"/media/thumb/clip?size=160&t={times[-5]}").status_code == 200
    for t in (7.0, 8.0, 9.0, 10.0):  # past the end: still a thumbnail each, still capped
        assert client.get(f"/media/thumb/clip?size=160&t={t}").status_code == 200
    assert len(thumbs(data)) == 5
    cache = app.extensions["es_visual"].thumbs
    digest_kept = [p.stem for p in thumbs(data)]
    assert cache.get(digest_kept[0]) is not None
    # A restart rebuilds the order from the files and keeps to the limits.
    again = make_app(data, backend, thumb_cache_files=2)
    client = again.test_client()
    login(client, "bob")
    assert client.get("/media/thumb/cat?size=160").status_code == 200
    assert len(thumbs(data)) == 2


def test_the_cache_keeps_its_byte_limit(tmp_path: Path) -> None:
    from flask_ui.thumbcache import ThumbCache

    cache = ThumbCache(tmp_path / "thumbs", max_bytes=10_000, max_files=100)
    for i in range(10):
        cache.put(f"{i:02d}" + "a" * 62, b"x" * 3000)
        if i == 5:
            assert cache.get("03" + "a" * 62) is not None  # used: moves to the end
    files, used = cache.usage
    assert files == 3 and used == 9000
    names = sorted(p.name[:2] for p in (tmp_path / "thumbs").rglob("*.jpg"))
    assert names == ["07", "08", "09"]
    big = cache.put("zz" + "b" * 62, b"y" * 20_000)  # larger than the limit: served once
    assert big.is_file() and cache.usage[0] == 1


def test_the_ui_files_are_private(ui, umask_022: None, attacks, tmp_path: Path) -> None:
    from flask_ui.users import add_user

    data, backend = ui
    app = make_app(data, backend)
    add_user(data / "users.json", "dora", "a password", [])
    client = app.test_client()
    login(client, "bob")
    assert client.get("/media/thumb/cat?size=320").status_code == 200
    client.post("/logout")  # writes the session epochs
    files = [p for p in data.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"ui-secret-key", "ui-sessions.json", "users.json"} <= names
    assert thumbs(data)
    loose = loose_modes(data)
    entries = 1 + len(list(data.rglob("*")))
    attacks.record("disk: files others could read (UI)", tried=entries, failed=len(loose))
    assert not loose, loose
