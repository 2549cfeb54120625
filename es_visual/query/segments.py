"""Per-frame matches of a video -> the timeline's segments (merged runs of frames).

Every backend scores a video's sampled frames against the query and hands the
``(t, score)`` pairs here, so that the green bars look the same whichever store
ran the search.

A run is a sequence of frames that are *consecutive in the doc's sampled frame
list* and all score at or above the threshold: a frame below the threshold
breaks it, however close in time. A segment spans from its first frame's ``t``
to its last frame's ``t`` plus the sampling step there (a frame stands for the
interval until the next sample), estimated from the neighbouring frame times.
"""

from __future__ import annotations

from collections.abc import Iterable

from es_visual.query.results import Segment

# Without a threshold, frames within this much of the best frame count as matching:
# the bar should show where the best match is, not paint the whole timeline.
RELATIVE_MARGIN = 0.05


def default_threshold(scores: Iterable[float], margin: float = RELATIVE_MARGIN) -> float:
    """The threshold used when the query gave none: ``margin`` below the best score."""
    best = max(scores, default=0.0)
    return best - margin


def merge_segments(
    frames: Iterable[tuple[float, float]],
    threshold: float | None = None,
    *,
    duration: float | None = None,
) -> list[Segment]:
    """Merge ``(t, score)`` frames (any order; sorted by ``t`` here) into segments, by time.

    ``threshold`` None means ``default_threshold`` of the scores. ``duration``, when
    known, caps a segment's end (the last frame's step must not run past the video).
    """
    pts = sorted((float(t), float(s)) for t, s in frames)
    if not pts:
        return []
    if threshold is None:
        threshold = default_threshold(s for _, s in pts)
    times = [t for t, _ in pts]
    segments: list[Segment] = []
    start_i: int | None = None
    best = float("-inf")
    for i, (_, score) in enumerate(pts):
        if score >= threshold:
            if start_i is None:
                start_i, best = i, score
            else:
                best = max(best, score)
            continue
        if start_i is not None:
            segments.append(_segment(times, start_i, i - 1, best, duration))
            start_i = None
    if start_i is not None:
        segments.append(_segment(times, start_i, len(pts) - 1, best, duration))
    return segments


def _step_at(times: list[float], i: int) -> float:
    """The sampling interval at frame ``i``: to the next frame, else from the previous one."""
    if i + 1 < len(times):
        return times[i + 1] - times[i]
    if i > 0:
        return times[i] - times[i - 1]
    return 0.0


def _segment(
    times: list[float], first: int, last: int, score: float, duration: float | None
) -> Segment:
    end = times[last] + _step_at(times, last)
    if duration is not None:
        end = min(end, max(duration, times[last]))
    return Segment(start=times[first], end=end, score=score)
