"""Visual search with an ACL filter on a real OpenSearch node, beside the embedded store.

One run writes the same N documents to both stores through the product's own write
path (``DocUpdate`` batches into ``bulk_update``) and runs the same queries on both
through the product's own search path (``Search(...).as_user(...).similar_to(vector=...)``
``.on("scene" | "faces").execute(backend)``), each query on both stores back to back
(which one goes first alternates), so the ratios compare like with like on a noisy machine.

The data, seeded and so the same on every run:

* scene: N clustered unit vectors of 1280 dims (MobileNetV2's), a mixture of 500
  Gaussian clusters of uneven size in a 64-d latent space, projected and lightly noised
  (real embeddings have a low intrinsic dimension; i.i.d. Gaussians defeat every ANN index);
* faces: 0-5 per document (45% none), 128 dims (dlib's), each a noisy view of one of
  N/8 persons, not normalized (dlib's are not either); the face model tag is a synthetic
  one with no calibrated same-person threshold, so a face search ranks every face (with
  dlib's tag it would also drop faces under cosine 0.92);
* ACLs: 500 groups of Zipf-like popularity and 5000 users; 8% of documents have no ACL
  field (public: ``missing_acl_public``), 12% are ``["public"]``, the rest readable by
  1-3 principals (a group 80% of the time, else a user). Each query's caller is a random
  user in 1-5 groups drawn by the same popularity.

Recall@10 is against exact search: brute force in numpy over the documents the caller
may read (for faces: each document's best face), with ties allowed (a hit counts when its
exact similarity reaches the 10th best minus 1e-5). Every hit is also checked against the
caller's ACL ("leaks", which must be 0). Latency is ``execute`` as a user calls it (on
OpenSearch that includes reading the index's mapping); "search call" is the backend's
own ``search`` round trip (``SearchResult.took_ms``).

    ES_VISUAL_ENGINES_HOME=/tmp/hbench bash scripts/engine.sh start opensearch --port 9550 --nodes 1
    python benchmarks/cluster.py --url http://127.0.0.1:9550 --n 10000 [--candidates 100 500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

SCENE_DIMS, FACE_DIMS = 1280, 128
SPEC_MODEL, FACE_MODEL = "synthetic-scene@1", "synthetic-face@1"
GROUPS, USERS = 500, 5000
K = 10


@dataclass
class World:
    scene: np.ndarray  # (n, 1280) unit vectors
    faces: np.ndarray  # (m, 128) as written (not normalized)
    faces_unit: np.ndarray  # (m, 128) the same, normalized (for exact search)
    face_doc: np.ndarray  # (m,) the document of each face
    face_start: np.ndarray  # (n + 1,) faces of doc i are face_start[i]:face_start[i+1]
    acl: list[list[str] | None]  # None: no ACL field
    open_mask: np.ndarray  # (n,) readable by everyone (no ACL, or "public")
    postings: dict[str, np.ndarray]  # principal -> doc numbers naming it

    @property
    def n(self) -> int:
        return len(self.scene)

    def readable(self, principals: list[str]) -> np.ndarray:
        mask = self.open_mask.copy()
        for p in principals:
            docs = self.postings.get(p)
            if docs is not None:
                mask[docs] = True
        return mask


def mixture(
    n: int,
    dims: int,
    centers: np.ndarray,
    weights: np.ndarray,
    proj: np.ndarray,
    spread: float,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    which = rng.choice(len(centers), size=n, p=weights)
    z = centers[which] + spread * rng.standard_normal((n, centers.shape[1]), dtype=np.float32)
    return z @ proj + noise * rng.standard_normal((n, dims), dtype=np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Generator:
    """The seeded distributions of scenes, faces and principals (the same clusters and
    persons for documents and queries)."""

    def __init__(self, n: int) -> None:
        base = np.random.default_rng(1234)
        self.scene_centers = base.normal(size=(500, 64)).astype(np.float32)
        self.scene_proj = (base.normal(size=(64, SCENE_DIMS)) / 8).astype(np.float32)
        w = base.pareto(1.5, 500) + 0.1
        self.scene_w = w / w.sum()
        persons = max(200, n // 8)
        self.face_centers = base.normal(size=(persons, 32)).astype(np.float32)
        self.face_proj = (base.normal(size=(32, FACE_DIMS)) / np.sqrt(32)).astype(np.float32)
        w = base.pareto(1.2, persons) + 0.05
        self.face_w = w / w.sum()
        pop = 1.0 / np.arange(1, GROUPS + 1) ** 0.9  # Zipf-like group sizes
        self.group_p = pop / pop.sum()

    def scenes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = mixture(
            n, SCENE_DIMS, self.scene_centers, self.scene_w, self.scene_proj, 0.45, 0.08, rng
        )
        return unit(x).astype(np.float32)

    def faces(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x = mixture(n, FACE_DIMS, self.face_centers, self.face_w, self.face_proj, 0.35, 0.05, rng)
        return (x * rng.uniform(0.8, 1.2, (n, 1))).astype(np.float32)

    def group(self, rng: np.random.Generator) -> str:
        return f"group:g{rng.choice(GROUPS, p=self.group_p)}"

    def caller(self, rng: np.random.Generator) -> tuple[str, list[str]]:
        groups = {self.group(rng)[6:] for _ in range(int(rng.integers(1, 6)))}
        return f"u{rng.integers(USERS)}", sorted(groups)


def make_world(n: int, gen: Generator) -> World:
    rng = np.random.default_rng(7)
    scene = gen.scenes(n, rng)
    counts = rng.choice(6, size=n, p=[0.45, 0.30, 0.13, 0.07, 0.03, 0.02])
    face_start = np.concatenate([[0], np.cumsum(counts)])
    faces = gen.faces(int(face_start[-1]), rng)
    face_doc = np.repeat(np.arange(n), counts)
    acl: list[list[str] | None] = []
    postings: dict[str, list[int]] = {}
    open_mask = np.zeros(n, bool)
    for i in range(n):
        r = rng.random()
        if r < 0.08:
            acl.append(None)
            open_mask[i] = True
            continue
        if r < 0.20:
            acl.append(["public"])
            open_mask[i] = True
            continue
        names: set[str] = set()
        for _ in range(int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))):
            names.add(gen.group(rng) if rng.random() < 0.8 else f"user:u{rng.integers(USERS)}")
        acl.append(sorted(names))
        for p in names:
            postings.setdefault(p, []).append(i)
    return World(
        scene,
        faces,
        unit(faces),
        face_doc,
        face_start,
        acl,
        open_mask,
        {p: np.asarray(d) for p, d in postings.items()},
    )


def updates(world: World, start: int, stop: int) -> list:
    """The documents start..stop as the ingest pipeline writes them (``vector.tolist()``)."""
    from es_visual.core.documents import DocUpdate

    out = []
    for i in range(start, stop):
        faces = [
            {"score": 1.0, "bbox": [0.1, 0.1, 0.3, 0.4], "vector": world.faces[f].tolist()}
            for f in range(world.face_start[i], world.face_start[i + 1])
        ]
        visual = {
            "model": SPEC_MODEL,
            "media_type": "image",
            "content_hash": f"h{i:08d}",
            "width": 1024,
            "height": 768,
            "scene": world.scene[i].tolist(),
            "faces": faces,
        }
        doc: dict = {"title": f"picture {i}", "visual": visual}
        if world.acl[i] is not None:
            doc["acl"] = {"read": world.acl[i]}
        out.append(DocUpdate(doc_id(i), doc))
    return out


def doc_id(i: int) -> str:
    return f"doc{i:07d}"


def open_opensearch(url: str, index: str, n: int, shards: int, reuse: bool):  # type: ignore[no-untyped-def]
    """The product's OpenSearch backend on ``index``: a user's existing index (its own
    ``acl``/``title`` mapping, ``index.knn``), extended by ``ensure_index`` as ``init`` does.
    Returns (backend, whether the documents must still be written)."""
    from es_visual.backends.cluster.opensearch import OpenSearchBackend
    from es_visual.core.documents import VisualSpec

    backend = OpenSearchBackend(url, timeout=120)
    client = backend.client
    if client.indices.exists(index=index):
        client.indices.refresh(index=index)
        if reuse and client.count(index=index)["count"] == n:
            return backend, False
        client.indices.delete(index=index)
    client.indices.create(
        index=index,
        body={
            "settings": {
                "index": {"knn": True, "number_of_shards": shards, "number_of_replicas": 0}
            },
            "mappings": {
                "properties": {
                    "acl": {"properties": {"read": {"type": "keyword"}}},
                    "title": {"type": "text"},
                }
            },
        },
    )
    backend.ensure_index(index, VisualSpec(SPEC_MODEL, SCENE_DIMS, FACE_MODEL, FACE_DIMS))
    return backend, True


def write(world: World, stores: dict, batch: int) -> dict[str, float]:
    """Writes every document to each store that wants it; seconds spent per store."""
    spent = dict.fromkeys(stores, 0.0)
    for s in range(0, world.n, batch):
        chunk = updates(world, s, min(world.n, s + batch))
        for name, (backend, index) in stores.items():
            t = time.perf_counter()
            result = backend.bulk_update(index, chunk)
            spent[name] += time.perf_counter() - t
            if not result.ok:
                sys.exit(f"{name}: bulk_update failed: {result.errors[:3]}")
        print(f"  written {min(world.n, s + batch):,}/{world.n:,}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return spent


def exact_top(world: World, mask: np.ndarray, target: str, q: np.ndarray) -> np.ndarray:
    """Exact similarity of every readable document (-inf elsewhere)."""
    if target == "scene":
        sims = np.full(world.n, -np.inf, np.float32)
        idx = np.flatnonzero(mask)
        sims[idx] = world.scene[idx] @ unit(q[None])[0]
        return sims
    fsel = mask[world.face_doc]
    best = np.full(world.n, -np.inf, np.float32)
    np.maximum.at(best, world.face_doc[fsel], world.faces_unit[fsel] @ unit(q[None])[0])
    return best


def recall(ids: list[str], sims: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(recall@K with ties, hits the caller may not read) of ``ids`` against the exact
    similarities of the readable documents."""
    nums = [int(i[3:]) for i in ids]
    leaks = sum(1 for j in nums if not mask[j])
    truth = np.sort(sims[np.isfinite(sims)])[::-1][:K]
    if len(truth) == 0:
        return 1.0, leaks
    good = sum(1 for j in nums[:K] if np.isfinite(sims[j]) and sims[j] >= truth[-1] - 1e-5)
    return min(good, len(truth)) / len(truth), leaks


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def run(args: argparse.Namespace) -> dict:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import VisualSpec
    from es_visual.query.search import Search

    t0 = time.perf_counter()
    gen = Generator(args.n)
    world = make_world(args.n, gen)
    print(
        f"generated {args.n:,} docs, {len(world.faces):,} faces in "
        f"{time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )

    os_backend, os_write = open_opensearch(args.url, args.index, args.n, args.shards, args.reuse)
    tmp = tempfile.mkdtemp(prefix="esv-cluster-bench-")
    backends = {"opensearch": os_backend}
    stores = {}
    if "embedded" in args.stores:
        emb = EmbeddedBackend(tmp)
        emb.ensure_index(args.index, VisualSpec(SPEC_MODEL, SCENE_DIMS, FACE_MODEL, FACE_DIMS))
        backends["embedded"] = emb
        stores["embedded"] = (emb, args.index)
    if os_write:
        stores["opensearch"] = (os_backend, args.index)
    spent = write(world, stores, args.batch)
    os_backend.refresh(args.index)
    if args.force_merge:
        t = time.perf_counter()
        os_backend.client.indices.forcemerge(
            index=args.index, max_num_segments=1, request_timeout=3600
        )
        spent["force_merge"] = time.perf_counter() - t
        # The old segments stay counted (and searched) until the next refresh.
        os_backend.refresh(args.index)
    seg = os_backend.client.indices.stats(index=args.index, metric="segments")
    segments = seg["_all"]["primaries"]["segments"]["count"]
    count = os_backend.client.count(index=args.index)["count"]
    assert count == args.n, f"OpenSearch holds {count} documents, not {args.n}"

    qrng = np.random.default_rng(99)
    queries = []
    for _ in range(args.warmup + args.queries):
        user, groups = gen.caller(qrng)
        principals = [f"user:{user}", *(f"group:{g}" for g in groups)]
        queries.append(
            (
                user,
                groups,
                world.readable(principals),
                gen.scenes(1, qrng)[0],
                gen.faces(1, qrng)[0],
            )
        )
    selectivity = float(np.mean([q[2].mean() for q in queries]))

    rows = []
    for target in ("scene", "faces"):
        for width in args.candidates:
            stats = {name: {"lat": [], "took": [], "recall": [], "leaks": 0} for name in backends}
            exact_ms = []
            for j, (user, groups, mask, qs, qf) in enumerate(queries):
                q = qs if target == "scene" else qf
                t = time.perf_counter()
                sims = exact_top(world, mask, target, q)
                exact_ms.append((time.perf_counter() - t) * 1000)
                s = (
                    Search(args.index)
                    .as_user(user, groups=groups)
                    .similar_to(vector=q.tolist())
                    .on(target)
                    .limit(K)
                )
                if width:
                    s = s.candidates(width)
                order = list(backends) if j % 2 else list(backends)[::-1]
                for name in order:
                    t = time.perf_counter()
                    result = s.execute(backends[name])
                    ms = (time.perf_counter() - t) * 1000
                    r, leaks = recall([h.id for h in result.hits], sims, mask)
                    if j < args.warmup:
                        continue
                    st = stats[name]
                    st["lat"].append(ms)
                    st["took"].append(result.took_ms)
                    st["recall"].append(r)
                    st["leaks"] += leaks
            exact_ms = exact_ms[args.warmup :]
            for name, st in stats.items():
                rows.append(
                    {
                        "target": target,
                        "store": name,
                        "num_candidates": width or max(100, 10 * K),
                        "p50_ms": pct(st["lat"], 50),
                        "p99_ms": pct(st["lat"], 99),
                        "search_p50_ms": pct(st["took"], 50),
                        "recall10": float(np.mean(st["recall"])),
                        "min_recall10": float(np.min(st["recall"])),
                        "leaks": st["leaks"],
                        "numpy_p50_ms": pct(exact_ms, 50),
                    }
                )
            print(f"  {target} num_candidates={width or 'default'} done", file=sys.stderr)
    for backend in backends.values():
        backend.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "n": args.n,
        "faces": len(world.faces),
        "queries": args.queries,
        "selectivity": selectivity,
        "shards": args.shards,
        "segments": segments,
        "write_s": spent,
        "server": os_backend.server.label,
        "rows": rows,
    }


def table(r: dict) -> str:
    by = {(x["target"], x["num_candidates"], x["store"]): x for x in r["rows"]}
    lines = [
        "| target | num_candidates | store | p50 ms | p99 ms | search call p50 ms "
        "| recall@10 (min) | leaks | OpenSearch / embedded p50 | p99 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        other = by.get((x["target"], x["num_candidates"], "embedded"))
        ratio = (
            ("", "")
            if x["store"] == "embedded" or other is None
            else (f"{x['p50_ms'] / other['p50_ms']:.1f}x", f"{x['p99_ms'] / other['p99_ms']:.1f}x")
        )
        lines.append(
            f"| {x['target']} | {x['num_candidates']} | {x['store']} | {x['p50_ms']:.1f} | "
            f"{x['p99_ms']:.1f} | {x['search_p50_ms']:.1f} | {x['recall10']:.3f} "
            f"({x['min_recall10']:.1f}) | {x['leaks']} | {ratio[0]} | {ratio[1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--url",
        default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9250"),
        help="the OpenSearch node ($OPENSEARCH_URL)",
    )
    ap.add_argument("--n", type=int, default=10_000, help="documents")
    ap.add_argument("--queries", type=int, default=300, help="timed queries per row")
    ap.add_argument("--warmup", type=int, default=20, help="untimed queries before each row")
    ap.add_argument(
        "--candidates",
        type=int,
        nargs="+",
        default=[0],
        help="num_candidates per row (0: the default, max(100, 10 x k))",
    )
    ap.add_argument("--shards", type=int, default=2, help="primary shards of the index")
    ap.add_argument("--batch", type=int, default=500, help="documents per bulk_update")
    ap.add_argument("--index", default="bench-cluster")
    ap.add_argument(
        "--stores",
        nargs="+",
        choices=["opensearch", "embedded"],
        default=["opensearch", "embedded"],
        help="OpenSearch always; without embedded, no ratios",
    )
    ap.add_argument(
        "--force-merge",
        action="store_true",
        help="force-merge OpenSearch to one segment per shard before searching",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the OpenSearch index when it already holds N documents",
    )
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    r = run(args)
    print(
        f"# {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}, "
        f"numpy {np.__version__}; {r['server']}, {r['shards']} shards, {r['segments']} segments"
    )
    writes = ", ".join(f"{k} {v:.0f} s" for k, v in r["write_s"].items()) or "none (reused)"
    print(
        f"N={r['n']:,} documents ({SCENE_DIMS}-d scene), {r['faces']:,} faces ({FACE_DIMS}-d); "
        f"each caller may read {r['selectivity']:.1%} of them on average; "
        f"{r['queries']} queries per row; writes: {writes}"
    )
    print(table(r))
    numpy = {x["target"]: x["numpy_p50_ms"] for x in r["rows"]}
    print(
        f"exact numpy p50 (the caller's docs gathered, then scored): "
        f"scene {numpy['scene']:.1f} ms, faces {numpy['faces']:.1f} ms"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=1)


if __name__ == "__main__":
    main()
