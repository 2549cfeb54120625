"""Backends for the suites that run on every store: the embedded one and each live engine.

``backend`` is parametrized over ``embedded`` and the four engines of
``tests/live_engines.py`` (started once per session; skipped with the reason, or an
error for an engine CI requires). Every index a cluster test creates has 2 shards and
1 replica on a 2-node cluster (an index template installed once per engine), so that
paging, points in time and scores behave as in production, not as on one shard.
"""

from __future__ import annotations

# One definition for every suite that runs on each store (tests/live_backends.py).
from live_backends import backend, index_name  # noqa: F401  (fixtures)
