"""The demo a new user runs first: it must find what it says it finds."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from es_visual.cli import cli


def test_demo_finds_the_originals_the_video_segment_and_respects_acls(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "demo", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ingest"]["failed"] == 0 and out["ingest"]["written"] >= 20
    searches = out["searches"]

    def top(prefix: str) -> list[dict]:
        (title,) = [t for t in searches if t.startswith(prefix)]
        return searches[title]["hits"]

    assert top("By image: chelsea")[0]["id"] == "animals/chelsea.png"
    assert top("By image: astronaut")[0]["id"] == "people/astronaut.png"
    assert top("By image: rocket")[0]["id"] == "space/rocket.jpg"
    assert top("Find similar")[0]["id"] == "vehicles/motorcycle_right.png"
    assert all("texture" in h["source"]["tags"] for h in top("By image, only where"))

    (video,) = top("Inside videos")
    assert video["id"] == "video/slideshow.mp4"
    # The rocket is the second 3-second shot; allow one sampling step (1 s keyframes).
    (segment,) = video["segments"]
    assert abs(segment["start"] - 3.0) <= 1.0 and abs(segment["end"] - 6.0) <= 1.0

    kitty = [h["id"] for h in top('By words, offline: "a kitty"')]
    assert kitty[0] in {"animals/chelsea.png", "video/slideshow.mp4"}
    portrait = [h["id"] for h in top('By words, offline: "a portrait')]
    assert "people/astronaut.png" in portrait[:2]

    bob = {h["id"] for h in top("As user bob")}
    ana = {h["id"] for h in top("As user ana")}
    assert "science/hubble_deep_field.jpg" in ana and "science/hubble_deep_field.jpg" not in bob

    # Running it again changes nothing: everything is unchanged and skipped.
    again = json.loads(
        CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "demo", "--json"]).stdout
    )
    assert again["ingest"]["written"] == 0 and again["ingest"]["skipped"] == out["ingest"]["seen"]
