"""Browsing like a library (issue 18): sort by date, name and size, group by date, pages
both ways, counts over what the caller may read; the models warmed at start; asking
before re-analyzing everything."""

from __future__ import annotations

import re
from pathlib import Path

from tests.ui.conftest import DOCS, VIDEO_ID, login, make_settings

ALL_FOR_ANA = sorted([*DOCS, VIDEO_ID])


def ids(html: str) -> list[str]:
    return re.findall(r'<article class="card" data-id="([^"]+)"', html)


def link(html: str, element_id: str) -> str | None:
    found = re.search(rf'href="([^"]+)" id="{element_id}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_sort_by_name_size_and_date(as_ana, ui_data) -> None:
    data_dir, backend = ui_data
    media = data_dir / "media"
    by_name = ids(as_ana.get("/?sort=name").get_data(as_text=True))
    assert [Path(i).name for i in by_name] == sorted(Path(i).name for i in ALL_FOR_ANA)
    assert ids(as_ana.get("/?sort=name-desc").get_data(as_text=True)) == by_name[::-1]
    largest = ids(as_ana.get("/?sort=largest").get_data(as_text=True))
    sizes = [(media / i).stat().st_size for i in largest]
    assert sizes == sorted(sizes, reverse=True) and sorted(largest) == ALL_FOR_ANA
    smallest = ids(as_ana.get("/?sort=smallest").get_data(as_text=True))
    assert [(media / i).stat().st_size for i in smallest] == sorted(sizes)
    stamps = {i: backend.get("media", i)["visual"]["indexed_at"] for i in ALL_FOR_ANA}
    newest = ids(as_ana.get("/").get_data(as_text=True))  # a library's default
    assert [stamps[i] for i in newest] == sorted(stamps.values(), reverse=True)
    oldest = ids(as_ana.get("/?sort=oldest").get_data(as_text=True))
    assert [stamps[i] for i in oldest] == sorted(stamps.values())


def test_a_similarity_search_ranks_by_score_whatever_the_sort(as_ana) -> None:
    html = as_ana.get("/?similar=animals/chelsea.png&sort=name").get_data(as_text=True)
    scores = [float(s) for s in re.findall(r'<span class="score"[^>]*>([\d.]+)<', html)]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 2
    assert re.search(r'<select id="sort" disabled', html)


def test_group_by_day_month_year(as_ana, ui_data) -> None:
    _, backend = ui_data
    day = backend.get("media", "animals/chelsea.png")["visual"]["indexed_at"][:10]
    for group, key in (("day", day), ("month", day[:7]), ("year", day[:4])):
        html = as_ana.get(f"/?sort=newest&group={group}").get_data(as_text=True)
        assert re.findall(r'<h3 class="group-head" data-group="([^"]+)"', html) == [key]
    # No grouping for a name sort (a date heading would say nothing there).
    assert "group-head" not in as_ana.get("/?sort=name&group=day").get_data(as_text=True)


def test_pages_forwards_and_backwards(as_ana) -> None:
    pages = [as_ana.get("/?sort=name&limit=2").get_data(as_text=True)]
    assert link(pages[0], "prev-page") is None
    while (nxt := link(pages[-1], "next-page")) is not None:
        pages.append(as_ana.get(nxt).get_data(as_text=True))
    seen = [ids(p) for p in pages]
    assert [i for page in seen for i in page] == sorted(ALL_FOR_ANA, key=lambda i: Path(i).name)
    assert "5–6 of 6 results" in pages[-1] and "Page 3" in pages[-1]
    back = pages[-1]
    for expected in (seen[1], seen[0]):
        back = as_ana.get(link(back, "prev-page")).get_data(as_text=True)
        assert ids(back) == expected
    assert link(back, "prev-page") is None


def test_counts_are_over_what_the_user_may_read(client) -> None:
    def counts(html: str) -> dict[str, int]:
        return {
            m: int(n)
            for m, n in re.findall(
                r'for="media-(\w+)">\w+ <span class="n" data-count="(\d+)"', html
            )
        }

    login(client, "bob")
    html = client.get("/").get_data(as_text=True)
    assert counts(html) == {"all": 4, "image": 3, "video": 1}
    assert "4 results" in html
    client.post("/logout")
    login(client, "ana")
    assert counts(client.get("/").get_data(as_text=True)) == {"all": 6, "image": 5, "video": 1}
    # Under a filter, and the count line of a page of two.
    assert counts(client.get("/?where=tags%3Dspace").get_data(as_text=True))["all"] == 2
    assert "1–2 of 6 results" in client.get("/?limit=2").get_data(as_text=True)


def test_models_are_warmed_in_the_background_at_start(ui_data) -> None:
    """No embedder handed in: the app loads the index's model itself, on a thread, before
    any search; the first search then finds it loaded."""
    from flask_ui import create_app

    data_dir, backend = ui_data
    app = create_app(
        make_settings(data_dir),
        test_config={"ES_VISUAL_BACKEND": backend, "WTF_CSRF_ENABLED": False},
    )
    state = app.extensions["es_visual"]
    assert state.warmup.done.wait(300), state.warmup.to_dict()
    warm = state.warmup.to_dict()
    assert warm["state"] == "ready" and not warm["errors"], warm
    assert {"scene model", "face model"} <= set(warm["seconds"])
    loaded = dict(state._embedders)
    assert loaded, "the scene model was not loaded"
    client = app.test_client()
    login(client, "alice")
    html = client.get("/?similar=animals/chelsea.png").get_data(as_text=True)
    assert ids(html)
    assert dict(state._embedders) == loaded  # the search used the warmed model, no second load
    assert re.search(
        r'id="warmup">ready · scene model [\d.]+ s', client.get("/index/").get_data(True)
    )
    # Tests (TESTING) start without it unless asked.
    quiet = create_app(
        make_settings(data_dir), test_config={"TESTING": True, "ES_VISUAL_BACKEND": backend}
    )
    assert quiet.extensions["es_visual"].warmup.state == "off"


def test_re_analyze_everything_asks_first_with_the_count(as_alice) -> None:
    app_state = as_alice.application.extensions["es_visual"]
    html = as_alice.post("/jobs/", data={"kind": "reindex"}).get_data(as_text=True)
    assert 'id="reindex-confirm"' in html and "Re-analyze 4 assets?" in html
    assert 'name="confirmed" value="1"' in html
    assert app_state.jobs.list() == []  # nothing started until confirmed
