"""The analyzer for videos: sampled frames, a representative scene, faces per frame.

Registered in ``ANALYZERS["video"]`` on import. What it writes::

    visual.media_type = "video", width, height (upright), duration (s)
    visual.frames     = [{t}, ...]          each frame queued as slot ("frames", i)
    visual.scene      <- the representative frame, queued as slot ("scene",)
    visual.faces / visual.regions           from the image hooks, run on each
                                            kept frame when the preset says so,
                                            every item stamped with its frame's t

The representative frame is the medoid of the kept frames by the sampler's
thumbnail distance: the frame most like all the others, so a video that is
mostly one shot with a short title card is represented by the shot.

Every kept frame stands for the stretch of video until the next one: the
timeline's segments are built from these times (``query.segments``), for frames
and for the faces and regions found in them alike.

Options (the preset's ``video`` section, all optional): ``sampling``
(``auto`` | ``auto=S`` | ``keyframes`` | ``fps=N`` | ``scene`` | ``scene=T``;
default ``auto``: a frame at least every second, scaled down for long videos,
plus key frames and scene changes), ``max_frames`` (the per-video budget, 600),
``embed_side`` (longest side of the frame handed to the scene model, 320),
``detect_side`` (longest side faces/objects are looked for in, 640),
``faces`` / ``objects`` (run those hooks on frames, false).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from es_visual.ingest.analyze import Analysis, register
from es_visual.media.phash import frame_hash
from es_visual.media.video import DEFAULT_MAX_FRAMES, Sampling, open_video

if TYPE_CHECKING:
    from PIL import Image

    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import Asset

DEFAULTS: dict[str, Any] = {
    "sampling": "auto",
    "max_frames": DEFAULT_MAX_FRAMES,
    # Scene models look at ~224 px; every kept frame waits in memory for the batch.
    "embed_side": 320,
    "detect_side": 640,
    "faces": False,
    "objects": False,
}


def video_options(config: PipelineConfig) -> dict[str, Any]:
    return {**DEFAULTS, **(config.options.get("video") or {})}


def frame_hooks(config: PipelineConfig, options: dict[str, Any]) -> list[Any]:
    """The image hooks to run on each kept frame, as the options select them."""
    from es_visual.ingest.hooks import FacesHook, ObjectsHook

    chosen = []
    for hook in config.image_hooks:
        if (isinstance(hook, FacesHook) and options["faces"]) or (
            isinstance(hook, ObjectsHook) and options["objects"]
        ):
            chosen.append(hook)
    return chosen


@register("video")
def analyze_video(asset: Asset, config: PipelineConfig, base: dict[str, Any]) -> Analysis:
    options = video_options(config)
    hooks = frame_hooks(config, options)
    embed_side = int(options["embed_side"])
    side = max(embed_side, int(options["detect_side"])) if hooks else embed_side
    sampling = Sampling.parse(
        options["sampling"], max_frames=int(options["max_frames"]), max_side=side
    )
    analysis = Analysis(asset=asset, visual={**base, "media_type": "video"})
    visual = analysis.visual
    frames: list[dict[str, Any]] = visual.setdefault("frames", [])
    thumbs: list[np.ndarray] = []
    pictures: list[Image.Image] = []
    last_t = 0.0
    with open_video(asset.path, sampling, max_pixels=config.max_pixels) as video:
        info = video.info
        for frame in video.frames():
            picture = _fit(frame.image, embed_side)
            index = len(frames)
            # A perceptual hash per frame: `es-visual dups` matches copies frame by frame.
            frames.append({"t": round(frame.t, 3), "phash": frame_hash(picture)})
            analysis.crops.append((("frames", index), picture))
            pictures.append(picture)
            thumbs.append(np.asarray(picture.resize((32, 32))))
            if hooks:
                _run_hooks(analysis, hooks, frame.image, round(frame.t, 3))
            last_t = frame.t
    if not frames:
        from es_visual.core.errors import MediaError

        raise MediaError("no frame could be sampled from the video", path=str(asset.path))
    # The last kept frame's interval needs an end: the container's duration, unless it is
    # missing, zero or shorter than the frames actually decoded (a truncated header).
    step = 1.0 / info.fps if info.fps else 0.0
    visual.update(
        width=info.width,
        height=info.height,
        duration=round(max(info.duration or 0.0, last_t + step), 3),
    )
    analysis.crops.append((("scene",), pictures[medoid(thumbs)]))
    return analysis


# The medoid is looked for among at most this many frames, evenly spread (O(n^2) pairs).
MEDOID_CANDIDATES = 160


def medoid(thumbs: list[np.ndarray]) -> int:
    """Index of the thumbnail with the least total distance to all the others, by
    ``media.video.frame_distance`` computed for all pairs at once; a long video's frames
    are thinned to ``MEDOID_CANDIDATES`` evenly spread ones first."""
    n = len(thumbs)
    if n <= 2:
        return 0
    picks = np.unique(np.linspace(0, n - 1, min(n, MEDOID_CANDIDATES)).round().astype(int))
    stack = np.stack([thumbs[i] for i in picks]).astype(np.int16)  # (m, 32, 32, 3)
    m = len(picks)
    # Colour histograms (16 bins per channel) as in frame_distance, normalized per channel.
    hist = np.stack(
        [
            np.apply_along_axis(np.bincount, 1, (stack[..., c] >> 4).reshape(m, -1), None, 16)
            for c in range(3)
        ],
        axis=1,
    ).astype(np.float32) / (2.0 * stack[0, ..., 0].size)  # (m, 3, 16)
    flat = stack.reshape(m, -1)
    totals = np.zeros(m)
    for i in range(m):
        h = np.abs(hist - hist[i]).sum(axis=(1, 2)) / 3.0
        px = np.abs(flat - flat[i]).mean(axis=1) / 255.0
        totals[i] = (0.5 * h + 0.5 * px).sum()
    return int(picks[int(np.argmin(totals))])


def _run_hooks(analysis: Analysis, hooks: list[Any], image: Image.Image, t: float) -> None:
    """Run image hooks on one frame and stamp everything they added with ``t``."""
    visual = analysis.visual
    before = {name: len(visual.setdefault(name, [])) for name in ("faces", "regions")}
    for hook in hooks:
        hook(analysis, image)
    for name, count in before.items():
        for item in visual[name][count:]:
            item["t"] = t


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    copy = image.copy()
    copy.thumbnail((max_side, max_side))
    return copy
