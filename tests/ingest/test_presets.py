"""Pipeline presets: the shipped ones load, bad ones say which file and key, the CLI lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from es_visual.cli.context import AppContext
from es_visual.cli.pipelines import pipelines
from es_visual.config import Settings
from es_visual.core.errors import ConfigError
from es_visual.ingest.analyze import ANALYZERS
from es_visual.ingest.hooks import FacesHook, ObjectsHook
from es_visual.ingest.presets import list_presets, load_preset


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_shipped_presets(settings: Settings) -> None:
    assert {"offline", "clip", "full"} <= set(list_presets(settings))
    offline = load_preset("offline", settings)
    assert (offline.name, offline.model) == ("offline", "mobilenet-v2")
    assert [type(h) for h in offline.image_hooks] == [FacesHook]
    assert offline.options["face_dims"] == 128
    assert offline.options["video"]["sampling"] == "auto"  # frames throughout the video
    clip = load_preset("clip", settings)
    assert clip.model == "clip" and clip.image_hooks == [] and "face_dims" not in clip.options
    full = load_preset("full", settings)
    assert [type(h) for h in full.image_hooks] == [FacesHook, ObjectsHook]
    assert full.options["video"]["objects"] is True
    assert "video" in ANALYZERS  # loading a preset registers the video analyzer


def test_default_pipeline_is_a_preset(settings: Settings) -> None:
    from es_visual.workflows import load_pipeline

    config = load_pipeline(settings)
    assert config.name == settings.pipeline == "offline"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: m\nfaces: {enabeld: true}\n", "unknown key(s) 'enabeld' in faces"),
        ("model: m\nfaces: {upsample: x}\n", "faces.upsample: expected an integer from 0 to 3"),
        ("model: m\nvideo: {sampling: every}\n", "video.sampling: expected auto"),
        ("model: m\nvideo: 3\n", "video: expected a mapping"),
        ("faces: {enabled: true}\n", "model: required"),
        ("model: m\ncolour: red\n", "unknown key(s) 'colour' at the top level"),
        ("model: [m\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of settings"),
    ],
)
def test_bad_presets_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_preset(str(path))
    assert str(path) in str(info.value) and message in str(info.value)


def test_user_presets_come_first(tmp_path: Path, settings: Settings, monkeypatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "offline.yaml").write_text("model: clip\nvideo: {sampling: fps=3}\n")
    (folder / "fast.yml").write_text("model: mobilenet-v2\n")
    monkeypatch.setenv("ES_VISUAL_PIPELINES", str(folder))
    assert list_presets(settings)["offline"] == folder / "offline.yaml"
    assert load_preset("offline", settings).model == "clip"
    fast = load_preset("fast", settings)
    assert fast.name == "fast" and fast.image_hooks == [] and fast.options["video"]["max_frames"]


def test_unknown_preset_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"unknown pipeline preset 'nope'; available: .*offline"):
        load_preset("nope", settings)


def invoke(settings: Settings, *args: str):
    return CliRunner().invoke(pipelines, list(args), obj=AppContext(settings))


def test_cli_list_and_show(settings: Settings) -> None:
    result = invoke(settings, "list")
    assert result.exit_code == 0, result.output
    assert "offline *" in result.output and "faces (yunet)" in result.output
    data = json.loads(invoke(settings, "list", "--json").output)
    assert {row["name"] for row in data} >= {"offline", "clip", "full"}
    shown = invoke(settings, "show", "full")
    assert shown.exit_code == 0 and "weights: yolov8n.pt" in shown.output
    assert json.loads(invoke(settings, "show", "clip", "--json").output)["model"] == "clip"
    missing = invoke(settings, "show", "nope")
    assert missing.exit_code == 1 and "unknown pipeline preset" in missing.output


def test_the_wheel_carries_the_presets_and_the_ui_files(tmp_path):
    """A `pip install es-visual` (a wheel, not this checkout) still has every preset
    `ingest --pipeline` names and the UI's templates: they are package data."""
    import subprocess
    import sys
    import zipfile

    from es_visual.ingest.presets import PACKAGED_DIR

    repo = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(repo), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, cwd=tmp_path, capture_output=True,
    )
    (wheel,) = tmp_path.glob("es_visual-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in PACKAGED_DIR.glob("*.yaml")}
    assert {"offline.yaml", "objects.yaml", "clip.yaml", "full.yaml"} <= shipped
    for name in shipped:
        assert f"es_visual/ingest/pipelines/{name}" in names
    assert "flask_ui/templates/base.html" in names
    assert "es_visual/py.typed" in names
