"""Pipeline presets: ``ingest_pipelines/<name>.yaml`` -> ``PipelineConfig``.

The analogue of Cloudinary's upload presets: a name that fixes the scene
model, which detectors run and how videos are sampled. A preset file looks
like this (every section and key optional except ``model``)::

    description: MobileNetV2 scene vectors, dlib faces, video frames throughout; no network.
    model: mobilenet-v2
    max_side: 512
    max_pixels: 64000000
    faces:   {enabled: true, detector: yunet, upsample: 1, min_score: 0.0,
              max_faces: 20, max_side: 1024, as_regions: false}
    objects: {enabled: false, weights: yolov8n.pt, min_score: 0.35,
              max_regions: 20, classes: [person, dog], device: cpu}
    video:   {sampling: auto, max_frames: 600, embed_side: 320,
              detect_side: 640, faces: true, objects: false}

``video.sampling`` is ``auto`` (the default: a frame at least every second, or
``auto=S`` every S seconds, widened for long videos so ``max_frames`` holds, plus
key frames and scene changes), ``keyframes``, ``fps=N`` or ``scene[=T]``;
``max_frames`` is the per-video budget of frames (see ``media.video``).

Unknown keys and wrong types are refused with a ``ConfigError`` naming the
file and the key (``offline.yaml: faces.upsample: expected ...``), so a typo
never silently turns a detector off.

Presets are looked up, first match wins, in: the folders of the
``ES_VISUAL_PIPELINES`` env var (``os.pathsep``-separated), ``<data_dir>/pipelines``,
``./ingest_pipelines`` and the presets that ship inside the package
(``es_visual/ingest/pipelines/``, package data, so a wheel install has them too).
A name ending in ``.yaml``/``.yml`` or containing a ``/`` is a path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from es_visual.core.errors import ConfigError
from es_visual.ingest import analyze_video  # noqa: F401  (registers the video analyzer)
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.media.video import DEFAULT_MAX_FRAMES

if TYPE_CHECKING:
    from es_visual.config import Settings

ENV_VAR = "ES_VISUAL_PIPELINES"
PACKAGED_DIR = Path(__file__).resolve().parent / "pipelines"  # shipped in the wheel (package data)
FACE_DIMS = 128


# --- the schema ------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    check: Callable[[Any], bool]
    expected: str
    default: Any


def _int(lo: int, hi: int | None = None) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    )


def _num(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _str_list(v: Any) -> bool:
    return v is None or (isinstance(v, list) and all(_str(x) for x in v))


def _sampling(v: Any) -> bool:
    from es_visual.media.video import Sampling

    try:
        Sampling.parse(v)
    except (ValueError, TypeError):
        return False
    return isinstance(v, str)


SCHEMA: dict[str, Any] = {
    "name": _Key(_str, "a non-empty string", None),
    "description": _Key(lambda v: isinstance(v, str), "a string", ""),
    "model": _Key(_str, "an embedder name such as mobilenet-v2 or clip", None),
    "max_side": _Key(_int(32, 8192), "an integer from 32 to 8192", 512),
    "max_pixels": _Key(_int(1), "a positive integer", None),
    "faces": {
        "enabled": _Key(_bool, "true or false", False),
        "detector": _Key(
            _one_of("yunet", "hybrid", "hog", "cnn"), "yunet, hybrid, hog or cnn", "yunet"
        ),
        "encoder": _Key(_one_of("torch", "dlib"), "torch or dlib", "torch"),
        # Cluster the faces into persons as they are written (es_visual.people).
        "people": _Key(_bool, "true or false", True),
        "upsample": _Key(_int(0, 3), "an integer from 0 to 3", 1),
        "min_score": _Key(_num(-5, 5), "a number from -5 to 5", 0.0),
        "max_faces": _Key(_int(1, 1000), "an integer from 1 to 1000", 20),
        "max_side": _Key(_int(64, 8192), "an integer from 64 to 8192", 1024),
        "as_regions": _Key(_bool, "true or false", False),
    },
    "objects": {
        "enabled": _Key(_bool, "true or false", False),
        "weights": _Key(_str, "a weights file path or name (yolov8n.pt)", "yolov8n.pt"),
        "min_score": _Key(_num(0, 1), "a number from 0 to 1", 0.35),
        "max_regions": _Key(_int(1, 1000), "an integer from 1 to 1000", 20),
        "classes": _Key(_str_list, "a list of class names", None),
        "device": _Key(lambda v: v is None or _str(v), "a device name (cpu, cuda:0)", None),
    },
    "video": {
        "sampling": _Key(
            _sampling, "auto[=S] (S > 0), keyframes, fps=N or scene[=T] (0 < T < 1)", "auto"
        ),
        "max_frames": _Key(_int(1, 10_000), "an integer from 1 to 10000", DEFAULT_MAX_FRAMES),
        "embed_side": _Key(_int(32, 4096), "an integer from 32 to 4096", 320),
        "detect_side": _Key(_int(64, 8192), "an integer from 64 to 8192", 640),
        "faces": _Key(_bool, "true or false", False),
        "objects": _Key(_bool, "true or false", False),
    },
}


def validate(data: Any, origin: str) -> dict[str, Any]:
    """The preset with defaults filled in, or ``ConfigError`` naming ``origin`` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings at the top level")
    return _validate_section(data, SCHEMA, origin, "")


def _validate_section(
    data: dict[str, Any], schema: dict[str, Any], origin: str, prefix: str
) -> dict[str, Any]:
    unknown = sorted(str(k) for k in data if k not in schema)
    if unknown:
        where = f"in {prefix.rstrip('.')}" if prefix else "at the top level"
        raise ConfigError(
            f"{origin}: unknown key(s) {', '.join(map(repr, unknown))} {where}; "
            f"known: {', '.join(schema)}"
        )
    out: dict[str, Any] = {}
    for key, rule in schema.items():
        path = prefix + key
        if isinstance(rule, dict):
            section = data.get(key)
            if section is None:
                section = {}
            if not isinstance(section, dict):
                raise ConfigError(f"{origin}: {path}: expected a mapping, got {section!r}")
            out[key] = _validate_section(section, rule, origin, path + ".")
            continue
        if key not in data or data[key] is None:
            out[key] = rule.default
            continue
        value = data[key]
        if not rule.check(value):
            raise ConfigError(f"{origin}: {path}: expected {rule.expected}, got {value!r}")
        out[key] = value
    return out


# --- finding and loading ---------------------------------------------------------


def search_dirs(settings: Settings | None = None) -> list[Path]:
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    if settings is not None:
        dirs.append(Path(settings.data_dir) / "pipelines")
    dirs += [Path.cwd() / "ingest_pipelines", PACKAGED_DIR]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def find_preset(name_or_path: str, settings: Settings | None = None) -> Path:
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"pipeline preset file not found: {path}")
        return path
    for folder in search_dirs(settings):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{text}{suffix}"
            if candidate.is_file():
                return candidate
    known = ", ".join(sorted(list_presets(settings))) or "none"
    raise ConfigError(f"unknown pipeline preset {text!r}; available: {known}")


def read_preset(path: Path) -> dict[str, Any]:
    """The validated preset at ``path`` with every default filled in."""
    import yaml

    origin = path.name if path.parent in (PACKAGED_DIR,) else str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    preset = validate(data if data is not None else {}, origin)
    if preset["model"] is None:
        raise ConfigError(f"{origin}: model: required (an embedder name such as mobilenet-v2)")
    preset["name"] = preset["name"] or path.stem
    preset["file"] = str(path)
    return preset


def load_preset(name_or_path: str, settings: Settings | None = None) -> PipelineConfig:
    """A ready ``PipelineConfig``; detector models load later, on first use."""
    from es_visual.ingest.hooks import build_hooks

    preset = read_preset(find_preset(name_or_path, settings))
    options: dict[str, Any] = {
        "faces": preset["faces"],
        "objects": preset["objects"],
        "video": preset["video"],
        "description": preset["description"],
        "file": preset["file"],
    }
    if preset["faces"]["enabled"]:
        options["face_dims"] = FACE_DIMS
    max_pixels = preset["max_pixels"] or (settings.max_pixels if settings else 64_000_000)
    return PipelineConfig(
        name=preset["name"],
        model=preset["model"],
        max_pixels=max_pixels,
        max_side=preset["max_side"],
        image_hooks=build_hooks(options),
        options=options,
    )


def list_presets(settings: Settings | None = None) -> dict[str, Path]:
    """Every preset name that ``load_preset`` would find, with the file it would read."""
    found: dict[str, Path] = {}
    for folder in search_dirs(settings):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml") and path.is_file():
                found.setdefault(path.stem, path)
    return found
