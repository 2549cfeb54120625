"""The generated ACL leak cases, run on every store by tests/conformance/test_acl_leaks.py
(and on noida-db, an Elasticsearch-API server, by tests/reliability/test_acl_leaks.py).

Ten random "worlds" per backend (documents with random tags, widths, vectors and
ACLs: missing, empty, or 1-2 principals among users, groups and ``public``), and
100 random cases in each: a user with random groups, a random DSL filter and one
query kind of: metadata search with totals, two pages through the cursor,
aggregations, a vector kNN (with and without a threshold, with aggregations),
``similar_to(asset=...)`` of a readable, a forbidden and a missing asset,
``similar_to(region=...)`` (not on noida-db: it has no nested fields), and ``get``.

Checked for every case: no hit outside the caller's ACL and filter; counts and
totals count only readable documents; a forbidden asset and a missing one give
the same error type and the same text (the id aside); ``get`` tells them apart
from nothing. The oracle is the IR's documented semantics on the test's own docs
(an empty ACL list is an ACL naming nobody on the embedded store, which reads documents
as written; on a cluster, which indexes no ``[]``, it is still "no ACL field" until the
cluster compilers see it: docs/security.md). Seeded: a failing case
prints its world and case number.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from typing import Any

from ir_oracle import matches

from es_visual.core import ir
from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.errors import EsVisualError, NotFoundError
from es_visual.query.acl import AclPolicy
from es_visual.query.search import Search

DIMS = 4
SPEC = VisualSpec(model="toy@1", dims=DIMS)
WORLDS, CASES, DOCS = 10, 100, 30
PRINCIPALS = ["user:u1", "user:u2", "user:u3", "group:g1", "group:g2", "group:g3", "public"]
LEAVES = ["tags=a", "tags:b", "tags!=c", "width>=2", "width<1", "width:[1 TO 2]", "tags:*", "*"]
KINDS = ["meta", "pages", "aggs", "vector", "vector-threshold", "vector-aggs", "asset", "get"]
REGION_BOX = (0.1, 0.1, 0.6, 0.7)


def _expression(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth >= 2 or r < 0.4:
        return rng.choice(LEAVES)
    if r < 0.65:
        return f"({_expression(rng, depth + 1)} AND {_expression(rng, depth + 1)})"
    if r < 0.9:
        return f"({_expression(rng, depth + 1)} OR {_expression(rng, depth + 1)})"
    return f"NOT {_expression(rng, depth + 1)}"


def _vector(rng: random.Random) -> list[float]:
    while True:
        v = [rng.uniform(-1, 1) for _ in range(DIMS)]
        if math.sqrt(sum(x * x for x in v)) > 0.1:
            return v


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


def make_world(rng: random.Random, *, regions: bool) -> dict[str, dict[str, Any]]:
    docs = {}
    for i in range(DOCS):
        visual: dict[str, Any] = {
            "media_type": "image",
            "width": rng.randint(0, 3),
            "scene": _vector(rng),
            "model": SPEC.model,
            "content_hash": f"h{i}",
        }
        if regions:
            visual["regions"] = [{"kind": "box", "bbox": list(REGION_BOX), "vector": _vector(rng)}]
        src: dict[str, Any] = {"tags": rng.sample("abc", rng.randint(0, 3)), "visual": visual}
        r = rng.random()
        if r < 0.15:
            pass  # no ACL field: public (missing_acl_public)
        elif r < 0.25:
            src["acl"] = {"read": []}  # names nobody (a cluster: "missing" until it can see [])
        else:
            src["acl"] = {"read": rng.sample(PRINCIPALS, rng.randint(1, 2))}
        docs[f"d{i:02d}"] = src
    return docs


class Checker:
    """Runs the cases of one world on one backend and collects every violation."""

    def __init__(
        self,
        backend: Any,
        index: str,
        docs: dict[str, dict[str, Any]],
        regions: bool,
        as_written: bool = True,
    ):
        # as_written: whether the backend tells an empty ACL from none (ir.Exists).
        self.as_written = as_written
        self.backend, self.index, self.docs, self.regions = backend, index, docs, regions
        self.problems: list[str] = []
        self.cases = 0

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def run(self, rng: random.Random, label: str) -> None:
        kinds = KINDS + (["region"] if self.regions else [])
        for n in range(CASES):
            self.cases += 1
            user = rng.choice(["u1", "u2", "u3", "u4"])
            groups = rng.sample(["g1", "g2", "g3", "g4"], rng.randint(0, 2))
            expr, kind, k = _expression(rng), rng.choice(kinds), rng.randint(1, 12)
            where = f"{label} case {n}: {kind} as {user} {groups} where {expr!r} k={k}"
            s = Search(self.index).where(expr).as_user(user, groups=groups).limit(k)
            acl = AclPolicy().filter_for(user, groups)
            if not self.as_written:
                acl = _indexed_only(acl)
            readable = {i for i, d in self.docs.items() if matches(acl, d)}
            allowed = {i for i in readable if matches(s.filter_node(), self.docs[i])}
            try:
                getattr(self, "case_" + kind.replace("-", "_"))(rng, s, readable, allowed, where)
            except EsVisualError as exc:
                self.fail(where, f"unexpected {type(exc).__name__}: {exc}")

    def _hits(self, result: Any, allowed: set[str], where: str) -> list[str]:
        ids = [h.id for h in result.hits]
        if len(ids) != len(set(ids)):
            self.fail(where, f"duplicate hits {ids}")
        if not set(ids) <= allowed:
            self.fail(where, f"hits outside the ACL/filter: {sorted(set(ids) - allowed)}")
        return ids

    def case_meta(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        result = s.execute(self.backend)
        ids = self._hits(result, allowed, where)
        if len(ids) != min(s.size, len(allowed)):
            self.fail(where, f"{len(ids)} hits, expected {min(s.size, len(allowed))}")
        if result.total is not None and result.total != len(allowed):
            self.fail(where, f"total {result.total} counts beyond the {len(allowed)} readable")

    def case_pages(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        s = s.sort_by("width", rng.choice(["asc", "desc"]))
        first = s.execute(self.backend)
        ids = self._hits(first, allowed, where)
        if first.next_cursor:
            second = self._hits(s.after(first.next_cursor).execute(self.backend), allowed, where)
            if set(ids) & set(second):
                self.fail(where, "page 2 repeats page 1")
            ids += second
        if len(ids) != min(2 * s.size, len(allowed)) and first.next_cursor:
            self.fail(where, f"two pages hold {len(ids)} of {len(allowed)}")

    def case_aggs(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        result = s.aggregate("tags").execute(self.backend)
        self._hits(result, allowed, where)
        want = Counter(t for i in allowed for t in self.docs[i]["tags"])
        got = dict(result.aggregations.get("tags", []))
        if got != dict(want):
            self.fail(where, f"tag counts {got}, readable documents give {dict(want)}")

    def _vector_case(self, rng, s, allowed, where, threshold=None, aggs=False):  # type: ignore[no-untyped-def]
        q = _vector(rng)
        s = s.similar_to(vector=q)
        if threshold is not None:
            s = s.min_score(threshold)
        if aggs:
            s = s.aggregate("tags")
        result = s.execute(self.backend)
        ids = self._hits(result, allowed, where)
        above = [
            i
            for i in allowed
            if threshold is None or _cos(q, self.docs[i]["visual"]["scene"]) >= threshold + 1e-4
        ]
        if len(ids) < min(s.size, len(above)) or len(ids) > min(s.size, len(allowed)):
            self.fail(where, f"{len(ids)} hits; {len(above)} readable above the threshold")
        if aggs:
            want = Counter(t for i in ids for t in self.docs[i]["tags"])
            if dict(result.aggregations.get("tags", [])) != dict(want):
                self.fail(where, f"aggregations {result.aggregations} count beyond the hits {ids}")

    def case_vector(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        self._vector_case(rng, s, allowed, where)

    def case_vector_threshold(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        self._vector_case(rng, s, allowed, where, threshold=rng.uniform(-0.5, 0.9))

    def case_vector_aggs(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        self._vector_case(rng, s, allowed, where, aggs=True)

    def _by_asset(self, rng, s, readable, allowed, where, make) -> None:  # type: ignore[no-untyped-def]
        forbidden = sorted(set(self.docs) - readable)
        choice = rng.choice(["readable", "forbidden", "missing"])
        pool = {
            "readable": sorted(readable),
            "forbidden": forbidden,
            "missing": [f"x{uuid.uuid4().hex[:3]}"],
        }[choice]
        if not pool:
            return
        asset = rng.choice(pool)
        try:
            result = make(s, asset).execute(self.backend)
        except NotFoundError as exc:
            if choice == "readable":
                self.fail(where, f"readable asset {asset} not found: {exc}")
                return
            missing = "zz-never-there"
            try:
                make(s, missing).execute(self.backend)
                self.fail(where, f"missing asset {missing} did not raise")
            except NotFoundError as other:
                if str(exc).replace(asset, "<id>") != str(other).replace(missing, "<id>"):
                    self.fail(where, f"forbidden and missing differ: {exc!s} / {other!s}")
            return
        if choice != "readable":
            self.fail(where, f"{choice} asset {asset} answered with {len(result.hits)} hits")
            return
        ids = self._hits(result, allowed - {asset}, where)
        if asset in ids:
            self.fail(where, "the query asset is among its own results")

    def case_asset(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        self._by_asset(rng, s, readable, allowed, where, lambda s, a: s.similar_to(asset=a))

    def case_region(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        self._by_asset(
            rng, s, readable, allowed, where, lambda s, a: s.similar_to(region=(a, REGION_BOX))
        )

    def case_get(self, rng, s, readable, allowed, where) -> None:  # type: ignore[no-untyped-def]
        for doc_id in [*rng.sample(sorted(self.docs), 5), "zz-missing"]:
            got = self.backend.get(self.index, doc_id, acl=s.acl)
            if (got is not None) != (doc_id in readable):
                self.fail(where, f"get({doc_id}) -> {'a document' if got else None}")


def _indexed_only(node: Any) -> Any:
    """The ACL as a backend that sees only indexed values runs it: exists, not as written."""
    if isinstance(node, ir.Exists):
        return ir.Exists(node.field)
    if isinstance(node, ir.Not):
        return ir.Not(_indexed_only(node.child))
    if isinstance(node, ir.And | ir.Or):
        return type(node)(tuple(_indexed_only(c) for c in node.children))
    return node


def run(
    backend: Any,
    name: str,
    regions: bool,
    seed: int,
    tally: Any = None,
    as_written: bool = True,
    worlds: int = WORLDS,
) -> None:
    """``worlds`` worlds of ``CASES`` cases on ``backend``; every violation is collected and
    asserted at the end (``tally``: the reliability summary's, when given)."""
    problems: list[str] = []
    created: list[str] = []
    try:
        _worlds(backend, name, regions, seed, problems, created, as_written, worlds)
    finally:
        for index in created:
            backend.delete(index, [f"d{i:02d}" for i in range(DOCS)])
    cases = worlds * CASES
    if tally is not None:
        tally.record(f"ACL leaks: {name}", tried=cases, failed=len(problems))
    assert not problems, f"{len(problems)} of {cases} cases:\n" + "\n".join(problems[:30])


def _worlds(backend, name, regions, seed, problems, created, as_written, worlds) -> None:  # type: ignore[no-untyped-def]
    for w in range(worlds):
        rng = random.Random(seed * 1000 + w)
        docs = make_world(rng, regions=regions)
        index = f"acl-{uuid.uuid4().hex[:8]}"
        created.append(index)
        backend.ensure_index(index, SPEC)
        result = backend.bulk_update(index, [DocUpdate(i, d) for i, d in docs.items()])
        assert result.ok, result.errors
        backend.refresh(index)
        checker = Checker(backend, index, docs, regions, as_written)
        checker.run(rng, f"{name} seed {seed} world {w}")
        problems += checker.problems
