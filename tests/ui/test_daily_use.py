"""The web UI for every day (issue 18), in real headless Chromium driven by Playwright:
phone widths, browsing like a library, uploads, keyboard and touch, axe-core, speed,
confirmations. Screenshots go to artifacts/screenshots/ (daily-*.png).

Touch is real touch input (the DevTools protocol's Input.dispatchTouchEvent, which the
page sees as pointer events of type "touch"), not synthesized DOM events.
"""

from __future__ import annotations

# ruff: noqa: F811  (the browser fixture is imported from test_browser, and taken as an argument)
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.ui.axe import axe_script, blocking, describe, run_axe
from tests.ui.conftest import DUP_USERS, PASSWORD, VIDEO_ID, make_settings
from tests.ui.test_browser import SHOTS, browser, serving, wait_until  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

PHONES = (360, 390, 414)
LIMIT_MB = 1  # the test server's upload limit: a 1.5 MB picture is over it


@pytest.fixture(scope="module")
def server(ui_data, mobilenet):
    from flask_ui import create_app

    data_dir, backend = ui_data
    app = create_app(
        make_settings(data_dir, max_upload_mb=LIMIT_MB),
        test_config={"ES_VISUAL_BACKEND": backend, "ES_VISUAL_EMBEDDER": mobilenet},
    )
    with serving(app) as url:
        yield url


def new_page(browser, server, *, width: int = 1360, height: int = 900, touch: bool = False, **kw):
    context = browser.new_context(
        viewport={"width": width, "height": height},
        base_url=server,
        has_touch=touch,
        is_mobile=touch,
        device_scale_factor=1,
        **kw,
    )
    page = context.new_page()
    errors: list[str] = []
    # A 404 or a failed login's 401 the test asks for is logged as a failed load.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not re.search(r"status of 40[14]", m.text)
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def close(page) -> None:
    errors = page.errors
    page.context.close()
    # CSP violations and script errors show up here: the pages must have none.
    assert not errors, errors


def log_in(page, user: str = "alice") -> None:
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def shot(page, name: str, full: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"daily-{name}.png"), full_page=full)


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the screen (0: no horizontal scroll)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


def in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


def noise_png(path: Path, megabytes: float) -> Path:
    """A PNG of random pixels (incompressible) of about ``megabytes``."""
    import numpy as np

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5) + 1
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "PNG", compress_level=0)
    return path


def cat_crop(skimage_dir: Path, path: Path) -> Path:
    Image.open(skimage_dir / "chelsea.png").convert("RGB").crop((40, 20, 420, 290)).save(path)
    return path


# --- phone widths ---------------------------------------------------------------------------

PAGES = (
    ("search", "/"),
    ("similar", "/?similar=animals/chelsea.png"),
    ("dsl-error", "/?where=tags%3Dcat%20AND%20("),
    ("region", "/?region=animals/chelsea.png&bbox=0.2,0.1,0.8,0.9"),
    ("asset", "/assets/people/astronaut.png"),
    ("video", f"/assets/{VIDEO_ID}?segments=2-4:0.9"),
    ("people", "/people"),
    ("jobs", "/jobs/"),
    ("index", "/index/"),
    ("not-found", "/assets/no/such.png"),
)


@pytest.mark.parametrize("width", PHONES)
def test_no_page_scrolls_sideways_on_a_phone(browser, server, skimage_dir, tmp_path, width) -> None:
    page = new_page(browser, server, width=width, height=800, touch=True)
    try:
        page.goto("/login")
        assert overflow(page) <= 0, "login"
        log_in(page, "alice")
        for name, url in PAGES:
            page.goto(url)
            page.wait_for_load_state("load")
            assert overflow(page) <= 0, f"{name} at {width} px is {overflow(page)} px too wide"
            # Every action on screen: the whole top bar, log out included.
            for selector in ("#logout", ".nav a[href='/jobs/']", ".nav a[href='/index/']"):
                assert in_view(page, selector), f"{selector} off screen on {name} at {width} px"
            if width == 390:
                shot(page, f"phone-{name}")
        # The search box keeps a usable width (it shrank to "Search by" before).
        page.goto("/")
        page.set_input_files("#image-input", str(cat_crop(skimage_dir, tmp_path / "q.png")))
        page.wait_for_url(re.compile(r"upload="))
        assert overflow(page) <= 0
        assert page.locator(".text-field").bounding_box()["width"] >= width - 80
        for selector in ("#image-input + label", ".search-btn", ".subject .icon-btn", "#sort"):
            assert in_view(page, selector), selector
        if width == 390:
            shot(page, "phone-image-search")
        # The re-analysis confirmation.
        page.goto("/jobs/")
        page.click("#reindex-start")
        page.wait_for_selector("#reindex-confirm")
        assert overflow(page) <= 0
    finally:
        close(page)


def touch_drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """A real finger drag (touchStart, touchMove..., touchEnd) through the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    (x0, y0), (x1, y1) = start, end
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]}
    )
    for i in range(1, steps + 1):
        x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_asset_page_and_timeline_by_touch(browser, server) -> None:
    page = new_page(browser, server, width=390, height=844, touch=True)
    try:
        log_in(page, "bob")
        page.goto("/assets/animals/chelsea.png")
        wait_until(page, "document.querySelector('#asset-img').complete")
        img = page.locator("#asset-img").bounding_box()
        a = (img["x"] + img["width"] * 0.25, img["y"] + img["height"] * 0.3)
        b = (img["x"] + img["width"] * 0.7, img["y"] + img["height"] * 0.8)
        # A finger on the picture scrolls the page: no box is drawn until asked for.
        touch_drag(page, a, b)
        assert page.locator("#draw").is_hidden()
        page.tap("#draw-toggle")
        assert page.locator("#draw-toggle").get_attribute("aria-pressed") == "true"
        img = page.locator("#asset-img").bounding_box()
        a = (img["x"] + img["width"] * 0.25, img["y"] + img["height"] * 0.3)
        b = (img["x"] + img["width"] * 0.7, img["y"] + img["height"] * 0.8)
        touch_drag(page, a, b)
        page.wait_for_selector("#draw-actions:not([hidden])")
        drawn = page.locator("#draw").bounding_box()
        assert abs(drawn["width"] - img["width"] * 0.45) < img["width"] * 0.05
        assert overflow(page) <= 0
        shot(page, "touch-drawn-box", full=False)
        page.tap("#draw-search")
        page.wait_for_url(re.compile(r"region=animals"))
        bbox = [
            float(v)
            for v in re.search(r"bbox=([\d.,%C]+)", page.url)
            .group(1)
            .replace("%2C", ",")
            .split(",")
        ]
        assert abs(bbox[0] - 0.25) < 0.03 and abs(bbox[3] - 0.8) < 0.03

        # The timeline: a finger drags along it, the kept frame follows, lifting seeks.
        page.goto(f"/assets/{VIDEO_ID}?segments=2-4:0.9")
        wait_until(page, "document.querySelector('#player').readyState >= 1", timeout=20)
        bar = page.locator("#timeline").bounding_box()
        assert bar["height"] >= 40  # a finger-sized bar on a touch screen
        y = bar["y"] + bar["height"] / 2
        cdp = page.context.new_cdp_session(page)
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": bar["x"] + 5, "y": y}]},
        )
        x = bar["x"] + bar["width"] * 2.5 / 6
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
        assert page.locator("#frame-preview").is_visible()
        assert "t=2.000" in page.locator("#frame-preview img").get_attribute("src")
        shot(page, "touch-timeline-scrub", full=False)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()
        wait_until(page, "Math.abs(document.querySelector('#player').currentTime - 2.5) < 0.2")
        assert page.locator("#frame-preview").is_hidden()
        # A segment is a tap target: it plays from its start (2 s).
        page.evaluate("document.querySelector('#player').currentTime = 5.5")
        page.wait_for_timeout(500)  # a new tap, not the second half of a double tap
        page.tap("#timeline .segment")
        wait_until(page, "Math.abs(document.querySelector('#player').currentTime - 2.0) < 0.7")
    finally:
        close(page)


# --- browse like a library -------------------------------------------------------------------


def card_ids(page) -> list[str]:
    return page.locator("article.card").evaluate_all("els => els.map(e => e.dataset.id)")


def test_sort_group_page_both_ways_and_scroll_on(browser, server, ui_data) -> None:
    data_dir, _ = ui_data
    media = data_dir / "media"
    page = new_page(browser, server)
    try:
        log_in(page, "ana")  # ana reads the rocket and the coffee too: 6 assets
        assert page.locator("#media-all + label .n").text_content() == "6"
        assert page.locator("#media-video + label .n").text_content() == "1"
        page.select_option("#sort", "name")
        page.wait_for_url(re.compile(r"sort=name"))
        names = [Path(i).name for i in card_ids(page)]
        assert names == sorted(names)
        page.select_option("#sort", "largest")
        page.wait_for_url(re.compile(r"sort=largest"))
        sizes = [(media / i).stat().st_size for i in card_ids(page)]
        assert sizes == sorted(sizes, reverse=True)
        page.select_option("#sort", "newest")
        page.wait_for_url(re.compile(r"sort=newest"))
        page.select_option("#group", "day")
        page.wait_for_url(re.compile(r"group=day"))
        heads = page.locator(".group-head")
        assert heads.count() == 1  # everything was ingested today
        shot(page, "grouped-by-day")

    finally:
        close(page)

    # Two per page, by the links alone (no script: the pages work without one): next,
    # next, then back, back to where it started.
    page = new_page(browser, server, java_script_enabled=False)
    try:
        log_in(page, "ana")
        page.goto("/?sort=name&limit=2")
        first = card_ids(page)
        assert page.locator("#result-count").text_content().startswith("1–2 of 6")
        page.click("#next-page")
        second = card_ids(page)
        assert "3–4 of 6" in page.locator("#result-count").text_content()
        page.click("#next-page")
        third = card_ids(page)
        assert len(set(first + second + third)) == 6
        assert page.locator("#next-page").count() == 0
        page.click("#prev-page")
        assert card_ids(page) == second
        page.click("#prev-page")
        assert card_ids(page) == first
        assert page.locator("#prev-page").count() == 0
    finally:
        close(page)

    # Infinite scroll: the next pages load as the end comes into view.
    page = new_page(browser, server, height=500)
    try:
        log_in(page, "ana")
        page.goto("/?sort=name&limit=2")
        for expected in (4, 6):
            page.locator("#pager").scroll_into_view_if_needed()
            wait_until(page, f"document.querySelectorAll('#results .card').length >= {expected}")
        assert card_ids(page) == first + second + third
        assert "1–6 of 6" in page.locator("#result-count").text_content()
        assert "page=3" in page.url  # the address is the last page loaded, which pages back
        page.reload()
        assert card_ids(page) == third and page.locator("#prev-page").count() == 1
    finally:
        close(page)


def test_counts_follow_the_users_acl(browser, server) -> None:
    page = new_page(browser, server)
    try:
        log_in(page, "bob")  # not the rocket (ana's) nor the coffee (science group)
        counts = {
            m: page.locator(f"#media-{m} + label .n").text_content()
            for m in ("all", "image", "video")
        }
        assert counts == {"all": "4", "image": "3", "video": "1"}
        assert page.locator("#result-count").text_content().startswith("4 results")
        page.goto("/?where=tags%3Dspace")
        assert page.locator("#media-all + label .n").text_content() == "1"  # the astronaut only
    finally:
        close(page)


# --- uploads ------------------------------------------------------------------------------------


def test_too_large_a_file_is_refused_in_the_page(browser, server, skimage_dir, tmp_path) -> None:
    big = noise_png(tmp_path / "big.png", 1.5)
    assert big.stat().st_size > LIMIT_MB * 1024 * 1024
    page = new_page(browser, server)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.method) if r.method == "POST" else None)
    try:
        log_in(page, "bob")
        page.goto("/?where=tags%3Dcat")
        url = page.url
        requests.clear()
        page.set_input_files("#image-input", str(big))
        error = page.locator("#upload-error")
        error.wait_for(state="visible")
        assert "big.png" in error.text_content() and "MB" in error.text_content()
        assert page.url == url and requests == []  # nothing sent, the search kept
        assert page.input_value("#where") == "tags=cat"
        shot(page, "upload-too-large", full=False)
        # A picture within the limit goes through.
        page.set_input_files("#image-input", str(cat_crop(skimage_dir, tmp_path / "q.png")))
        page.wait_for_url(re.compile(r"upload=[0-9a-f]{32}"))
        assert card_ids(page)[0] == "animals/chelsea.png"
        assert re.fullmatch(r"\d+ ms", page.locator("#search-latency").text_content().strip())
    finally:
        close(page)


# --- keyboard ------------------------------------------------------------------------------------

# The element whose ring shows for the focused one: a hidden file input's label, a radio's
# label, a text box's frame.
RING_OF_FOCUSED = """() => {
  let el = document.activeElement;
  if (!el || el === document.body) return null;
  // The player's own controls take the focus inside its shadow tree and draw their ring.
  if (el.tagName === 'VIDEO' && el.controls) return { what: 'video', style: 'native', width: 2 };
  if (el.matches('.file-input, .segmented input')) el = el.nextElementSibling;
  else if (el.closest('.text-field')) el = el.closest('.text-field');
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return { what: el.id || el.className || el.tagName, style: cs.outlineStyle,
           width: parseFloat(cs.outlineWidth), visible: r.width > 0 && r.height > 0,
           text: (el.textContent || '').trim().slice(0, 30) };
}"""


def tab_through(page, limit: int = 80) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        ring = page.evaluate(RING_OF_FOCUSED)
        if ring is None or (seen and ring == seen[0]):
            break
        seen.append(ring)
    return seen


def test_focus_ring_on_everything_the_keyboard_reaches(browser, server) -> None:
    page = new_page(browser, server)
    try:
        log_in(page, "alice")
        for url in ("/", f"/assets/{VIDEO_ID}?segments=2-4:0.9", "/assets/people/astronaut.png"):
            page.goto(url)
            rings = tab_through(page)
            assert len(rings) > 10, url
            missing = [r for r in rings if r["style"] == "none" or r["width"] < 2]
            assert not missing, (url, missing)
        page.goto("/")
        # The Image button in particular (it had none).
        page.focus("#image-input")
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        ring = page.evaluate(RING_OF_FOCUSED)
        assert ring["text"] == "Image" and ring["style"] != "none" and ring["width"] >= 2
        shot(page, "focus-image-button", full=False)
    finally:
        close(page)


def test_escape_cancels_a_box_and_the_keyboard_draws_one(browser, server) -> None:
    page = new_page(browser, server)
    try:
        log_in(page, "bob")
        page.goto("/assets/animals/chelsea.png")
        wait_until(page, "document.querySelector('#asset-img').complete")
        img = page.locator("#asset-img").bounding_box()
        page.mouse.move(img["x"] + img["width"] * 0.3, img["y"] + img["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(img["x"] + img["width"] * 0.7, img["y"] + img["height"] * 0.8, steps=5)
        page.mouse.up()
        page.wait_for_selector("#draw-actions:not([hidden])")
        page.keyboard.press("Escape")
        assert page.locator("#draw").is_hidden() and page.locator("#draw-actions").is_hidden()
        # Escape during a drag cancels it too.
        page.mouse.move(img["x"] + img["width"] * 0.3, img["y"] + img["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(img["x"] + img["width"] * 0.6, img["y"] + img["height"] * 0.6, steps=3)
        page.keyboard.press("Escape")
        page.mouse.up()
        assert page.locator("#draw").is_hidden() and page.locator("#draw-actions").is_hidden()

        # Keyboard only: reach "Select an area", then move and resize the box.
        page.goto("/assets/animals/chelsea.png")
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "draw-toggle":
                break
        else:
            raise AssertionError("Select an area is not reachable with Tab")
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "draw"
        assert "Arrow keys move it" in page.locator("#draw-status").text_content()
        for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Shift+ArrowDown", "Shift+ArrowDown"):
            page.keyboard.press(key)
        shot(page, "keyboard-region", full=False)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"region=animals"))
        bbox = [
            float(v)
            for v in re.search(r"bbox=([^&]+)", page.url).group(1).replace("%2C", ",").split(",")
        ]
        assert [round(v, 2) for v in bbox] == [0.36, 0.3, 0.76, 0.74]
        assert card_ids(page)
    finally:
        close(page)


def test_similarity_slider_applies_on_release(browser, server) -> None:
    page = new_page(browser, server)
    loads: list[str] = []
    try:
        log_in(page, "bob")
        page.goto("/?similar=animals/chelsea.png")
        page.on("load", lambda: loads.append(page.url))
        # Five arrow presses: one search, after the pause, at 0.05.
        page.focus("#min_score")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert page.locator("#min_score_out").text_content() == "0.05"
        page.wait_for_url(re.compile(r"min_score=0.05"))
        page.wait_for_load_state("load")
        assert len(loads) == 1
        assert page.evaluate("document.activeElement.id") == "min_score"  # focus kept
        # A mouse drag across the slider: one search, when released.
        loads.clear()
        box = page.locator("#min_score").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 8, y)
        page.mouse.down()
        for frac in (0.2, 0.3, 0.4, 0.5):
            page.mouse.move(box["x"] + box["width"] * frac, y, steps=3)
        assert loads == []
        page.mouse.up()
        page.wait_for_url(re.compile(r"min_score=0\.[3-6]"))
        page.wait_for_load_state("load")
        assert len(loads) == 1
    finally:
        close(page)


# --- speed -------------------------------------------------------------------------------------


def test_video_hover_preview_and_latency(browser, server) -> None:
    page = new_page(browser, server)
    try:
        log_in(page, "bob")
        page.goto("/?media=video")
        assert re.fullmatch(r"\d+ ms", page.locator("#search-latency").text_content().strip())
        card = page.locator(f"article.card[data-id='{VIDEO_ID}']")
        card.hover()
        wait_until(page, "!!document.querySelector('.card.previewing video.hover-preview')", 20)
        wait_until(page, "document.querySelector('video.hover-preview').currentTime > 0.2", 20)
        shot(page, "video-hover-preview", full=False)
        page.mouse.move(5, 5)
        wait_until(page, "!document.querySelector('video.hover-preview')")
        # A similarity search's card starts the preview at its best moment.
        page.goto("/?similar=animals/chelsea.png&media=video&on=frames")
        start = float(
            page.locator(f"article.card[data-id='{VIDEO_ID}']").get_attribute("data-preview-t")
        )
        page.locator(f"article.card[data-id='{VIDEO_ID}']").hover()
        wait_until(page, "!!document.querySelector('video.hover-preview')", 20)
        wait_until(
            page, f"document.querySelector('video.hover-preview').currentTime >= {start} - 0.05", 20
        )
    finally:
        close(page)


# --- confirmations ------------------------------------------------------------------------------


def test_re_analyze_everything_asks_first(browser, server) -> None:
    page = new_page(browser, server)
    try:
        log_in(page, "alice")
        page.goto("/jobs/")
        page.click("#reindex-start")
        page.wait_for_selector("#reindex-confirm")
        assert "Re-analyze 4 assets?" in page.locator("h1").text_content()  # what alice may change
        shot(page, "confirm-reanalyze")
        page.click("#reindex-cancel")
        page.wait_for_url(re.compile(r"/jobs/$"))
        assert page.locator(".job").count() == 0  # nothing started
    finally:
        close(page)


# --- axe-core on every page ----------------------------------------------------------------------


def check_axe(page, name: str, found: dict[str, str]) -> None:
    page.wait_for_load_state("load")
    violations = run_axe(page)
    bad = blocking(violations)
    if bad:
        found[name] = describe(bad)


@pytest.mark.parametrize("width", (1360, 390))
def test_axe_finds_nothing_serious_on_any_page(
    browser,
    server,
    skimage_dir,
    tmp_path,
    width,
) -> None:
    script = axe_script()
    page = new_page(browser, server, width=width, height=900)
    page.context.add_init_script(path=str(script))
    found: dict[str, str] = {}
    try:
        page.goto("/login")
        check_axe(page, "login", found)
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        check_axe(page, "login-failed", found)
        log_in(page, "alice")
        check_axe(page, "browse", found)
        for name, url in PAGES:
            page.goto(url)
            check_axe(page, name, found)
        page.goto("/?sort=newest&group=day&limit=2")
        check_axe(page, "grouped-paged", found)
        # Page 2 as its own address (the page itself loads it on scrolling).
        first = page.request.get("/?sort=newest&group=day&limit=2").text()
        page.goto(re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&"))
        check_axe(page, "page-2", found)
        page.goto("/")
        page.set_input_files("#image-input", str(cat_crop(skimage_dir, tmp_path / "q.png")))
        page.wait_for_url(re.compile(r"upload="))
        check_axe(page, "image-search", found)
        page.set_input_files("#image-input", str(noise_png(tmp_path / "big.png", 1.5)))
        page.locator("#upload-error").wait_for(state="visible")
        check_axe(page, "upload-refused", found)
        page.goto("/assets/animals/chelsea.png")
        page.click("#draw-toggle")
        check_axe(page, "asset-drawing", found)
        page.goto(f"/assets/{VIDEO_ID}")
        check_axe(page, "video-no-search", found)
        page.goto("/jobs/")
        page.click("#reindex-start")
        page.wait_for_selector("#reindex-confirm")
        check_axe(page, "reindex-confirm", found)
        page.goto("/?media=video")
        page.locator("article.card").first.hover()
        check_axe(page, "video-preview", found)
    finally:
        close(page)
    assert not found, "\n\n".join(f"{k}:\n{v}" for k, v in found.items())


def test_axe_on_people_and_duplicates_pages(browser, dups_data, mobilenet, tmp_path) -> None:
    """The pages other engineers build (people, duplicates) are held to the same rule."""
    from flask_ui import create_app

    script = axe_script()
    root, backend = dups_data
    app = create_app(
        make_settings(root, users=DUP_USERS),
        test_config={"ES_VISUAL_BACKEND": backend, "ES_VISUAL_EMBEDDER": mobilenet},
    )
    found: dict[str, str] = {}
    with serving(app) as url:
        page = new_page(browser, url)
        page.context.add_init_script(path=str(script))
        try:
            log_in(page, "root")
            page.goto("/index/")
            check_axe(page, "index-duplicates", found)
            page.locator(".dup-check").first.check()
            page.click("button[name=action][value=tag]")
            page.wait_for_selector("#dup-plan")
            check_axe(page, "duplicates-confirm", found)
            page.goto("/people")
            check_axe(page, "people", found)
            person = page.locator(".person-card").first
            if person.count():
                person.click()
                check_axe(page, "person", found)
                # Merging asks first, in the page; Escape keeps everything as it was.
                before = page.url
                page.fill("#other", "nobody")
                page.click(".person-form button:has-text('Merge')")
                dialog = page.locator("dialog.confirm-dialog")
                dialog.wait_for(state="visible")
                check_axe(page, "merge-confirm", found)
                page.keyboard.press("Escape")
                assert dialog.count() == 0 and page.url == before
        finally:
            close(page)
    assert not found, "\n\n".join(f"{k}:\n{v}" for k, v in found.items())
