"""es_visual.core.batching: the one batch helper of the bulk loops."""

from __future__ import annotations

import pytest

from es_visual.core.batching import batched


def test_batches_keep_order_and_the_last_is_shorter() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    assert list(batched("ab", 5)) == [["a", "b"]]


def test_batches_are_read_lazily() -> None:
    read: list[int] = []

    def source():
        for i in range(10):
            read.append(i)
            yield i

    first = next(batched(source(), 4))
    assert first == [0, 1, 2, 3] and read == [0, 1, 2, 3]


def test_a_batch_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(batched([1], 0))
