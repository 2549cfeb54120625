"""Video reading and sampling on videos made here with PyAV from real sample images."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from es_visual.core.errors import MediaError
from es_visual.media.video import CoverPlan, Sampling, frame_distance, open_video, sample_video

# Four shots of two seconds each at 10 fps with a keyframe every second.
SHOTS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
SIZE = (160, 120)


def make_video(
    path: Path,
    images: list[Image.Image],
    *,
    secs: float | list[float] = 2.0,
    fps: int = 10,
    gop: int = 10,
    rotation: float | None = None,
    times_ms: list[int] | None = None,
    audio: bool = False,
    preset: str = "ultrafast",
) -> Path:
    """H.264 in MP4, ``secs`` per image (one for all, or one each); ``times_ms`` gives each
    frame's own pts (variable frame rate). ``preset="ultrafast"`` has no B-frames and no
    key frames at cuts; the others have both, as real encodes do."""
    spans = secs if isinstance(secs, list) else [secs] * len(images)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        options = {"preset": preset}
        if preset == "ultrafast":
            options["sc_threshold"] = "0"
        stream.codec_context.options = options
        if times_ms is not None:
            stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        frames = [im for im, s in zip(images, spans, strict=True) for _ in range(round(s * fps))]
        for i, im in enumerate(frames):
            frame = av.VideoFrame.from_image(im)
            if times_ms is not None:
                frame.pts = times_ms[i]
                frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_audio_only(path: Path, secs: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = int(16000 * secs)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def shots(skimage_dir: Path) -> list[Image.Image]:
    return [Image.open(skimage_dir / n).convert("RGB").resize(SIZE) for n in SHOTS]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, shots: list[Image.Image]) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "shots.mp4", shots)


def times(path: Path, spec: str, **kw: int) -> list[float]:
    return [round(f.t, 2) for f in sample_video(path, Sampling.parse(spec, **kw))]


def test_metadata(clip: Path) -> None:
    with open_video(clip) as video:
        info = video.info
    assert (info.width, info.height, info.rotation) == (160, 120, 0)
    assert info.duration == pytest.approx(8.0, abs=0.1)
    assert info.fps == pytest.approx(10.0)


def test_keyframes_mode_decodes_only_keyframes(clip: Path) -> None:
    with open_video(clip, Sampling.parse("keyframes")) as video:
        frames = list(video.frames())
        decoded = video.decoded
    assert [round(f.t, 2) for f in frames] == [float(s) for s in range(8)]
    assert all(f.key for f in frames)
    # 80 frames in the file; the decoder produced only the 8 key frames.
    assert decoded == 8


def test_fps_mode_samples_by_time(clip: Path) -> None:
    got = times(clip, "fps=2")
    assert got == [i / 2 for i in range(16)]
    with open_video(clip, Sampling.parse("fps=2")) as video:
        list(video.frames())
        assert video.decoded == 80  # inter frames need every frame decoded


def test_scene_mode_keeps_one_frame_per_shot(clip: Path) -> None:
    assert times(clip, "scene") == [0.0, 2.0, 4.0, 6.0]


def test_max_frames_spreads_over_the_whole_video(clip: Path) -> None:
    got = times(clip, "fps=10", max_frames=4)
    assert got == [0.0, 2.0, 4.0, 6.0]
    assert len(times(clip, "keyframes", max_frames=3)) == 3


def test_frames_are_shrunk_to_max_side(clip: Path) -> None:
    frame = next(iter(sample_video(clip, Sampling.parse("keyframes", max_side=80))))
    assert frame.image.size == (80, 60) and frame.image.mode == "RGB"


def test_variable_frame_rate_uses_presentation_times(tmp_path: Path, shots) -> None:
    # Ten frames at irregular times: a frame index would put frame 5 at 0.5 s.
    stamps = [0, 40, 100, 700, 750, 1500, 1520, 2600, 2650, 3000]
    path = make_video(tmp_path / "vfr.mp4", shots[:1], secs=1.0, fps=10, times_ms=stamps)
    got = [round(f.t, 3) for f in sample_video(path, Sampling.parse("fps=1"))]
    # One frame per 1-second slot: the first frame at or after 0, 1, 2 and 3 s.
    assert got == [0.0, 1.5, 2.6, 3.0]


def test_rotation_from_display_matrix(tmp_path: Path) -> None:
    # Left half red, right half blue; a display matrix of 90 degrees counter-clockwise.
    image = Image.new("RGB", SIZE, (255, 0, 0))
    image.paste((0, 0, 255), (SIZE[0] // 2, 0, SIZE[0], SIZE[1]))
    path = make_video(tmp_path / "rot.mp4", [image], secs=1.0, rotation=90)
    with open_video(path) as video:
        assert (video.info.width, video.info.height) == (120, 160)
        frame = next(video.frames())
    assert frame.image.size == (120, 160)
    pixels = np.asarray(frame.image).astype(int)
    # Turned counter-clockwise, the right (blue) half ends up on top.
    assert pixels[:70, :, 2].mean() > 200 and pixels[90:, :, 0].mean() > 200


# --- auto: the default, frames throughout ---------------------------------------------


def test_auto_covers_a_clip_with_a_single_key_frame(tmp_path: Path, shots) -> None:
    """The issue's clip: 5 s, one key frame at 0, cuts at 1.5 s and 3.2 s. Keyframe mode
    sees one frame; auto keeps a frame every second and one at each cut, on the cut."""
    path = make_video(tmp_path / "cuts.mp4", shots[:3], secs=[1.5, 1.7, 1.8], gop=600)
    assert times(path, "keyframes") == [0.0]
    with open_video(path) as video:  # the default sampling
        got = [(round(f.t, 2), f.reason) for f in video.frames()]
    assert got == [
        (0.0, "start"),
        (1.0, "floor"),
        (1.5, "scene"),
        (2.5, "floor"),
        (3.2, "scene"),
        (4.2, "floor"),
    ]
    # auto=S: the floor is every S seconds; the cuts are still found.
    assert times(path, "auto=2") == [0.0, 1.5, 3.2]


def test_auto_fits_a_long_video_in_the_budget_and_still_reaches_its_end(
    tmp_path: Path, shots
) -> None:
    # 64 s, a cut every 2 s (32 shots): with a budget of 20 the floor widens to 6.4 s.
    path = make_video(tmp_path / "long.mp4", shots * 8, secs=2.0, fps=5, gop=50)
    with open_video(path, Sampling.parse("auto", max_frames=20)) as video:
        kept = list(video.frames())
        assert video.info.duration == pytest.approx(64.0, abs=0.3)
    got = [f.t for f in kept]
    assert len(got) <= 20
    assert got[-1] >= 64.0 - 6.4 - 0.2  # the end is covered, not cut off by the cap
    assert max(b - a for a, b in pairwise(got)) <= 6.4 + 0.2 + 1e-6
    # The budget left after the floor went to cuts, spread over the video.
    scenes = [f.t for f in kept if f.reason == "scene"]
    assert scenes and scenes[0] < 20 and scenes[-1] > 40


def test_cover_plan_holds_a_two_hour_budget() -> None:
    """The plan alone, on the frame times of a 2-hour 25 fps film with a cut every 4 s and
    a key frame every 10 s: never more than the budget, never a gap wider than the floor."""
    duration, budget = 7200.0, 600
    plan = CoverPlan(1.0, budget, duration)
    assert plan.gap == pytest.approx(24.0)
    kept: list[tuple[float, str]] = []
    for i in range(int(duration * 25)):
        t = i / 25
        cut = i % 100 == 0  # every 4 s
        reason = plan.decide(t, key=i % 250 == 0, changed=lambda cut=cut: cut)
        if reason:
            kept.append((t, reason))
    stamps = [t for t, _ in kept]
    assert len(kept) <= budget
    assert max(b - a for a, b in pairwise(stamps)) <= plan.gap + 0.04
    # Extras are spread: the last hour still gets its cuts.
    late = [t for t, why in kept if why in ("scene", "key") and t > 3600]
    assert len(late) > 100
    # A short clip is not thinned: 1 s floor, every cut.
    short = CoverPlan(1.0, budget, 30.0)
    assert short.gap == 1.0 and short.burst >= 30


def test_auto_skips_only_frames_nothing_refers_to(tmp_path: Path, shots) -> None:
    # x264's usual settings: B-frames, and key frames at cuts.
    path = make_video(tmp_path / "b.mp4", shots, secs=2.0, gop=50, preset="veryfast")
    with open_video(path, Sampling.parse("fps=10")) as video:
        every = [f.t for f in video.frames()]
    with open_video(path) as video:
        kept = list(video.frames())
        decoded = video.decoded
    assert len(every) == 80 and decoded < 80  # non-reference B-frames were not decoded
    got = [round(f.t, 1) for f in kept]
    # Each shot starts with a frame of its own (within a frame), and the floor holds.
    for start in (2.0, 4.0, 6.0):
        assert any(abs(t - start) <= 0.1 for t in got), (start, got)
    assert max(b - a for a, b in pairwise(got)) <= 1.0 + 0.3


def test_frame_at_seeks_to_the_frame_on_screen(clip: Path, shots) -> None:
    def nearest_shot(image: Image.Image) -> int:
        pixels = np.asarray(image, dtype=np.float32)
        errors = [np.abs(pixels - np.asarray(s, dtype=np.float32)).mean() for s in shots]
        return int(np.argmin(errors))

    for t, want_t, shot in [(0.0, 0.0, 0), (4.44, 4.4, 2), (5.99, 5.9, 2), (6.0, 6.0, 3)]:
        with open_video(clip) as video:
            frame = video.frame_at(t)
        assert frame.t == pytest.approx(want_t, abs=1e-6) and nearest_shot(frame.image) == shot
    with open_video(clip) as video:
        assert video.frame_at(99.0).t == pytest.approx(7.9)  # past the end: the last frame
        decoded = video.decoded
    assert decoded <= 12  # seeking: one key frame's group, not the 80 frames before


def test_frame_distance_separates_cuts_from_sameness(shots) -> None:
    thumbs = [np.asarray(s.resize((32, 32))) for s in shots]
    assert frame_distance(thumbs[0], thumbs[0]) == 0.0
    cuts = [frame_distance(a, b) for a in thumbs for b in thumbs if a is not b]
    assert min(cuts) > Sampling().threshold


def test_sampling_spec_errors() -> None:
    assert str(Sampling.parse("fps=2.5")) == "fps=2.5"
    assert Sampling.parse("scene=0.4").threshold == 0.4
    assert Sampling().mode == "auto" and str(Sampling()) == "auto"
    assert Sampling.parse("auto=2").every == 2.0 and str(Sampling.parse("auto=2")) == "auto=2"
    for bad in ("fps", "fps=0", "fps=x", "scene=2", "keyframes=3", "every", "auto=0", "auto=x"):
        with pytest.raises(ValueError, match="keyframes"):
            Sampling.parse(bad)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.mp4", "empty file"),
        ("truncated.mp4", "not a readable video"),
        ("audio.m4a", "no video stream"),
        ("text.mp4", "not a readable video"),
    ],
)
def test_bad_files_raise_media_error(tmp_path: Path, clip: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    if name == "empty.mp4":
        path.write_bytes(b"")
    elif name == "truncated.mp4":
        path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    elif name == "audio.m4a":
        make_audio_only(path)
    else:
        path.write_text("this is not a video\n" * 20)
    with pytest.raises(MediaError, match=reason) as info, open_video(path) as video:
        list(video.frames())
    assert info.value.path == str(path)
