"""Video reading and sampling on videos made here with PyAV from real sample images."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from es_visual.errors import MediaError
from es_visual.media.video import Sampling, frame_distance, open_video, sample_video

# Four shots of two seconds each at 10 fps with a keyframe every second.
SHOTS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"]
SIZE = (160, 120)


def make_video(
    path: Path,
    images: list[Image.Image],
    *,
    secs: float = 2.0,
    fps: int = 10,
    gop: int = 10,
    rotation: float | None = None,
    times_ms: list[int] | None = None,
    audio: bool = False,
) -> Path:
    """H.264 in MP4; ``times_ms`` gives each frame's own pts (variable frame rate)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        if times_ms is not None:
            stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        frames = [im for im in images for _ in range(round(secs * fps))]
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


def test_frame_distance_separates_cuts_from_sameness(shots) -> None:
    thumbs = [np.asarray(s.resize((32, 32))) for s in shots]
    assert frame_distance(thumbs[0], thumbs[0]) == 0.0
    cuts = [frame_distance(a, b) for a in thumbs for b in thumbs if a is not b]
    assert min(cuts) > Sampling().threshold


def test_sampling_spec_errors() -> None:
    assert str(Sampling.parse("fps=2.5")) == "fps=2.5"
    assert Sampling.parse("scene=0.4").threshold == 0.4
    for bad in ("fps", "fps=0", "fps=x", "scene=2", "keyframes=3", "every"):
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
