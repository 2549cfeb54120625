"""One share of an index among N workers: ``Slice(id, max)``, ``--slice I/N`` on the CLI.

A slice is what the clusters call one: ``{"id": I, "max": N}`` on a point in time
or a scroll, and the cluster decides which documents are in it. The split must
be the same for every worker whenever it starts (N processes on N machines
each open their own read), so the clusters split by shard and then by a hash
of ``_id`` (never by Lucene doc ids, which differ between a primary and its
replica and change with merges). The embedded store has no shards: it takes a
hash of the id, here, so the same command line splits it too.

Every document is in exactly one of the N slices, and stays in it: a worker
that was killed is replaced by running the same slice again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from es_visual.core.errors import ConfigError


@dataclass(frozen=True)
class Slice:
    id: int  # 0 .. max-1
    max: int

    def __post_init__(self) -> None:
        if self.max < 1:
            raise ConfigError(f"a slice needs at least 1 share, not {self.max}")
        if not 0 <= self.id < self.max:
            raise ConfigError(
                f"slice {self.id}/{self.max}: slice ids run from 0 to {self.max - 1} "
                f"(the {self.max} shares are 0/{self.max} ... {self.max - 1}/{self.max})"
            )

    @classmethod
    def parse(cls, text: str) -> Slice:
        """``"2/4"`` -> ``Slice(2, 4)``; anything else is a ``ConfigError`` in CLI words."""
        head, sep, tail = text.strip().partition("/")
        try:
            if not sep:
                raise ValueError(text)
            share, count = int(head), int(tail)
        except ValueError:
            raise ConfigError(
                f"--slice {text!r}: expected I/N, e.g. 0/4 (share I of N, I from 0 to N-1)"
            ) from None
        return cls(share, count)

    @property
    def whole(self) -> bool:
        """One share of one: the whole index, no split at all."""
        return self.max == 1

    def owns(self, doc_id: str) -> bool:
        """Whether ``doc_id`` is in this slice, by a hash every process and machine
        computes alike (the embedded store's split; clusters split on their side)."""
        if self.max == 1:
            return True
        digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.max == self.id

    def __str__(self) -> str:
        return f"{self.id}/{self.max}"


def all_slices(n: int) -> list[Slice]:
    """The N shares of an index, 0/N ... N-1/N."""
    return [Slice(i, n) for i in range(n)]
