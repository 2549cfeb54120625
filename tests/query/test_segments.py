from __future__ import annotations

import pytest

from es_visual.core.cursor import decode_cursor, encode_cursor
from es_visual.core.errors import QueryError
from es_visual.core.results import Hit, Matched, Segment
from es_visual.core.segments import merge_segments, video_segments


def test_consecutive_frames_merge_and_end_one_step_after() -> None:
    frames = [(0.0, 0.1), (1.0, 0.8), (2.0, 0.9), (3.0, 0.2), (5.0, 0.7)]
    assert merge_segments(frames, 0.5) == [
        Segment(1.0, 3.0, 0.9, t=2.0),  # each frame stands until the next one
        Segment(5.0, 7.0, 0.7, t=5.0),  # the last frame: the step before it
    ]


def test_order_of_input_does_not_matter_and_duration_ends_the_last_frame() -> None:
    frames = [(4.0, 0.7), (0.0, 0.9), (2.0, 0.9)]
    assert merge_segments(frames, 0.5, duration=4.5) == [Segment(0.0, 4.5, 0.9, t=0.0)]
    # The last frame reaches the end of the video, however far that is.
    assert merge_segments([(0.0, 0.2), (4.0, 0.9)], 0.5, duration=5.0) == [
        Segment(4.0, 5.0, 0.9, t=4.0)
    ]


def test_uneven_sampling_uses_neighbouring_times() -> None:
    frames = [(0.0, 0.9), (0.5, 0.1), (3.0, 0.9), (10.0, 0.1)]
    assert merge_segments(frames, 0.5) == [
        Segment(0.0, 0.5, 0.9, t=0.0),
        Segment(3.0, 10.0, 0.9, t=3.0),
    ]


def test_without_threshold_only_frames_near_the_best() -> None:
    frames = [(0.0, 0.5), (1.0, 0.92), (2.0, 0.95), (3.0, 0.6)]
    assert merge_segments(frames) == [Segment(1.0, 3.0, 0.95, t=2.0)]
    assert merge_segments([]) == []


def test_a_single_frame_is_never_zero_length() -> None:
    # The case: one kept frame in a 5 s clip used to be a 0.0-0.0 sliver.
    assert merge_segments([(0.0, 0.9)], 0.5, duration=5.0) == [Segment(0.0, 5.0, 0.9, t=0.0)]
    assert merge_segments([(7.0, 0.9)], 0.5) == [Segment(7.0, 8.0, 0.9, t=7.0)]
    # A frame stamped at (or past) the stated end still gets a bar.
    [seg] = merge_segments([(0.0, 0.1), (5.0, 0.9)], 0.5, duration=5.0)
    assert seg.end > seg.start == 5.0


def test_times_give_each_frame_its_extent_and_absent_moments_break_runs() -> None:
    times = [0.0, 1.0, 1.6, 2.6, 3.6, 4.2]
    # Faces: two in the frame at 1.0 (the best counts), none at 1.6 (off screen).
    faces = [(1.0, 0.3), (1.0, 0.9), (2.6, 0.85), (3.6, 0.9)]
    assert merge_segments(faces, 0.8, times=times, duration=5.0) == [
        Segment(1.0, 1.6, 0.9, t=1.0),
        Segment(2.6, 4.2, 0.9, t=3.6),
    ]
    # Without the frame list, the points are all the frames there are.
    assert merge_segments(faces, 0.8, duration=5.0) == [Segment(1.0, 5.0, 0.9, t=1.0)]


def test_small_gaps_merge_and_big_ones_do_not() -> None:
    times = [0.0, 0.5, 1.0, 1.3, 1.5, 2.0, 3.0, 4.0]
    scores = [0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.9]
    frames = list(zip(times, scores, strict=True))
    # 1.3-1.5 is a 0.2 s dip: merged; 3.0-4.0 is a second: split.
    assert merge_segments(frames, 0.5, duration=5.0) == [
        Segment(0.0, 3.0, 0.9, t=0.0),
        Segment(4.0, 5.0, 0.9, t=4.0),
    ]
    assert len(merge_segments(frames, 0.5, duration=5.0, gap=0.0)) == 3
    assert len(merge_segments(frames, 0.5, duration=5.0, gap=1.0)) == 1


def test_times_are_rounded_to_milliseconds() -> None:
    frames = [(1.0000004, 0.9), (2.12345678, 0.95), (3.3333333, 0.1)]
    [seg] = merge_segments(frames, 0.5)
    assert (seg.start, seg.end, seg.t) == (1.0, 3.333, 2.123)
    assert Segment(0.12345, 1.98765, 0.5, t=1.0004).to_dict() == {
        "start": 0.123,
        "end": 1.988,
        "score": 0.5,
        "t": 1.0,
    }


def test_video_segments_read_the_documents_frames() -> None:
    visual = {"media_type": "video", "duration": 6.0, "frames": [{"t": t} for t in range(6)]}
    # A face seen in the frames at 2 s and 3 s: on screen from 2.0 to 4.0.
    assert video_segments([(2.0, 0.7), (3.0, 0.72)], None, visual) == [
        Segment(2.0, 4.0, 0.72, t=3.0)
    ]
    # A photo's faces have no time: no timeline.
    assert video_segments([(None, 0.9)], None, {"media_type": "image"}) == []
    # A document without its frame list (fields left out of the source): points alone.
    assert video_segments([(2.0, 0.7)], 0.5, {"duration": 6.0}) == [Segment(2.0, 6.0, 0.7, t=2.0)]


def test_a_hit_carries_its_best_moment() -> None:
    seg = Segment(4.0, 5.0, 0.99, t=4.2)
    hit = Hit("v.mp4", 0.99, {}, matched=Matched("frame", 0.99, index=3, t=4.2), segments=(seg,))
    assert hit.moment == (4.2, 0.99)
    out = hit.to_dict()
    assert out["moment"] == {"t": 4.2, "score": 0.99}
    assert out["segments"] == [{"start": 4.0, "end": 5.0, "score": 0.99, "t": 4.2}]
    # Without a timed match, the best segment's moment; a photo has none.
    assert Hit("v.mp4", 0.9, {}, segments=(seg,)).moment == (4.2, 0.99)
    assert "moment" not in Hit("p.png", 0.9, {}, matched=Matched("scene", 0.9)).to_dict()


def test_cursor_round_trip_and_garbage() -> None:
    values = (0.123456, "doc/1", None, 3, True)
    assert decode_cursor(encode_cursor(values)) == values
    for bad in ("", "!!!", encode_cursor([]).replace("W", "{"), "eyJhIjoxfQ"):
        with pytest.raises(QueryError):
            decode_cursor(bad)
