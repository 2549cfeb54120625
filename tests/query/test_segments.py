from __future__ import annotations

import pytest

from es_visual.errors import QueryError
from es_visual.query.cursor import decode_cursor, encode_cursor
from es_visual.query.results import Segment
from es_visual.query.segments import merge_segments


def test_consecutive_frames_merge_and_end_one_step_after() -> None:
    frames = [(0.0, 0.1), (1.0, 0.8), (2.0, 0.9), (3.0, 0.2), (4.0, 0.7)]
    assert merge_segments(frames, 0.5) == [
        Segment(1.0, 3.0, 0.9),
        Segment(4.0, 5.0, 0.7),  # the last frame: the step before it
    ]


def test_order_of_input_does_not_matter_and_duration_caps() -> None:
    frames = [(4.0, 0.7), (0.0, 0.9), (2.0, 0.9)]
    assert merge_segments(frames, 0.5, duration=4.5) == [Segment(0.0, 4.5, 0.9)]


def test_uneven_sampling_uses_neighbouring_times() -> None:
    frames = [(0.0, 0.9), (0.5, 0.1), (3.0, 0.9), (10.0, 0.1)]
    assert merge_segments(frames, 0.5) == [Segment(0.0, 0.5, 0.9), Segment(3.0, 10.0, 0.9)]


def test_without_threshold_only_frames_near_the_best() -> None:
    frames = [(0.0, 0.5), (1.0, 0.92), (2.0, 0.95), (3.0, 0.6)]
    assert merge_segments(frames) == [Segment(1.0, 3.0, 0.95)]
    assert merge_segments([]) == []
    assert merge_segments([(7.0, 0.9)], 0.5) == [Segment(7.0, 7.0, 0.9)]


def test_cursor_round_trip_and_garbage() -> None:
    values = (0.123456, "doc/1", None, 3, True)
    assert decode_cursor(encode_cursor(values)) == values
    for bad in ("", "!!!", encode_cursor([]).replace("W", "{"), "eyJhIjoxfQ"):
        with pytest.raises(QueryError):
            decode_cursor(bad)
