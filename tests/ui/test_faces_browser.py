"""Faces in real headless Chromium: upload a picture with two faces with Match on =
Faces, click a box on it, and check that every result card shows its whole matched
box, at a desktop and at a phone width; the People page. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.ui.conftest import PASSWORD, make_settings
from tests.ui.test_browser import SHOTS, browser, serving  # noqa: F401  (fixture)
from tests.ui.test_people import faces_data, picture  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

# Every card's matched box inside its tile, in screen pixels (0.5 px of rounding allowed).
BOXES_IN_VIEW = """() => [...document.querySelectorAll('#results .thumb-svg')].map(svg => {
  const tile = svg.getBoundingClientRect();
  const box = svg.querySelector('.match-box').getBoundingClientRect();
  return box.width > 2 && box.left >= tile.left - 0.5 && box.right <= tile.right + 0.5 &&
         box.top >= tile.top - 0.5 && box.bottom <= tile.bottom + 0.5;
})"""


@pytest.fixture(scope="module")
def server(faces_data, mobilenet):  # noqa: F811
    from flask_ui import create_app

    root, backend = faces_data
    app = create_app(
        make_settings(root),
        test_config={"ES_VISUAL_BACKEND": backend, "ES_VISUAL_EMBEDDER": mobilenet},
    )
    with serving(app) as url:
        yield url


def two_faces(skimage_dir, path) -> str:
    both = Image.new("RGB", (1024, 512))
    both.paste(picture(skimage_dir, "astronaut"), (0, 0))
    both.paste(picture(skimage_dir, "camera"), (512, 0))
    out = io.BytesIO()
    both.save(out, "PNG")
    path.write_bytes(out.getvalue())
    return str(path)


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 900, "desktop"), (390, 844, "phone")])
def test_search_faces_by_a_photo_in_the_browser(
    browser,  # noqa: F811
    server,
    skimage_dir,
    tmp_path,
    width,
    height,
    name,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
    page.select_option("#on", "faces")
    page.wait_for_load_state("networkidle")
    page.set_input_files("#image-input", two_faces(skimage_dir, tmp_path / "two.png"))
    page.wait_for_selector("#query-faces .qface")
    assert "Your picture has 2 faces" in page.content()
    page.screenshot(path=str(SHOTS / f"faces-choose-{name}.png"), full_page=True)
    # The left box is hers: click it.
    boxes = page.query_selector_all("#query-faces .qface rect")
    left = min(boxes, key=lambda b: b.bounding_box()["x"])
    left.click()
    page.wait_for_selector("#results .card")
    assert page.query_selector("#query-faces .qface.chosen") is not None
    badges = page.inner_text("#results")
    assert "Same person" in badges
    # Widen to similar faces too: every card still shows its whole box.
    page.goto(page.url + "&min_score=0.5")
    page.wait_for_selector("#results .card")
    assert "Similar" in page.inner_text("#results")
    in_view = page.evaluate(BOXES_IN_VIEW)
    assert len(in_view) >= 3 and all(in_view), in_view
    page.screenshot(path=str(SHOTS / f"faces-results-{name}.png"), full_page=True)
    page.goto(f"{server}/people")
    page.wait_for_selector("#people .person-card")
    assert len(page.query_selector_all("#people .person-card")) == 2  # her and him (science)
    page.screenshot(path=str(SHOTS / f"people-{name}.png"), full_page=True)
    page.close()
