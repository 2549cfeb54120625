"""A video in the UI: found by one of its shots, shown on the result card, and its asset
page draws the player and the timeline with the matching segment at the shot's seconds."""

from __future__ import annotations

import html as htmllib
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.ui.conftest import MOTORCYCLE_SECONDS, VIDEO_ID, VIDEO_SHOTS

# The video's cuts fall on whole seconds and auto keeps a frame every second and at each
# cut, so segments sit on the cuts (a millisecond of rounding).
STEP = 0.001


def shot_png(skimage_dir: Path) -> io.BytesIO:
    out = io.BytesIO()
    Image.open(skimage_dir / "motorcycle_left.png").convert("RGB").save(out, "PNG")
    out.seek(0)
    return out


def timeline_segments(html: str) -> list[tuple[float, float]]:
    return [
        (float(a), float(b))
        for a, b in re.findall(r'class="segment" data-start="([\d.]+)" data-end="([\d.]+)"', html)
    ]


def nearest_shot(jpeg: bytes, skimage_dir: Path) -> str:
    """Which of the video's shots a picture of it shows (least mean pixel difference)."""
    import numpy as np

    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    pixels = np.asarray(picture, dtype=np.float32)
    errors = {}
    for name in VIDEO_SHOTS:
        shot = Image.open(skimage_dir / name).convert("RGB").resize(picture.size)
        errors[name] = float(np.abs(pixels - np.asarray(shot, dtype=np.float32)).mean())
    return min(errors, key=errors.__getitem__)


def assert_motorcycle(segments: list[tuple[float, float]]) -> None:
    assert len(segments) == 1, segments
    (start, end), (want_start, want_end) = segments[0], MOTORCYCLE_SECONDS
    assert abs(start - want_start) <= STEP and abs(end - want_end) <= STEP, segments


@pytest.fixture
def frame_search(as_bob, skimage_dir: Path) -> tuple[str, str]:
    """(results page HTML, its URL) of a search by the motorcycle shot on frames."""
    response = as_bob.post(
        "/",
        data={"image": (shot_png(skimage_dir), "moto.png"), "on": "frames"},
        content_type="multipart/form-data",
    )
    location = response.headers["Location"]
    assert "on=frames" in location
    return as_bob.get(location).get_data(as_text=True), location


def test_frame_search_finds_the_video_and_its_card_shows_it(as_bob, frame_search) -> None:
    html, _ = frame_search
    ids = re.findall(r'<article class="card" data-id="([^"]+)"', html)
    assert ids == [VIDEO_ID]  # only videos have frames
    card = html[html.index('data-id="video/slideshow.mp4"') :]
    card = card[: card.index("</article>")]
    assert 'class="badge-video"' in card and "0:06" in card
    assert 'class="mini-timeline"' in card and 'class="seg"' in card
    # Its thumbnail is the frame that matched (the motorcycle), not the first (the horse).
    thumb = htmllib.unescape(re.search(r'<img src="([^"]+)"', card).group(1))
    assert "t=" in thumb
    matched, first = as_bob.get(thumb), as_bob.get(thumb.split("&t=")[0].split("?t=")[0])
    assert matched.mimetype == first.mimetype == "image/jpeg"
    assert matched.data != first.data


def test_asset_page_from_the_card_shows_player_and_segment(as_bob, frame_search) -> None:
    html, _ = frame_search
    link = re.search(r'<a class="thumb" href="([^"]+)"', html).group(1)
    link = htmllib.unescape(link)
    assert "upload=" in link and "on=frames" in link  # the card carries the search
    page = as_bob.get(link).get_data(as_text=True)
    assert '<video id="player"' in page and "/media/original/video/slideshow.mp4" in page
    assert 'id="timeline"' in page and 'data-duration="6.0"' in page
    assert_motorcycle(timeline_segments(page))
    assert "1 matching segment" in page
    # The player starts at the best frame, inside the segment.
    start = float(re.search(r'data-start="([\d.]+)"></video>', page).group(1))
    assert MOTORCYCLE_SECONDS[0] - STEP <= start <= MOTORCYCLE_SECONDS[1]


def test_asset_page_opened_directly_computes_segments(as_bob, skimage_dir: Path) -> None:
    # Without a search: the player, no segments, the "find in this video" form.
    page = as_bob.get(f"/assets/{VIDEO_ID}").get_data(as_text=True)
    assert '<video id="player"' in page and timeline_segments(page) == []
    assert 'id="find-in-video"' in page
    # "Find in this video" with the shot: back to the same page, with the segment.
    response = as_bob.post(
        f"/assets/{VIDEO_ID}",
        data={"image": (shot_png(skimage_dir), "x.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"/assets/{VIDEO_ID}?upload=")
    assert_motorcycle(timeline_segments(as_bob.get(response.headers["Location"]).get_data(True)))
    # An explicit segments= link is drawn as given.
    given = as_bob.get(f"/assets/{VIDEO_ID}?segments=1.5-2.5:0.9").get_data(as_text=True)
    assert timeline_segments(given) == [(1.5, 2.5)]
    expired = as_bob.get(f"/assets/{VIDEO_ID}?upload=nope").get_data(as_text=True)
    assert "expired" in expired


def test_the_video_and_its_segments_respect_the_acl(client, skimage_dir: Path) -> None:
    from tests.ui.conftest import login

    login(client, "bob")
    # Bob may not read the rocket: searching from it draws nothing and reads exactly
    # like an asset that does not exist.
    forbidden = client.get(f"/assets/{VIDEO_ID}?similar=space/rocket.jpg").get_data(True)
    missing = client.get(f"/assets/{VIDEO_ID}?similar=space/nothing.jpg").get_data(True)
    assert timeline_segments(forbidden) == []
    note = re.compile(r'<span id="timeline-note">(.*?)</span>', re.S)
    assert note.search(forbidden).group(1).replace("rocket", "nothing") == note.search(
        missing
    ).group(1)


def test_api_asset_gives_segments_for_a_search(as_bob) -> None:
    plain = as_bob.get(f"/api/assets/{VIDEO_ID}").get_json()
    assert "segments" not in plain
    # Find similar from the cat photo, on this video's frames: an answer, possibly empty.
    similar = as_bob.get(f"/api/assets/{VIDEO_ID}?similar=animals/chelsea.png").get_json()
    assert isinstance(similar["segments"], list)
    forbidden = as_bob.get(f"/api/assets/{VIDEO_ID}?similar=space/rocket.jpg")
    assert forbidden.status_code == 404


def test_the_card_thumbnail_is_the_best_moment(as_bob, frame_search, skimage_dir: Path) -> None:
    html, _ = frame_search
    card = html[html.index('data-id="video/slideshow.mp4"') :]
    thumb = htmllib.unescape(re.search(r'<img src="([^"]+)"', card).group(1))
    t = float(re.search(r"[?&]t=([\d.]+)", thumb).group(1))
    assert MOTORCYCLE_SECONDS[0] <= t < MOTORCYCLE_SECONDS[1]
    assert nearest_shot(as_bob.get(thumb).data, skimage_dir) == "motorcycle_left.png"


def test_the_timeline_hover_frames_are_the_kept_frames(as_bob, skimage_dir: Path) -> None:
    page = as_bob.get(f"/assets/{VIDEO_ID}").get_data(as_text=True)
    ticks = [float(t) for t in re.findall(r'class="tick" data-t="([\d.]+)"', page)]
    # auto: a frame every second of the 6 s video (its cuts fall on whole seconds).
    assert ticks == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    thumb = htmllib.unescape(re.search(r'id="timeline"[^>]* data-thumb="([^"]+)"', page).group(1))
    assert 'id="frame-preview"' in page and 'id="zoom-in"' in page and 'id="zoom-out"' in page
    # What the hover shows at each kept frame: the shot on screen then.
    for t, name in [(0.0, "horse.png"), (2.0, "motorcycle_left.png"), (5.0, "moon.png")]:
        response = as_bob.get(f"{thumb}&t={t:.3f}")
        assert response.mimetype == "image/jpeg"
        assert nearest_shot(response.data, skimage_dir) == name, t


def test_search_by_this_frame_finds_the_shot_on_screen(as_bob) -> None:
    page = as_bob.get(f"/assets/{VIDEO_ID}?t=3.2").get_data(as_text=True)
    assert 'id="frame-search"' in page and 'name="frame_t" id="frame-t" value="3.200"' in page
    response = as_bob.post(f"/assets/{VIDEO_ID}", data={"frame_t": "3.2"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/?upload=")
    # The frame at 3.2 s is the motorcycle: among the frames of videos, it is found there.
    html = as_bob.get(location + "&on=frames").get_data(as_text=True)
    assert re.findall(r'<article class="card" data-id="([^"]+)"', html)[:1] == [VIDEO_ID]
    link = htmllib.unescape(re.search(r'<a class="thumb" href="([^"]+)"', html).group(1))
    assert_motorcycle(timeline_segments(as_bob.get(link).get_data(as_text=True)))


def test_search_by_this_frame_refuses_bad_times_and_hidden_videos(as_bob) -> None:
    for bad in ("soon", "-1", "nan"):
        assert as_bob.post(f"/assets/{VIDEO_ID}", data={"frame_t": bad}).status_code == 400
    assert as_bob.post("/assets/space/rocket.jpg", data={"frame_t": "1"}).status_code == 404
    assert as_bob.post("/assets/people/camera.png", data={"frame_t": "1"}).status_code == 404


def test_api_segments_and_moment_are_in_milliseconds(as_bob, skimage_dir: Path) -> None:
    response = as_bob.post(
        "/api/search",
        data={"image": (shot_png(skimage_dir), "moto.png"), "on": "frames"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(True)
    [hit] = response.get_json()["hits"]
    assert hit["id"] == VIDEO_ID
    assert hit["segments"] == [
        {"start": 2.0, "end": 4.0, "score": hit["segments"][0]["score"], "t": hit["moment"]["t"]}
    ]
    assert 2.0 <= hit["moment"]["t"] < 4.0 and hit["moment"]["score"] == hit["score"]
