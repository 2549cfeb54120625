"""No ACL leak on any store, nested targets included.

1. The generated cases of acl_cases.py (worlds of 100 cases: metadata, paging,
   aggregations, kNN with and without a threshold, find-similar, region search by
   asset, ``get``): 1,000 ACL/filter/query cases on the embedded store, 500 on each
   engine (each case is a few round trips: 500 take about two minutes on 2 cores).
2. Every nested target (regions, faces, frames) searched as users who may read
   some parents and not others, with ``missing_acl_public`` (the ACL clause that
   OpenSearch's k-NN plugin before 3.5 applied to the children): a forbidden parent
   never comes back, nor its inner hits.
"""

from __future__ import annotations

import random
from typing import Any

# The generated cases live beside this file; tests/ is on sys.path (tests/conftest.py).
from conformance.acl_cases import run

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.query.search import Search

SPEC = VisualSpec(model="toy@1", dims=4, face_model="toyface@1", face_dims=4)
USERS = [("u1", []), ("u2", ["g1"]), ("u3", ["g2"]), ("u4", [])]


def test_generated_acl_cases_never_leak(backend) -> None:
    # A cluster indexes no empty list: an ACL of [] is "no ACL field" there until the
    # cluster compilers can see it (docs/security.md); the embedded store reads sources.
    embedded = backend.name == "embedded"
    label = "embedded" if embedded else backend.server.label
    worlds = 10 if embedded else 5
    run(backend, label, regions=True, seed=1 if embedded else 3, as_written=embedded, worlds=worlds)


def _vec(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(4)]


def test_nested_targets_never_return_a_forbidden_parent(backend, index_name) -> None:
    rng = random.Random(11)
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
    backend.ensure_index(index_name, SPEC)
    result = backend.bulk_update(index_name, [DocUpdate(i, d) for i, d in docs.items()])
    assert result.ok, result.errors
    backend.refresh(index_name)
    cases, problems = 0, []
    for user, groups in USERS:
        mine = {f"user:{user}", *(f"group:{g}" for g in groups), "public"}
        readable = {i for i, d in docs.items() if "acl" not in d or mine & set(d["acl"]["read"])}
        for target in ("regions", "faces", "frames"):
            for _ in range(5):
                cases += 1
                s = Search(index_name).as_user(user, groups=groups).limit(40)
                hits = s.similar_to(vector=_vec(rng)).on(target).execute(backend).hits
                got = {h.id for h in hits}
                if not got <= readable:
                    problems.append(f"{user} {target}: forbidden {sorted(got - readable)}")
                if len(got) != len(readable):
                    problems.append(f"{user} {target}: {len(got)} of {len(readable)} readable")
    assert cases == 60
    assert not problems, "\n".join(problems[:20])
