"""Attacks that take any backend object, so the suite can run them on every store.

Each ``*_attacks`` function plants what it needs in a fresh index of ``backend``
(the ``Backend`` protocol only), probes it the ways a caller can, and returns an
``Outcome``: how many probes it sent and what got through. The tests assert the
outcome is clean and record it in the attack counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from es_visual.core.documents import DocUpdate, VisualSpec
from es_visual.core.ir import Term
from es_visual.query.acl import AclPolicy
from es_visual.query.search import Search

DIMS = 4
SPEC = VisualSpec(model="toy@1", dims=DIMS)
SECRET = "group:secret"

# (label, the ACL part of the document, who may read it besides an operator):
# "*" = everyone. A malformed ACL is readable by nobody but the principals it names.
ACL_CASES: tuple[tuple[str, dict[str, Any], frozenset[str]], ...] = (
    ("empty list", {"acl": {"read": []}}, frozenset()),
    ("null", {"acl": {"read": None}}, frozenset()),
    ("list of null", {"acl": {"read": [None]}}, frozenset()),
    ("number", {"acl": {"read": 7}}, frozenset()),
    ("boolean", {"acl": {"read": True}}, frozenset()),
    ("object", {"acl": {"read": {"group": "secret"}}}, frozenset()),
    ("list of a number", {"acl": {"read": [5]}}, frozenset()),
    ("list of an empty string", {"acl": {"read": [""]}}, frozenset()),
    ("acl null", {"acl": None}, frozenset()),
    ("acl a number", {"acl": 5}, frozenset()),
    ("acl a string", {"acl": SECRET}, frozenset()),
    ("acl a list", {"acl": [SECRET]}, frozenset()),
    ("dotted empty list", {"acl.read": []}, frozenset()),
    ("dotted null", {"acl.read": None}, frozenset()),
    ("bare string", {"acl": {"read": SECRET}}, frozenset({SECRET})),
    ("dotted secret", {"acl.read": [SECRET]}, frozenset({SECRET})),
    ("secret and a number", {"acl": {"read": [SECRET, 5]}}, frozenset({SECRET})),
    # Controls: the rules that must keep working.
    ("control: no acl", {}, frozenset({"*"})),
    ("control: public", {"acl": {"read": ["public"]}}, frozenset({"*"})),
    ("control: secret", {"acl": {"read": [SECRET]}}, frozenset({SECRET})),
    ("control: dotted public", {"acl.read": ["public"]}, frozenset({"*"})),
)

# (user, groups): an outsider, a member of the secret group, and an admin outside it.
CALLERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mallory", ()),
    ("sam", ("secret",)),
    ("alice", ("admin",)),
)


@dataclass
class Outcome:
    tried: int = 0
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        self.tried += 1
        if not ok:
            self.problems.append(message)


def _vector(i: int) -> list[float]:
    return [1.0, 0.1 * (i % 7), 0.05 * (i % 3), 0.2]


def plant(backend: Any, docs: dict[str, dict[str, Any]]) -> tuple[str, set[str]]:
    """A fresh index holding ``docs`` (with toy vectors); returns (index, ids refused by
    the store: a cluster may reject a shape its mapping cannot take, which is safe)."""
    index = f"sec-{uuid.uuid4().hex[:10]}"
    backend.ensure_index(index, SPEC)
    updates = [
        DocUpdate(doc_id, {**doc, "visual": {"scene": _vector(i), "model": SPEC.model}})
        for i, (doc_id, doc) in enumerate(docs.items())
    ]
    result = backend.bulk_update(index, updates)
    backend.refresh(index)
    return index, {e.id for e in result.errors}


def _may_read(readers: frozenset[str], user: str, groups: tuple[str, ...]) -> bool:
    mine = {f"user:{user}", *(f"group:{g}" for g in groups)}
    return "*" in readers or bool(readers & mine)


def acl_value_attacks(backend: Any) -> Outcome:
    """Malformed ACL values never make a document public: every caller, every way in
    (metadata search, vector search, aggregations, get, anonymous get)."""
    docs = {f"d{i:02d}": {"tags": ["x"], **acl} for i, (_, acl, _) in enumerate(ACL_CASES)}
    labels = {f"d{i:02d}": label for i, (label, _, _) in enumerate(ACL_CASES)}
    readers = {f"d{i:02d}": who for i, (_, _, who) in enumerate(ACL_CASES)}
    index, refused = plant(backend, docs)
    stored = [d for d in docs if d not in refused]
    out = Outcome()
    try:
        for user, groups in CALLERS:
            want = {d for d in stored if _may_read(readers[d], user, groups)}
            base = Search(index).as_user(user, groups=list(groups)).limit(100)
            meta = {h.id for h in base.execute(backend).hits}
            near = {h.id for h in base.similar_to(vector=_vector(0)).execute(backend).hits}
            counted = dict(base.aggregate("tags").execute(backend).aggregations.get("tags", []))
            for doc_id in stored:
                who = f"{user}{list(groups)} on {labels[doc_id]!r}"
                expected = doc_id in want
                out.check((doc_id in meta) == expected, f"metadata search: {who}")
                out.check((doc_id in near) == expected, f"vector search: {who}")
                got = backend.get(index, doc_id, acl=base.acl)
                out.check((got is not None) == expected, f"get: {who}")
            out.check(counted.get("x", 0) == len(want), f"tag count as {user}: {counted}")
        anonymous = AclPolicy().anonymous()
        for doc_id in stored:
            public = "*" in readers[doc_id]
            got = backend.get(index, doc_id, acl=anonymous)
            out.check((got is not None) == public, f"anonymous get on {labels[doc_id]!r}")
        # An operator (no user) reads everything, malformed or not: nothing is lost.
        everything = {h.id for h in Search(index).limit(100).execute(backend).hits}
        out.check(everything == set(stored), f"operator sees {sorted(everything)}")
    finally:
        backend.delete(index, list(docs))
    return out


def dotted_key_attacks(backend: Any) -> Outcome:
    """A flat dotted key means the nested object: the same readers, the same filters."""
    docs = {
        "nested": {"acl": {"read": [SECRET]}, "meta": {"owner": "ana"}},
        "dotted": {"acl.read": [SECRET], "meta.owner": "ana"},
        "mixed": {"acl": {"read": ["user:bob"]}, "acl.read": [SECRET], "meta.owner": "ana"},
    }
    index, refused = plant(backend, docs)
    out = Outcome()
    try:
        out.check(not refused, f"the store refused {sorted(refused)}")
        for user, groups, want in (
            ("sam", ("secret",), {"nested", "dotted", "mixed"}),
            ("bob", (), {"mixed"}),
            ("mallory", (), set()),
        ):
            s = Search(index).as_user(user, groups=list(groups)).limit(10)
            got = {h.id for h in s.execute(backend).hits}
            out.check(got == want, f"{user} reads {sorted(got)}, not {sorted(want)}")
            got = {h.id for h in s.where(Term("meta.owner", "ana")).execute(backend).hits}
            out.check(got == want, f"{user} filtering a dotted field reads {sorted(got)}")
    finally:
        backend.delete(index, list(docs))
    return out
