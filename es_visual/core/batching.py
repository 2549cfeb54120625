"""Items in batches: the one helper for every bulk write and lookup loop.

``itertools.batched`` arrives in Python 3.12; es-visual supports 3.11.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items in order, the last one shorter; none for no items. Lazy:
    a batch is read from ``items`` only when it is asked for."""
    if size < 1:
        raise ValueError(f"a batch holds at least 1 item, not {size}")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
