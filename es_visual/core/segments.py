"""Per-moment matches of a video -> the timeline's segments (merged runs of frames).

Every backend scores a video's children (its sampled frames, or the faces and
regions found in them) against the query and hands the ``(t, score)`` pairs
here, so that the green bars look the same whichever store ran the search.

Extent: each kept frame stands for the interval from its own time to the next
kept frame's (the last one: to the end of the video), so a single matching
frame is a bar, never a zero-length sliver. ``times`` lists every kept frame of
the video (``visual.frames[*].t``); without it the given points are taken as
all the frames there are (what a backend that returns only the best children
can do: an unlisted frame neither breaks nor ends a run).

A run: frames that follow each other in ``times`` and whose best child scores
at or above the threshold. A frame with nothing above it (a dip, or the face is
off screen) ends the run, but runs at most ``gap`` seconds apart merge: a flash
or a one-frame dip at 2 fps does not split a shot; a one-second shot between
two matching ones does. Times come out rounded to milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from es_visual.core.results import Segment

# Without a threshold, frames within this much of the best frame count as matching:
# the bar should show where the best match is, not paint the whole timeline.
RELATIVE_MARGIN = 0.05
# Runs this close (seconds between one's end and the next one's start) are one segment.
GAP_TOLERANCE = 0.5
# A lone frame's extent when neither a next frame nor the duration tells (1 s: auto's floor).
DEFAULT_STEP = 1.0
# The shortest bar: a frame at (or past) the stated end of the video still gets one.
MIN_LENGTH = 0.001


def default_threshold(scores: Iterable[float], margin: float = RELATIVE_MARGIN) -> float:
    """The threshold used when the query gave none: ``margin`` below the best score."""
    best = max(scores, default=0.0)
    return best - margin


def merge_segments(
    frames: Iterable[tuple[float, float]],
    threshold: float | None = None,
    *,
    duration: float | None = None,
    times: Iterable[float] | None = None,
    gap: float = GAP_TOLERANCE,
) -> list[Segment]:
    """Merge ``(t, score)`` points (any order; several at one ``t`` keep the best) into
    segments. ``threshold`` None means ``default_threshold`` of the scores; ``duration``,
    when known, ends the last frame's extent; ``times``: every kept frame of the video."""
    best: dict[float, float] = {}
    for t, score in frames:
        key = _ms(t)
        best[key] = max(best.get(key, -math.inf), float(score))
    if not best:
        return []
    if threshold is None:
        threshold = default_threshold(best.values())
    grid = sorted(best.keys() | {_ms(t) for t in times or ()})
    ends = _extents(grid, duration)
    segments: list[Segment] = []
    run: list[float] | None = None  # [start, end, score, t of the best point]
    for t, end in zip(grid, ends, strict=True):
        here = best.get(t)
        if here is None or here < threshold:
            continue
        if run is not None and t - run[1] <= gap + 1e-9:
            run[1] = end
            if here > run[2]:
                run[2], run[3] = here, t
            continue
        if run is not None:
            segments.append(_segment(run))
        run = [t, end, here, t]
    if run is not None:
        segments.append(_segment(run))
    return segments


def video_segments(
    points: Iterable[tuple[float | None, float]],
    threshold: float | None,
    visual: Mapping[str, Any] | None,
) -> list[Segment]:
    """The segments of one document's matching children, its ``visual`` object giving
    every moment its extent (the times of its kept frames, its duration). ``points``
    are ``(t, score)`` of frames, or of faces/regions seen in frames; those without a
    ``t`` (a photo's faces) are left out, so a photo gets no segments."""
    pts = [(float(t), float(s)) for t, s in points if t is not None and _number(t)]
    if not pts:
        return []
    visual = visual or {}
    frames = visual.get("frames") or ()
    times = [f["t"] for f in frames if isinstance(f, Mapping) and _number(f.get("t"))]
    duration = visual.get("duration")
    return merge_segments(
        pts,
        threshold,
        duration=float(duration) if _number(duration) else None,
        times=times,
    )


def _extents(grid: list[float], duration: float | None) -> list[float]:
    """Where each frame's interval ends: at the next frame, the last one at the end of the
    video (else one step on, the step before it or ``DEFAULT_STEP``); never at its start."""
    ends = []
    for i, t in enumerate(grid):
        if i + 1 < len(grid):
            end = grid[i + 1]
        elif duration is not None and duration > t:
            end = duration
        elif i > 0:
            end = t + (t - grid[i - 1])
        else:
            end = t + DEFAULT_STEP
        ends.append(max(_ms(end), t + MIN_LENGTH))
    return ends


def _segment(run: list[float]) -> Segment:
    start, end, score, t = run
    return Segment(start=_ms(start), end=_ms(end), score=score, t=_ms(t))


def _ms(t: float) -> float:
    return round(float(t), 3)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
