"""The backend conformance suite: the same behavioural tests on every store.

``backend`` is parametrized over ``embedded`` and the four engines of
``tests/live_engines.py`` (``opensearch``, ``opensearch3``, ``elasticsearch``,
``elasticsearch8``): each engine is started once per session, skipped with the reason
when ``ES_VISUAL_ENGINES`` leaves it out, an ERROR when ``ES_VISUAL_REQUIRE_ENGINES``
names it and it cannot start. Every index a cluster test creates has 2 shards and 1
replica (an index template, tests/live_backends.py), so that paging, points in time and
scores behave as in production, not as on one shard.

What every store must agree on (the oracle is plain Python over the test's own
documents, tests/ir_oracle.py, never another backend):

* ``test_ir_oracle.py``: every IR filter node, on generated documents and generated
  trees, selects exactly the ids the oracle selects;
* ``test_acl_leaks.py``, ``test_acl_property.py``: generated worlds of documents,
  users and ACLs; no forbidden id ever comes back (metadata search, paging,
  aggregations, kNN with and without a threshold, nested targets, find-similar, get);
* ``test_basics.py``: kNN with a filter, the ACL and a threshold; the frame timeline
  of a video; extending an index in place.
"""

from __future__ import annotations

# One definition for every suite that runs on each store (tests/live_backends.py).
from live_backends import backend, index_name  # noqa: F401  (fixtures)
