"""Every IR filter node, compiled by each store and run there, selects exactly the ids
that the IR's documented semantics (tests/ir_oracle.py, plain Python) select on the
same documents.

Generated, seeded: worlds of documents with keyword lists (empty, null or missing too),
a text field, single keywords, integers, floats, dates and nested children
(``visual.regions``), and random trees of every node (``MatchAll``, ``MatchNone``,
``Term``, ``Terms``, ``Match``, ``MultiMatch``, ``Prefix``, ``Range`` over numbers and
dates, ``Exists``, ``Ids``, ``And``, ``Or``, ``Not``), leaves on top-level and nested
fields. A failure prints the world, the case and the tree.

Left out, on purpose: ``Exists(as_written=True)`` on a cluster (a cluster indexes no
``[]`` or null and cannot see them: tests/conformance/acl_cases.py covers the ACL use).
A ``MultiMatch`` of several words that are not a phrase wants each word in any field
(a cluster's ``cross_fields``), on every store.
"""

from __future__ import annotations

import random
from typing import Any

from ir_oracle import matches

from es_visual.core import ir
from es_visual.core.documents import DocUpdate, VisualSpec

DIMS = 3
SPEC = VisualSpec(model="oracle@1", dims=DIMS)
WORLDS, CASES, DOCS = 3, 120, 40
TAGS = ["a", "b", "c", "d"]
OWNERS = ["team-a", "team-b", "alice", "bob"]
WORDS = ["red", "cat", "blue", "dog", "sky"]
LABELS = ["cat", "dog", "car"]
DATES = [f"2024-{m:02d}-{d:02d}T00:00:00Z" for m in (1, 3, 6, 9) for d in (1, 15)]


def make_world(rng: random.Random) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for i in range(DOCS):
        visual: dict[str, Any] = {
            "model": SPEC.model,
            "media_type": rng.choice(["image", "video"]),
            "width": rng.randint(0, 4),
            "scene": [rng.uniform(-1, 1) for _ in range(DIMS)],
        }
        if rng.random() < 0.6:
            visual["regions"] = [
                {"kind": "box", "bbox": [0.0, 0.0, 1.0, 1.0], "label": rng.choice(LABELS),
                 "vector": [rng.uniform(-1, 1) for _ in range(DIMS)]}
                for _ in range(rng.randint(1, 3))
            ]  # fmt: skip
        doc: dict[str, Any] = {"visual": visual}
        r = rng.random()
        if r < 0.1:
            doc["tags"] = []
        elif r < 0.15:
            doc["tags"] = None
        elif r < 0.9:
            doc["tags"] = rng.sample(TAGS, rng.randint(1, 3))
        if rng.random() < 0.85:
            words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
            # Capitals: text matching is case-insensitive everywhere.
            doc["title"] = " ".join(w.capitalize() if rng.random() < 0.3 else w for w in words)
        if rng.random() < 0.5:
            doc["caption"] = rng.choice(WORDS)
        if rng.random() < 0.8:
            doc["owner"] = rng.choice(OWNERS)
        if rng.random() < 0.8:
            # Always a JSON float: a cluster maps the field from the first value it sees.
            doc["rating"] = rng.randint(0, 10) / 2 + 0.0
        if rng.random() < 0.8:
            doc["taken"] = rng.choice(DATES)
        docs[f"d{i:02d}"] = doc
    return docs


def _leaf(rng: random.Random, ids: list[str], as_written: bool) -> ir.Node:
    kind = rng.randrange(16)
    if kind == 0:
        return ir.Term("tags", rng.choice(TAGS))
    if kind == 1:
        return ir.Terms("tags", tuple(rng.sample(TAGS, rng.randint(1, 3))))
    if kind == 2:
        return ir.Term("owner", rng.choice(OWNERS))
    if kind == 3:
        if rng.random() < 0.5:
            return ir.Term("visual.width", rng.randint(0, 4))
        return ir.Term("visual.media_type", rng.choice(["image", "video"]))
    if kind == 4:
        return ir.Terms("visual.width", tuple(rng.sample(range(5), rng.randint(1, 3))))
    if kind == 5:
        return ir.Match("title", " ".join(rng.sample(WORDS, rng.randint(1, 2))), rng.random() < 0.4)
    if kind == 6:
        roll = rng.random()
        if roll < 0.35:
            return ir.MultiMatch(("title", "caption"), rng.choice(WORDS))
        if roll < 0.7:
            return ir.MultiMatch(("title", "caption"), " ".join(rng.sample(WORDS, 2)))
        return ir.MultiMatch(("title", "caption"), " ".join(rng.sample(WORDS, 2)), phrase=True)
    if kind == 7:
        return ir.Prefix("owner", rng.choice(["team", "team-", "al", "b", "x"]))
    if kind == 8:
        return _range(rng, "visual.width", lambda: rng.randint(0, 4))
    if kind == 9:
        return _range(rng, "rating", lambda: rng.randint(0, 10) / 2)
    if kind == 10:
        return _range(rng, "taken", lambda: rng.choice(DATES))
    if kind == 11:
        field = rng.choice(["tags", "title", "caption", "owner", "rating", "taken"])
        return ir.Exists(field, as_written=as_written and rng.random() < 0.5)
    if kind == 12:
        return ir.Ids((*rng.sample(ids, rng.randint(1, 5)), "zz-missing"))
    if kind == 13:
        return ir.Term("visual.regions.label", rng.choice(LABELS))
    if kind == 14:
        return rng.choice([ir.Exists("visual.regions.label"), ir.MatchAll(), ir.MatchNone()])
    return ir.Term("title", rng.choice(["red", "red cat", "cat"]))  # the exact value


def _range(rng: random.Random, field: str, value: Any) -> ir.Range:
    low, high = sorted([value(), value()])
    bounds: dict[str, Any] = {}
    if rng.random() < 0.7:
        bounds[rng.choice(["gt", "gte"])] = low
    if not bounds or rng.random() < 0.6:
        bounds[rng.choice(["lt", "lte"])] = high
    return ir.Range(field, **bounds)


def _tree(rng: random.Random, ids: list[str], as_written: bool, depth: int = 0) -> ir.Node:
    r = rng.random()
    if depth >= 3 or r < 0.35:
        return _leaf(rng, ids, as_written)
    kids = [_tree(rng, ids, as_written, depth + 1) for _ in range(rng.randint(2, 3))]
    if r < 0.6:
        return ir.And(tuple(kids))
    if r < 0.85:
        return ir.Or(tuple(kids))
    return ir.Not(kids[0])


def _kinds(node: ir.Node) -> set[str]:
    if isinstance(node, ir.And | ir.Or):
        return {type(node).__name__}.union(*(_kinds(c) for c in node.children))
    if isinstance(node, ir.Not):
        return {"Not", *_kinds(node.child)}
    return {type(node).__name__}


def test_every_ir_node_selects_what_the_oracle_selects(backend, index_name) -> None:
    # Only the embedded store reads sources as written (``[]``, null); a cluster sees
    # indexed values only.
    as_written = backend.name == "embedded"
    problems: list[str] = []
    seen: set[str] = set()
    for w in range(WORLDS):
        rng = random.Random(1000 + w)
        docs = make_world(rng)
        index = f"{index_name}-{w}"
        backend.ensure_index(index, SPEC)
        result = backend.bulk_update(index, [DocUpdate(i, d) for i, d in docs.items()])
        assert result.ok, result.errors
        backend.refresh(index)
        ids = sorted(docs)
        for n in range(CASES):
            node = _tree(rng, ids, as_written)
            seen |= _kinds(node)
            want = {i for i, d in docs.items() if matches(node, d, i)}
            request = ir.SearchRequest(index=index, filter=node, size=DOCS + 10)
            answer = backend.search(request)
            got = [h.id for h in answer.hits]
            if len(got) != len(set(got)) or set(got) != want:
                problems.append(
                    f"world {w} case {n}: {node}\n  extra {sorted(set(got) - want)}, "
                    f"missing {sorted(want - set(got))}"
                )
            elif answer.total is not None and answer.total != len(want):
                problems.append(f"world {w} case {n}: total {answer.total} != {len(want)}: {node}")
    every = {
        "MatchAll", "MatchNone", "Term", "Terms", "Match", "MultiMatch", "Prefix", "Range",
        "Exists", "Ids", "And", "Or", "Not",
    }  # fmt: skip
    assert every <= seen, f"never generated: {every - seen}"
    assert not problems, f"{len(problems)} of {WORLDS * CASES} cases:\n" + "\n".join(problems[:20])
