"""Open a video safely and stream sampled frames out of it (PyAV).

Four sampling modes, picked by a short spec string (``Sampling.parse``):

* ``auto`` / ``auto=S`` (the default) - covers the whole video: a floor of one
  frame every ``S`` seconds (default 1) measured from the last kept frame, plus
  key frames and scene changes in between (see ``CoverPlan``). Long videos are
  scaled down to the per-video budget ``max_frames``: the floor widens to
  ``2 * duration / max_frames`` and the extra frames share the other half of the
  budget, so a 2-hour film keeps about as many frames as a 10-minute clip. The
  decoder skips non-reference frames (``skip_frame = NONREF``: B-frames nothing
  depends on), which halves decoding for typical H.264 at no cost in coverage.
* ``keyframes`` - the decoder is told to skip every non-key frame
  (``skip_frame = NONKEY``), so only I-frames are decoded at all: the cheapest
  mode, and one whose frames are the ones the encoder thought were new. A clip
  encoded with one key frame yields one frame.
* ``fps=N`` - one frame per 1/N seconds of *presentation time*, so variable
  frame rate files sample evenly.
* ``scene`` / ``scene=T`` - every frame is decoded, but only compared through
  a 32x32 thumbnail; a frame is kept when it differs from the last kept one by
  more than ``T`` (0..1, default 0.25; see ``frame_distance``).

In the other modes ``max_frames`` spreads the budget over the whole video when
the duration is known (a minimum gap of duration/max_frames between kept
frames) instead of stopping after the first minutes. Every mode stops hard at
the cap when the duration is unknown.

Frames are yielded one at a time, already shrunk to ``max_side`` and turned
upright (display matrix or ``rotate`` tag), so memory stays flat whatever the
video's length. Times are seconds from the stream's start, read from each
frame's pts, never from a frame counter. ``Video.frame_at(t)`` seeks to one
moment (thumbnails, "search by this frame") without decoding from the start.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from es_visual.core.errors import MediaError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

Mode = Literal["auto", "keyframes", "fps", "scene"]
# Frames bigger than this are refused before decoding: the video analogue of a
# decompression bomb (a tiny file can declare 60000x60000 frames).
DEFAULT_MAX_PIXELS = 64_000_000
# Per-video budget of kept frames: 1 frame/s up to 5 minutes, then scaled down. Each kept
# frame is one nested vector (Elasticsearch's default limit is 10000 per document) and
# one picture waiting for the model (~150 KB at 224 px), so this bounds both.
DEFAULT_MAX_FRAMES = 600
DEFAULT_EVERY = 1.0
DEFAULT_THRESHOLD = 0.25
_THUMB = 32


@dataclass(frozen=True)
class Sampling:
    """How frames are picked. ``every`` is used by mode ``auto``, ``fps`` by ``fps``,
    ``threshold`` by ``auto`` and ``scene``."""

    mode: Mode = "auto"
    fps: float = 1.0
    threshold: float = DEFAULT_THRESHOLD
    max_frames: int = DEFAULT_MAX_FRAMES
    max_side: int = 512
    every: float = DEFAULT_EVERY

    @classmethod
    def parse(
        cls, spec: str, *, max_frames: int = DEFAULT_MAX_FRAMES, max_side: int = 512
    ) -> Sampling:
        """``auto``, ``auto=2``, ``keyframes``, ``fps=2``, ``scene`` or ``scene=0.4``."""
        text = str(spec).strip().lower()
        name, _, arg = text.partition("=")
        name = name.strip()
        sized = {"max_frames": max_frames, "max_side": max_side}
        try:
            if name == "auto":
                every = float(arg) if arg else DEFAULT_EVERY
                if not (every > 0 and math.isfinite(every)):
                    raise ValueError
                return cls("auto", every=every, **sized)
            if name == "keyframes" and not arg:
                return cls("keyframes", **sized)
            if name == "fps" and arg:
                fps = float(arg)
                if not (fps > 0 and math.isfinite(fps)):
                    raise ValueError
                return cls("fps", fps=fps, **sized)
            if name == "scene":
                threshold = float(arg) if arg else DEFAULT_THRESHOLD
                if not 0.0 < threshold < 1.0:
                    raise ValueError
                return cls("scene", threshold=threshold, **sized)
        except ValueError:
            pass
        raise ValueError(
            f"bad sampling {spec!r}: expected 'auto' / 'auto=S' (a frame at least every "
            f"S > 0 seconds), 'keyframes', 'fps=N' (N > 0) or 'scene' / 'scene=T' (0 < T < 1)"
        )

    def __str__(self) -> str:
        if self.mode == "auto":
            return "auto" if self.every == DEFAULT_EVERY else f"auto={self.every:g}"
        if self.mode == "fps":
            return f"fps={self.fps:g}"
        if self.mode == "scene":
            return f"scene={self.threshold:g}"
        return "keyframes"


class CoverPlan:
    """Which frames ``auto`` keeps, decided frame by frame in presentation order.

    * the first frame, and a *floor* frame whenever ``gap`` seconds have passed since
      the last kept frame: no stretch of the video is ever longer than ``gap`` without one;
    * in between, an *extra* frame while extra budget is left: at a scene change
      (``changed()``: thumbnail distance to the last kept frame over the threshold) once
      ``gap / 4`` has passed since the last kept frame (a cut 0.3 s after a floor frame
      still gets its own frame at 1 s floors), or at a key frame once ``gap / 2`` has.

    The budget: ``gap = max(every, 2 * duration / budget)`` holds floor frames to about
    half of it; extras draw on the rest through a token bucket (a burst of 1/8 of the
    extras, at least 2, for busy stretches; the remainder accruing evenly over the
    duration), so the cuts of the last hour get frames too. Unknown duration: the plain
    floor, extras one per ``gap``, and the hard cap ends sampling at ``budget``.
    """

    def __init__(self, every: float, budget: int, duration: float | None) -> None:
        if duration is not None and duration > 0:
            self.gap = max(every, 2.0 * duration / budget)
            extra = max(0, budget - (math.floor(duration / self.gap) + 1))
            self.burst = float(min(extra, max(2, extra // 8)))
            self.rate = (extra - self.burst) / duration
        else:
            self.gap = every
            self.burst, self.rate = 4.0, 1.0 / self.gap
        self.min_gap = self.gap / 4
        self.tokens = self.burst
        self.last: float | None = None  # the last kept frame's time
        self._clock = 0.0  # the time tokens were last topped up to

    def decide(self, t: float, key: bool, changed: Callable[[], bool]) -> str | None:
        """``"start"``, ``"floor"``, ``"scene"``, ``"key"`` or None (skip this frame)."""
        self.tokens = min(self.burst, self.tokens + self.rate * max(0.0, t - self._clock))
        self._clock = max(self._clock, t)
        last = self.last
        if last is None:
            return self._keep(t, "start")
        since = t - last
        if since >= self.gap - 1e-6:
            return self._keep(t, "floor")
        if since < self.min_gap - 1e-6 or self.tokens < 1.0:
            return None
        if changed():
            return self._spend(t, "scene")
        if key and since >= self.gap / 2 - 1e-6:
            return self._spend(t, "key")
        return None

    def _spend(self, t: float, reason: str) -> str:
        self.tokens -= 1.0
        return self._keep(t, reason)

    def _keep(self, t: float, reason: str) -> str:
        self.last = t
        return reason


@dataclass(frozen=True)
class VideoInfo:
    """What the container says, with rotation applied to ``width``/``height``."""

    width: int
    height: int
    duration: float | None  # seconds; None when neither container nor stream tells
    rotation: int  # degrees clockwise the stored frames are turned to display upright
    fps: float | None  # average rate; only a hint for variable frame rate files
    codec: str
    audio_streams: int


@dataclass(frozen=True)
class SampledFrame:
    t: float  # seconds from the start of the stream
    image: Image.Image  # RGB, upright, longest side <= max_side
    key: bool  # decoded from a key frame
    # Why it was kept: start | floor | scene | key (auto); keyframe | fps | scene otherwise.
    reason: str = ""


class Video:
    """An open video. Use as a context manager; ``frames()`` streams sampled frames.

    Opening already decodes the first frame, so a file that cannot produce one
    (truncated, corrupt, audio only) fails here with a ``MediaError``, and the
    rotation (carried on frames) is known before anything is sampled. The
    sampling is fixed at open because keyframe mode must tell the decoder
    before its first packet.
    """

    def __init__(
        self,
        path: str | Path,
        sampling: Sampling | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        import av

        self.path = str(path)
        self.sampling = sampling or Sampling()
        self.decoded = 0  # frames the decoder produced so far (tests and benchmarks read it)
        p = Path(path)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise MediaError(f"cannot read file: {exc.strerror or exc}", path=self.path) from exc
        if size == 0:
            raise MediaError("empty file (0 bytes)", path=self.path)
        try:
            self._container: Any = av.open(self.path, mode="r")
        except av.FFmpegError as exc:
            raise MediaError(
                f"not a readable video: truncated, corrupt or not a video at all "
                f"({_ff_reason(exc)})",
                path=self.path,
            ) from exc
        try:
            self._init_stream(max_pixels)
        except BaseException:
            self.close()
            raise

    def _init_stream(self, max_pixels: int) -> None:
        container = self._container
        videos = [s for s in container.streams.video]
        audio = len(container.streams.audio)
        if not videos:
            if not len(container.streams):
                raise MediaError(
                    "no video stream: the file holds no streams at all (a zero-length video)",
                    path=self.path,
                )
            what = f"{audio} audio stream(s) and " if audio else ""
            raise MediaError(f"no video stream (the file has {what}no video)", path=self.path)
        # Cover art in an audio file shows up as a one-frame "video" stream.
        real = [s for s in videos if not s.disposition & _attached_pic()] or videos
        stream = real[0]
        self._stream = stream
        ctx = stream.codec_context
        if ctx.width and ctx.height and ctx.width * ctx.height > max_pixels:
            raise MediaError(
                f"frames of {ctx.width}x{ctx.height} exceed the limit of {max_pixels} pixels",
                path=self.path,
            )
        # Slice/frame threads make 720p+ decoding several times faster than one thread.
        ctx.thread_type = "AUTO"
        if self.sampling.mode == "keyframes":
            ctx.skip_frame = "NONKEY"
        elif self.sampling.mode == "auto":
            # Frames no other frame refers to (most B-frames) can go undecoded safely.
            ctx.skip_frame = "NONREF"
        self._start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        self._frames: Iterator[Any] | None = self._decode()
        self._first = next(self._frames, None)
        if self._first is None:
            raise MediaError(
                "no decodable video frame (zero-length, truncated or corrupt)", path=self.path
            )
        rotation = _rotation(self._first, stream)
        w, h = self._first.width, self._first.height
        if rotation in (90, 270):
            w, h = h, w
        rate = stream.average_rate or stream.guessed_rate
        self.info = VideoInfo(
            width=w,
            height=h,
            duration=self._duration(),
            rotation=rotation,
            fps=float(rate) if rate else None,
            codec=ctx.name,
            audio_streams=audio,
        )

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if self._container.duration:
            return self._container.duration / 1_000_000  # AV_TIME_BASE
        return None

    def _decode(self) -> Iterator[Any]:
        import av

        try:
            for frame in self._container.decode(self._stream):
                self.decoded += 1
                yield frame
        except av.FFmpegError as exc:
            raise MediaError(
                f"corrupt or truncated video after {self.decoded} frame(s) ({_ff_reason(exc)})",
                path=self.path,
            ) from exc

    def _time(self, frame: Any, previous: float | None) -> float:
        t = frame.time
        if t is None:
            # No pts (some raw/AVI streams): best guess is one average frame after the last.
            step = 1.0 / self.info.fps if self.info.fps else 0.04
            return 0.0 if previous is None else previous + step
        return max(0.0, float(t) - self._start)

    def frames(self) -> Iterator[SampledFrame]:
        """Sampled frames in presentation order; iterate once per open video."""
        if self._frames is None:
            raise RuntimeError("frames() can be iterated only once per open video")
        sampling = self.sampling
        frames, self._frames = self._frames, None
        first, self._first = self._first, None
        select = self._selector()
        kept = 0
        previous: float | None = None
        for frame in _chain(first, frames):
            if kept >= sampling.max_frames:
                break
            t = self._time(frame, previous)
            previous = t
            reason = select(frame, t)
            if reason is None:
                continue
            kept += 1
            image = self._to_image(frame, sampling.max_side)
            yield SampledFrame(t=t, image=image, key=frame.key_frame, reason=reason)

    def _selector(self) -> Callable[[Any, float], str | None]:
        """``(frame, t) -> why it is kept, or None`` for this video's sampling mode."""
        sampling = self.sampling
        duration = self.info.duration
        last_thumb: list[np.ndarray] = []  # the last kept frame's thumbnail, once there is one

        def changed(frame: Any) -> bool:
            thumb = _thumbnail(frame)
            if last_thumb and frame_distance(thumb, last_thumb[0]) < sampling.threshold:
                return False
            last_thumb[:] = [thumb]
            return True

        if sampling.mode == "auto":
            plan = CoverPlan(sampling.every, sampling.max_frames, duration)

            def cover(frame: Any, t: float) -> str | None:
                reason = plan.decide(t, frame.key_frame, lambda: changed(frame))
                if reason is not None and reason != "scene":
                    last_thumb[:] = [_thumbnail(frame)]  # the next change is measured from here
                return reason

            return cover
        # Spread max_frames over the whole video rather than stopping after its start.
        gap = duration / sampling.max_frames if duration else 0.0
        if sampling.mode == "fps":
            gap = max(gap, 1.0 / sampling.fps)
        last: list[float] = []

        def spaced(frame: Any, t: float) -> str | None:
            if sampling.mode == "keyframes" and not frame.key_frame:
                return None  # a decoder that ignores skip_frame still gets sampled right
            if last and t < last[0] + gap - 1e-6:
                return None
            if sampling.mode == "scene" and not changed(frame):
                return None
            # fps: grid-aligned slots (0, 1/N, 2/N, ...) so the jitter of VFR does not drift.
            keep_at = math.floor(t / gap + 1e-6) * gap if sampling.mode == "fps" and gap else t
            last[:] = [keep_at]
            return {"keyframes": "keyframe", "fps": "fps", "scene": "scene"}[sampling.mode]

        return spaced

    def frame_at(self, t: float) -> SampledFrame:
        """The frame on screen at ``t`` seconds (the last one shown at or before it), found
        by seeking to the key frame before ``t`` and decoding forward from there. Use on a
        video whose ``frames()`` has not been iterated; the sampling mode does not matter."""
        import av

        stream = self._stream
        stream.codec_context.skip_frame = "DEFAULT"
        t = max(0.0, float(t))
        first, self._first, self._frames = self._first, None, None
        if first is not None and self._time(first, None) >= t - 1e-3:
            return self._sampled(first, self._time(first, None))
        try:
            if stream.time_base:
                self._container.seek(
                    int((t + self._start) / stream.time_base), stream=stream, backward=True
                )
        except av.FFmpegError as exc:
            raise MediaError(
                f"cannot seek to {t:.3f} s ({_ff_reason(exc)})", path=self.path
            ) from exc
        shown: tuple[Any, float] | None = None
        for frame in self._decode():
            ft = self._time(frame, shown[1] if shown else None)
            if shown is not None and ft > t + 1e-3:
                break
            shown = (frame, ft)
            if ft > t + 1e-3:  # the seek landed after t (no earlier key frame): take it
                break
        if shown is None:
            raise MediaError(f"no frame at {t:.3f} s (past the end?)", path=self.path)
        return self._sampled(*shown)

    def _sampled(self, frame: Any, t: float) -> SampledFrame:
        image = self._to_image(frame, self.sampling.max_side)
        return SampledFrame(t=t, image=image, key=frame.key_frame, reason="seek")

    def _to_image(self, frame: Any, max_side: int) -> Image.Image:
        from PIL import Image

        w, h = frame.width, frame.height
        scale = min(1.0, max_side / max(w, h))
        # Scaling in swscale, before RGB conversion, is far cheaper than in Pillow after.
        image = frame.reformat(
            width=max(1, round(w * scale)), height=max(1, round(h * scale)), format="rgb24"
        ).to_image()
        rotation = self.info.rotation
        if rotation == 90:
            image = image.transpose(Image.Transpose.ROTATE_270)
        elif rotation == 180:
            image = image.transpose(Image.Transpose.ROTATE_180)
        elif rotation == 270:
            image = image.transpose(Image.Transpose.ROTATE_90)
        return image

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(
    path: str | Path, sampling: Sampling | None = None, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Video:
    """Open ``path`` as a video or raise ``MediaError`` saying why it is not one."""
    return Video(path, sampling, max_pixels=max_pixels)


def sample_video(
    path: str | Path, sampling: Sampling, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[SampledFrame]:
    """Stream sampled frames of ``path``; the file is closed when the generator ends."""
    with open_video(path, sampling, max_pixels=max_pixels) as video:
        yield from video.frames()


def frame_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two 32x32 RGB thumbnails are, in [0, 1].

    The mean of a colour-histogram distance (blind to motion, sees a cut to a
    differently coloured shot) and a mean pixel difference (sees a cut between
    shots of similar colours). Cuts between skimage's sample photos measure
    0.28-0.49; a pan across 10% of the picture 0.06-0.18 (and a slow pan is
    kept again once it has drifted past the threshold: new content).
    """
    hist = 0.0
    for c in range(3):
        ha = np.bincount(a[..., c].ravel() >> 4, minlength=16)
        hb = np.bincount(b[..., c].ravel() >> 4, minlength=16)
        hist += np.abs(ha - hb).sum() / (2.0 * a[..., c].size)
    pixels = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() / 255.0
    return float(0.5 * hist / 3.0 + 0.5 * pixels)


def _thumbnail(frame: Any) -> np.ndarray:
    return frame.reformat(width=_THUMB, height=_THUMB, format="rgb24").to_ndarray()


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest


def _rotation(frame: Any, stream: Any) -> int:
    """Degrees clockwise to turn stored frames upright: the display matrix carried on
    frames (FFmpeg's convention: counter-clockwise), else the legacy ``rotate`` tag."""
    angle: float | None = None
    try:
        ccw = frame.rotation
        if ccw:
            angle = -float(ccw)
    except (AttributeError, ValueError):
        pass
    if angle is None:
        tag = (stream.metadata or {}).get("rotate")
        try:
            angle = float(tag) if tag is not None else 0.0
        except ValueError:
            angle = 0.0
    return round(angle / 90.0) * 90 % 360


def _attached_pic() -> int:
    import av

    return int(av.stream.Disposition.attached_pic)


def _ff_reason(exc: Exception) -> str:
    """FFmpeg's own words without the path it repeats."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc).strip().rstrip(".")
