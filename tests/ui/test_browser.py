"""End to end in real headless Chromium (Debian's), driven by Playwright.

Screenshots go to artifacts/screenshots/. Skipped, with the reason, only when
Chromium is not installed or cannot start here.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ui.conftest import (
    DUP_USERS,
    MOTORCYCLE_SECONDS,
    PASSWORD,
    VIDEO_ID,
    make_settings,
)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ES_VISUAL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Error as exc:
            pytest.skip(f"Chromium cannot start here: {str(exc).splitlines()[0]}")
        yield browser
        browser.close()


@contextmanager
def serving(app):
    """``app`` on a free loopback port in a thread, as its base URL."""
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def server(ui_data, mobilenet):
    from flask_ui import create_app

    data_dir, backend = ui_data
    app = create_app(
        make_settings(data_dir),
        test_config={"ES_VISUAL_BACKEND": backend, "ES_VISUAL_EMBEDDER": mobilenet},
    )
    with serving(app) as url:
        yield url


@pytest.fixture
def page(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    # A 404 the test asks for is logged by Chromium as a failed load; anything else counts.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 404" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    # CSP violations and script errors show up here: the pages must have none.
    assert not errors, errors


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression until it is truthy. Playwright's wait_for_function
    compiles a string predicate with eval() when it has to poll, which the app's CSP
    (script-src 'self', no unsafe-eval) rightly forbids; evaluate() goes through the
    DevTools protocol instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, user: str = "bob") -> None:
    page.goto("/")
    assert "/login" in page.url
    shot(page, "01-login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def test_search_by_image_find_similar_asset_and_region(page, skimage_dir: Path, tmp_path) -> None:
    log_in(page, "ana")
    page.wait_for_selector("article.card")
    shot(page, "02-browse")

    # Search by uploading a picture: a crop of the cat.
    from PIL import Image

    query = tmp_path / "cat-crop.png"
    Image.open(skimage_dir / "chelsea.png").convert("RGB").crop((40, 20, 420, 290)).save(query)
    page.set_input_files("#image-input", str(query))
    page.wait_for_url(re.compile(r"upload="))
    first = page.locator("article.card").first
    assert first.get_attribute("data-id") == "animals/chelsea.png"
    assert page.locator(".subject").inner_text().lower().count("your image") == 1
    shot(page, "03-search-by-image")

    # Find similar (the magnifying glass) on the first result.
    first.hover()
    first.locator(".similar-btn").click()
    page.wait_for_url(re.compile(r"similar=animals"))
    ids = page.locator("article.card").evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids and "animals/chelsea.png" not in ids
    shot(page, "04-find-similar")

    # A DSL syntax error is shown under the box.
    page.fill("#where", "tags=cat AND (")
    page.press("#where", "Enter")
    page.wait_for_selector(".dsl-error")
    assert "column" in page.locator(".dsl-error").inner_text()
    shot(page, "05-dsl-error")

    # Open the astronaut and click her face box: a localized search.
    page.goto("/assets/people/astronaut.png")
    page.wait_for_selector("#asset-img")
    wait_until(page, "document.querySelector('#asset-img').complete")
    box = page.locator(".stage .box").first
    assert box.count() == 1 or page.locator(".stage .box").count() >= 1
    assert box.bounding_box()["width"] > 10  # positioned over the picture by the script
    shot(page, "06-asset")
    box.click()
    page.wait_for_url(re.compile(r"(face|region)="))
    assert page.locator(".subject").count() == 1
    shot(page, "07-localized-search")

    # Drag a box over the cat to search by that crop.
    page.goto("/assets/animals/chelsea.png")
    wait_until(page, "document.querySelector('#asset-img').complete")
    img = page.locator("#asset-img").bounding_box()
    page.mouse.move(img["x"] + img["width"] * 0.3, img["y"] + img["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(img["x"] + img["width"] * 0.7, img["y"] + img["height"] * 0.8, steps=5)
    page.mouse.up()
    page.wait_for_selector("#draw-actions:not([hidden])")
    shot(page, "08-drag-a-box")
    page.click("#draw-search")
    page.wait_for_url(re.compile(r"region=animals"))
    assert page.locator("article.card").count() >= 1
    shot(page, "09-region-results")


def test_forbidden_asset_is_not_found_in_the_browser(page) -> None:
    log_in(page, "bob")
    ids = page.locator("article.card").evaluate_all("els => els.map(e => e.dataset.id)")
    assert "food/coffee.png" not in ids
    response = page.goto("/assets/food/coffee.png")
    assert response.status == 404
    shot(page, "10-not-found")


def test_admin_pages(page) -> None:
    log_in(page, "alice")
    page.goto("/index/")
    page.wait_for_selector("#stat-documents")
    shot(page, "11-index")
    page.goto("/jobs/")
    shot(page, "12-jobs")


@pytest.fixture
def jobs_server(tmp_path: Path, skimage_dir: Path, mobilenet):
    """A separate, empty store, so the ingest does not change the shared fixture index."""
    from werkzeug.serving import make_server

    from es_visual.backends.embedded import EmbeddedBackend
    from flask_ui import create_app

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"):
        shutil.copyfile(skimage_dir / name, photos / name)
    (photos / "notes.jpg").write_text("this is not a picture")
    backend = EmbeddedBackend(tmp_path / "store")
    app = create_app(
        make_settings(tmp_path, pipeline="offline"),
        test_config={
            "ES_VISUAL_BACKEND": backend,
            "ES_VISUAL_EMBEDDER": mobilenet,
            "INGEST_ROOTS": [str(photos)],
        },
    )
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)
    app.extensions["es_visual"].jobs.wait()
    backend.close()


def test_ingest_job_with_live_progress(browser, jobs_server) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=jobs_server)
    page = context.new_page()
    try:
        log_in(page, "alice")
        page.wait_for_selector(".empty")
        shot(page, "13-empty-index")
        page.goto("/jobs/")
        page.click("#job-form button[type=submit]")
        page.wait_for_selector(".job.job-done", timeout=120_000)
        page.click(".failures summary")
        assert "notes.jpg" in page.locator(".failures").inner_text()
        assert page.locator(".js-written").first.inner_text() == "4"
        shot(page, "14-job-done")
        page.goto("/")
        assert page.locator("article.card").count() == 5  # the bad file shows as failed
        shot(page, "15-after-ingest")
    finally:
        context.close()


def test_video_result_timeline_and_seek(page, skimage_dir: Path) -> None:
    log_in(page, "bob")
    # Search by one of the video's shots, matching on video frames.
    page.set_input_files("#image-input", str(skimage_dir / "motorcycle_left.png"))
    page.wait_for_url(re.compile(r"upload="))
    page.select_option("#on", "frames")
    page.wait_for_url(re.compile(r"on=frames"))
    card = page.locator("article.card").first
    assert card.get_attribute("data-id") == VIDEO_ID
    assert card.locator(".badge-video").is_visible()
    assert card.locator(".mini-timeline .seg").count() == 1
    shot(page, "16-video-result")

    card.locator("a.thumb").click()
    page.wait_for_url(re.compile(r"/assets/video/"))
    # The browser really loads the H.264 file (through the Range-serving original route).
    wait_until(page, "document.querySelector('#player').readyState >= 1", timeout=20)
    duration = page.evaluate("document.querySelector('#player').duration")
    assert abs(duration - 6.0) < 0.3
    segment = page.locator("#timeline .segment")
    assert segment.count() == 1
    bar = page.locator("#timeline").bounding_box()
    seg = segment.bounding_box()
    left = (seg["x"] - bar["x"]) / bar["width"] * duration
    right = (seg["x"] + seg["width"] - bar["x"]) / bar["width"] * duration
    # Drawn where the motorcycle is on screen (one 1 s sampling step of slack).
    assert abs(left - MOTORCYCLE_SECONDS[0]) <= 1.0 and abs(right - MOTORCYCLE_SECONDS[1]) <= 1.0
    start = float(segment.get_attribute("data-start"))
    page.evaluate("document.querySelector('#player').currentTime = 5.5")
    segment.click()
    wait_until(page, f"Math.abs(document.querySelector('#player').currentTime - {start}) < 0.6")
    page.evaluate("document.querySelector('#player').pause()")
    wait_until(page, "document.querySelector('#player').readyState >= 2")
    shot(page, "17-video-asset-timeline")

    # Opened directly: "find a picture in this video" draws the same segment.
    page.goto(f"/assets/{VIDEO_ID}")
    assert page.locator("#timeline .segment").count() == 0
    page.set_input_files("#find-image", str(skimage_dir / "motorcycle_left.png"))
    page.wait_for_url(re.compile(r"upload="))
    assert page.locator("#timeline .segment").get_attribute("data-start") == str(start)


def test_video_timeline_hover_zoom_seek_and_search_by_this_frame(page) -> None:
    """The asset page's timeline: hover shows the kept frame, a click seeks, zoom keeps
    the bar to scale, and "search by this frame" searches for the frame on screen."""
    log_in(page, "bob")
    page.goto(f"/assets/{VIDEO_ID}?segments=2-4:0.9")  # the motorcycle's seconds, drawn
    wait_until(page, "document.querySelector('#player').readyState >= 1", timeout=20)
    timeline = page.locator("#timeline")
    box = timeline.bounding_box()

    def span(box: dict, bar: dict) -> tuple[float, float]:
        """A box's start and end in seconds along the bar."""
        left = (box["x"] - bar["x"]) / bar["width"] * 6.0
        return left, left + box["width"] / bar["width"] * 6.0

    # Hover at 2.5 s: the preview shows the kept frame at 2 s (the motorcycle).
    page.mouse.move(box["x"] + box["width"] * 2.5 / 6, box["y"] + box["height"] / 2)
    preview = page.locator("#frame-preview")
    assert preview.is_visible()
    assert "t=2.000" in preview.locator("img").get_attribute("src")
    assert page.locator("#frame-preview-time").text_content() == "0:02.5"
    wait_until(page, "document.querySelector('#frame-preview img').naturalWidth > 0")
    shot(page, "18-video-hover-frame")

    # A click seeks the player to that moment.
    page.mouse.click(box["x"] + box["width"] * 4.5 / 6, box["y"] + box["height"] / 2)
    wait_until(page, "Math.abs(document.querySelector('#player').currentTime - 4.5) < 0.15")

    # Zoom in twice: the bar is four times its frame, still to scale, and scrolls.
    page.click("#zoom-in")
    page.click("#zoom-in")
    assert page.locator("#zoom-level").text_content() == "4×"
    ratio = page.evaluate(
        "document.querySelector('#timeline').offsetWidth"
        " / document.querySelector('#timeline-frame').clientWidth"
    )
    assert abs(ratio - 4.0) < 0.02
    start, end = span(page.locator("#timeline .segment").bounding_box(), timeline.bounding_box())
    assert abs(start - 2.0) < 0.02 and abs(end - 4.0) < 0.02
    frame_box = page.locator("#timeline-frame").bounding_box()
    assert timeline.bounding_box()["width"] > 3.9 * frame_box["width"]
    # In the viewport: a full-page capture resizes the page and drops the bar's scroll.
    page.screenshot(path=str(SHOTS / "19-video-timeline-zoomed.png"))
    page.click("#zoom-out")
    page.click("#zoom-out")
    assert page.locator("#zoom-out").is_disabled()

    # Search by this frame: the player at 3.2 s shows the motorcycle.
    page.evaluate("document.querySelector('#player').currentTime = 3.2")
    wait_until(page, "document.querySelector('#frame-t').value === '3.200'")
    page.click("#frame-search-btn")
    page.wait_for_url(re.compile(r"/\?upload="))
    page.select_option("#on", "frames")
    page.wait_for_url(re.compile(r"on=frames"))
    assert page.locator("article.card").first.get_attribute("data-id") == VIDEO_ID
    shot(page, "20-video-frame-search")


def test_duplicates_on_the_index_page(browser, dups_data, mobilenet) -> None:
    from flask_ui import create_app

    root, backend = dups_data
    app = create_app(
        make_settings(root, users=DUP_USERS),
        test_config={"ES_VISUAL_BACKEND": backend, "ES_VISUAL_EMBEDDER": mobilenet},
    )
    with serving(app) as url:
        context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=url)
        page = context.new_page()
        try:
            log_in(page, "root")
            page.goto("/index/")
            group = page.locator(".dup-group")
            assert group.count() == 1 and group.get_attribute("data-kind") == "near"
            assert page.locator(".dup-member").count() == 4
            keeper = page.locator(".dup-member.keeper")
            assert keeper.get_attribute("data-id") == "dups/chelsea-a.png"
            assert keeper.locator(".keep-badge").is_visible()
            wait_until(
                page,
                "Array.from(document.querySelectorAll('.dup-member img'))"
                ".every(i => i.complete && i.naturalWidth > 0)",
            )
            shot(page, "18-duplicates")
            # The slider re-runs the search at the chosen threshold.
            page.fill("#dup-threshold", "1")
            page.dispatch_event("#dup-threshold", "change")
            page.wait_for_url(re.compile(r"threshold=1"))
            assert page.locator(".dup-group").get_attribute("data-kind") == "exact"
        finally:
            context.close()
