"""ACL property on every store (hypothesis): random documents with random ACLs, random
users, random filters. No hit is ever outside the user's ACL, and the count is
min(k, readable matching documents) - for metadata and for vector searches, whose
scores are the best k cosines among the readable ones.

One index per store and test; each example replaces its documents (creating an index
per example would cost a cluster a second each). Fewer examples on a cluster than on
the embedded store: every one is several round trips there."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_oracle import matches

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.query.acl import AclPolicy
from es_visual.query.search import Search

DIMS = 4
SPEC = VisualSpec(model="toy@1", dims=DIMS)
PRINCIPALS = ["user:u1", "user:u2", "group:g1", "group:g2", "public"]
EMBEDDED_EXAMPLES, CLUSTER_EXAMPLES = 200, 40


unit = st.floats(-1, 1, allow_nan=False).filter(lambda x: abs(x) > 1e-3)
docs_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "tags": st.lists(st.sampled_from("abc"), unique=True, max_size=3),
            "width": st.integers(0, 3),
            # None: the document has no ACL field at all.
            "acl": st.none() | st.lists(st.sampled_from(PRINCIPALS), min_size=1, unique=True),
            "vector": st.lists(unit, min_size=DIMS, max_size=DIMS),
        }
    ),
    min_size=0,
    max_size=25,
)
leaf = st.sampled_from(
    ["tags=a", "tags:b", "tags!=c", "width>=2", "width<1", "width:[1 TO 2]", "tags:*", "*"]
)
expressions = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]} AND {p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
        inner.map(lambda e: f"NOT {e}"),
    ),
    max_leaves=4,
)
users = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.lists(st.sampled_from(["g1", "g2", "g3"]), unique=True, max_size=2),
)


def _source(d: dict[str, Any]) -> dict[str, Any]:
    src: dict[str, Any] = {
        "tags": d["tags"],
        "visual": {"width": d["width"], "media_type": "image", "scene": d["vector"]},
    }
    if d["acl"] is not None:
        src["acl"] = {"read": d["acl"]}
    return src


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


class World:
    """One index whose documents each example replaces."""

    def __init__(self, backend: Any, index: str) -> None:
        self.backend, self.index = backend, index
        self.ids: list[str] = []
        backend.ensure_index(index, SPEC)

    def load(self, sources: dict[str, dict[str, Any]]) -> None:
        if self.ids:
            self.backend.delete(self.index, self.ids)
        result = self.backend.bulk_update(self.index, [DocUpdate(i, s) for i, s in sources.items()])
        assert result.ok, result.errors
        self.backend.refresh(self.index)
        self.ids = list(sources)


def test_no_hit_outside_the_acl_and_count_is_min_k_readable(backend, index_name) -> None:
    examples = EMBEDDED_EXAMPLES if backend.name == "embedded" else CLUSTER_EXAMPLES
    world = World(backend, index_name)
    # Decorated afresh for each store: hypothesis refuses to put settings on one test twice.
    run = given(
        docs=docs_strategy,
        user=users,
        expression=expressions,
        k=st.integers(1, 12),
        query=st.none() | st.lists(unit, min_size=DIMS, max_size=DIMS),
    )(_property)
    settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))(run)(
        world
    )


def _property(world: World, docs, user, expression, k, query) -> None:  # type: ignore[no-untyped-def]
    backend, index = world.backend, world.index
    sources = {f"d{i}": _source(d) for i, d in enumerate(docs)}
    world.load(sources)

    name, groups = user
    s = Search(index).where(expression).as_user(name, groups=groups).limit(k)
    if query is not None:
        s = s.similar_to(vector=query)
    hits = s.execute(backend).hits

    acl = AclPolicy().filter_for(name, groups)
    filt = s.filter_node()
    allowed = {i for i, src in sources.items() if matches(acl, src) and matches(filt, src)}
    got = [h.id for h in hits]
    assert len(got) == len(set(got))
    assert set(got) <= allowed, f"hits outside the ACL/filter: {set(got) - allowed}"
    assert len(got) == min(k, len(allowed))
    if query is not None and got:
        # The best k among the readable ones (the store is exact at this size).
        best = sorted((_cos(query, sources[i]["visual"]["scene"]) for i in allowed), reverse=True)
        assert [h.score for h in hits] == pytest.approx(best[: len(got)], abs=1e-4)
