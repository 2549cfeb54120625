"""No ACL leak on the real engines, nested targets included.

1. The generated suite of tests/reliability/test_acl_leaks.py (10 worlds x 100
   cases: metadata, paging, aggregations, kNN with and without a threshold,
   find-similar, region search by asset, ``get``) on each live engine: 1,000
   ACL/filter/query cases per engine, 0 leaks.
2. Every nested target (regions, faces, frames) searched as users who may read
   some parents and not others, with ``missing_acl_public`` (the ACL clause that
   OpenSearch's k-NN plugin before 3.5 applied to the children): a forbidden parent
   never comes back, nor its inner hits.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from live_backends import open_cluster
from live_engines import ENGINES

# The generated cases live beside this file; tests/ is on sys.path (tests/conftest.py).
from reliability import test_acl_leaks as leaks

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=4, face_model="toyface@1", face_dims=4)
USERS = [("u1", []), ("u2", ["g1"]), ("u3", ["g2"]), ("u4", [])]


@pytest.fixture(params=list(ENGINES))
def cluster(request: pytest.FixtureRequest, live_engine_url) -> Any:
    backend = open_cluster(request.param, live_engine_url(request.param))
    yield backend
    backend.close()


def test_generated_acl_cases_never_leak(cluster, tally) -> None:
    leaks._run(cluster, cluster.server.label, regions=True, seed=3, tally=tally, as_written=False)


def _vec(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(4)]


def test_nested_targets_never_return_a_forbidden_parent(cluster, tally) -> None:
    rng = random.Random(11)
    index = f"nested-acl-{rng.randrange(10**8)}"
    acls: list[list[str] | None] = [None, ["public"], ["user:u1"], ["group:g1"], ["user:u9"]]
    docs: dict[str, dict[str, Any]] = {}
    for i in range(40):
        acl = acls[i % len(acls)]
        children = [{"vector": _vec(rng), "t": float(t), "bbox": [0, 0, 1, 1]} for t in range(3)]
        visual = {
            "model": SPEC.model,
            "media_type": "video" if i % 2 else "image",
            "scene": _vec(rng),
            "regions": [{**c, "kind": "box"} for c in children],
            "faces": children,
            "frames": [{"t": c["t"], "vector": c["vector"]} for c in children],
        }
        doc: dict[str, Any] = {"tags": ["x"], "visual": visual}
        if acl is not None:
            doc["acl"] = {"read": acl}
        docs[f"d{i}"] = doc
    cluster.ensure_index(index, SPEC)
    try:
        result = cluster.bulk_update(index, [DocUpdate(i, d) for i, d in docs.items()])
        assert result.ok, result.errors
        cluster.refresh(index)
        cases, problems = 0, []
        for user, groups in USERS:
            mine = {f"user:{user}", *(f"group:{g}" for g in groups), "public"}
            readable = {
                i for i, d in docs.items() if "acl" not in d or mine & set(d["acl"]["read"])
            }
            for target in ("regions", "faces", "frames"):
                for _ in range(5):
                    cases += 1
                    s = Search(index).as_user(user, groups=groups).limit(40)
                    hits = s.similar_to(vector=_vec(rng)).on(target).execute(cluster).hits
                    got = {h.id for h in hits}
                    if not got <= readable:
                        problems.append(f"{user} {target}: forbidden {sorted(got - readable)}")
                    if len(got) != len(readable):
                        problems.append(f"{user} {target}: {len(got)} of {len(readable)} readable")
        tally.record(
            f"ACL leaks: nested, {cluster.server.label}", tried=cases, failed=len(problems)
        )
        assert not problems, "\n".join(problems[:20])
    finally:
        cluster.client.indices.delete(index=index)
