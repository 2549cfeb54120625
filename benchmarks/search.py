"""Embedded store vector search: latency, recall@10 and build cost at several filter selectivities.

For each N (a fresh process each, so RSS is that N's), generates N clustered
unit vectors (a mixture of 1000 Gaussian clusters in a 64-d latent space,
projected to DIMS and lightly noised: real embeddings have low intrinsic
dimension, i.i.d. Gaussians have none and defeat every ANN index), writes them
with three random keyword-like integer fields through ``bulk_update`` (the
product's write path), then times searches whose filter matches 100% (no
filter), 10% (``s10``), 1% (``s100``) and 0.1% (``s1000``) of the documents:

* warm: the same filter every query (its rid set comes from the filter cache);
* cold: the filter caches (rids per filter, row mask per rid set) are emptied
  before each query, so the filter is evaluated from the inverted terms each time.

Recall@10 is against exact numpy over the same filtered set (brute force,
``X[sel] @ q``), whose latency is printed beside it.

    python benchmarks/search.py [--n 100000 1000000] [--dims 512] [--queries 200]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

SELECTIVITIES = [(1.0, None), (0.1, "s10"), (0.01, "s100"), (0.001, "s1000")]


class PeakRss:
    """Samples this process's RSS every 50 ms in a thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        rss = self.proc.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.now()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


def clustered(n: int, dims: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(1234)  # the same clusters for data and queries
    latent, clusters = 64, 1000
    centers = base.normal(size=(clusters, latent)).astype(np.float32)
    proj = (base.normal(size=(latent, dims)) / np.sqrt(latent)).astype(np.float32)
    # Uneven cluster sizes, as with real collections.
    weights = base.pareto(1.5, clusters) + 0.1
    weights /= weights.sum()
    out = np.empty((n, dims), np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        which = rng.choice(clusters, size=m, p=weights)
        z = centers[which] + 0.45 * rng.standard_normal((m, latent), dtype=np.float32)
        x = z @ proj + 0.08 * rng.standard_normal((m, dims), dtype=np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, p))


def run_one(n: int, dims: int, queries: int, batch: int) -> dict:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import DocUpdate, VisualSpec
    from es_visual.core.ir import MatchAll, SearchRequest, Term, VectorQuery

    rss = PeakRss()
    rng = np.random.default_rng(5)
    t0 = time.perf_counter()
    X = clustered(n, dims, seed=1)
    fields = {
        "s10": rng.integers(0, 10, n),
        "s100": rng.integers(0, 100, n),
        "s1000": rng.integers(0, 1000, n),
    }
    gen_s = time.perf_counter() - t0
    rss_data = rss.now()

    tmp = tempfile.mkdtemp(prefix="esv-bench-")
    b = EmbeddedBackend(tmp)
    b.ensure_index("bench", VisualSpec(model="synthetic@1", dims=dims))
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        e = min(n, s + batch)
        updates = [
            DocUpdate(
                f"doc{i:07d}",
                {
                    "s10": int(fields["s10"][i]),
                    "s100": int(fields["s100"][i]),
                    "s1000": int(fields["s1000"][i]),
                    "visual": {"scene": X[i]},  # an ndarray is accepted as is: no list detour
                },
            )
            for i in range(s, e)
        ]
        result = b.bulk_update("bench", updates)
        assert result.ok, result.errors[:3]
    write_s = time.perf_counter() - t0
    gc.collect()

    qs = clustered(queries, dims, seed=99)
    h = b._open("bench", create=False)
    tv = h.targets["scene"]
    h._filters.clear()
    t0 = time.perf_counter()
    with tv.lock:
        tv.sync()  # reads every vector back from SQLite, builds the IVF
    build_s = time.perf_counter() - t0
    rss_built = rss.now()
    disk = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp) if "sqlite" in f)

    def request(node, q):
        return SearchRequest(
            "bench", filter=node, size=10, fields=(), vector=VectorQuery(tuple(q.tolist()))
        )

    rows = []
    for frac, field in SELECTIVITIES:
        value = 3
        sel = None if field is None else np.flatnonzero(fields[field] == value)
        exact_t, truth = [], []
        for q in qs:
            t = time.perf_counter()
            scores = (X if sel is None else X[sel]) @ q  # the gather is part of the cost
            top = np.argpartition(-scores, 10)[:10]
            top = top[np.argsort(-scores[top])]
            exact_t.append(time.perf_counter() - t)
            ids = top if sel is None else sel[top]
            truth.append({f"doc{i:07d}" for i in ids})
        modes = {}
        for mode in ("warm", "cold"):
            lat, recall = [], []
            for j, q in enumerate(qs):
                node = MatchAll() if field is None else Term(field, value)
                if mode == "cold":  # as if this filter had never been seen: no cached rids
                    h._filters.clear()
                    tv._selections.clear()
                req = request(node, q)
                t = time.perf_counter()
                res = b.search(req)
                lat.append(time.perf_counter() - t)
                got = {hit.id for hit in res.hits}
                recall.append(len(got & truth[j]) / 10)
            modes[mode] = (lat, recall)
        for mode, (lat, recall) in modes.items():
            if field is None and mode == "cold":
                continue  # no filter: nothing to be cold about
            rows.append(
                {
                    "selectivity": frac,
                    "filter": "none" if field is None else f"{field}={value}",
                    "mode": mode if field else "-",
                    "p50_ms": pct(lat, 50),
                    "p99_ms": pct(lat, 99),
                    "recall10": float(np.mean(recall)),
                    "min_recall10": float(np.min(recall)),
                    "numpy_p50_ms": pct(exact_t, 50),
                    "speedup": pct(exact_t, 50) / pct(lat, 50),
                }
            )
    peak = rss.stop()
    b.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "n": n,
        "dims": dims,
        "queries": queries,
        "generate_s": gen_s,
        "write_s": write_s,
        "write_docs_per_s": n / write_s,
        "build_s": build_s,
        "nlist": tv.nlist,
        "rss_data_mb": rss_data / 2**20,
        "rss_built_mb": rss_built / 2**20,
        "peak_rss_mb": peak / 2**20,
        "sqlite_mb": disk / 2**20,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dims", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=2000, help="documents per bulk_update")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.dims, args.queries, args.batch)))
        return
    import faiss

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}, numpy {np.__version__}, faiss {faiss.__version__}"
    )
    results = []
    for n in args.n:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--dims", str(args.dims),
             "--queries", str(args.queries), "--batch", str(args.batch)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"\nN={n:,} x {r['dims']}: write {r['write_s']:.0f} s "
            f"({r['write_docs_per_s']:,.0f} docs/s via bulk_update), "
            f"load+IVF build {r['build_s']:.1f} s (nlist {r['nlist']}), "
            f"RSS data {r['rss_data_mb']:,.0f} MB -> built {r['rss_built_mb']:,.0f} MB "
            f"(peak {r['peak_rss_mb']:,.0f} MB), SQLite {r['sqlite_mb']:,.0f} MB"
        )
        print(
            "| filter | matches | mode | p50 ms | p99 ms | recall@10 (min) "
            "| numpy p50 ms | x numpy |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for row in r["rows"]:
            print(
                f"| {row['filter']} | {row['selectivity']:.1%} | {row['mode']} | "
                f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['recall10']:.3f} "
                f"({row['min_recall10']:.1f}) | {row['numpy_p50_ms']:.2f} | {row['speedup']:.1f}x |"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
