"""Duplicate detection at scale: ``find_duplicates`` on N synthetic assets in the embedded store.

The vectors are clustered like real ones: each "distinct picture" is a random
mix of a topic centre and its own noise (distinct pictures of one topic sit at
cosine ~0.5, of different topics ~0.1), and a known share of them has near
copies (cosine 0.85-0.99 to their original) and exact copies (same content hash,
same vector). Every distinct picture also has its own 32x32 thumb (smooth random
structure) and the perceptual hash of it; a near copy's thumb is its original's
with a little noise, so the hash and pixel checks see copies as copies, and two
distinct pictures as distinct. The planted groups are the ground truth: the table gives the
time per stage, kNN queries/s, peak memory, and how many planted groups were
found whole, split or merged.

    python benchmarks/dups_scale.py [--n 100000] [--dims 1280] [--store /tmp/dups-bench]

The store is built once per (n, dims) and reused by later runs.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import resource
import time
from pathlib import Path

import numpy as np

TOPICS = 500
NEAR_SHARE = 0.10  # of distinct pictures, share with 1-3 near copies
EXACT_SHARE = 0.03  # ... with one exact copy


def build(store: Path, n: int, dims: int, seed: int = 7) -> dict[str, int]:
    """Write n assets; returns id -> planted group number (-1: no duplicate)."""
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import DocUpdate, VisualSpec
    from es_visual.media.phash import encode_thumb, hash_of_thumb

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((TOPICS, dims)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth: dict[str, int] = {}
    rows: list[tuple[str, np.ndarray, str, np.ndarray]] = []  # (id, vector, hash, thumb)
    group = 0
    while len(rows) < n:
        base = 0.7 * centres[rng.integers(TOPICS)] + 0.7 * _unit(rng.standard_normal(dims))
        base = _unit(base)
        digest = hashlib.sha256(f"{len(rows)}".encode()).hexdigest()
        thumb = _thumb(rng)
        members = [(f"a{len(rows):07d}", base, digest, thumb)]
        r = rng.random()
        if r < NEAR_SHARE:
            for _ in range(rng.integers(1, 4)):
                noise = _unit(rng.standard_normal(dims))
                cos = rng.uniform(0.85, 0.99)
                near = _unit(cos * base + np.sqrt(1 - cos**2) * noise)
                noisy = np.clip(thumb + rng.normal(0, 3, thumb.shape), 0, 255).astype(np.uint8)
                members.append(
                    (
                        f"a{len(rows) + len(members):07d}",
                        near,
                        digest + "n" + str(len(members)),
                        noisy,
                    )
                )
        elif r < NEAR_SHARE + EXACT_SHARE:
            members.append((f"a{len(rows) + 1:07d}", base, digest, thumb))
        gid = group if len(members) > 1 else -1
        group += len(members) > 1
        for doc_id, vec, h, th in members:
            truth[doc_id] = gid
            rows.append((doc_id, vec, h, th))
    rows = rows[:n]
    backend = EmbeddedBackend(store)
    backend.ensure_index("media", VisualSpec(model="synthetic@1", dims=dims))
    for start in range(0, len(rows), 2000):
        backend.bulk_update(
            "media",
            [
                DocUpdate(
                    doc_id,
                    {
                        "visual": {
                            "content_hash": h,
                            "scene": vec.tolist(),
                            "width": 640,
                            "height": 480,
                            "media_type": "image",
                            "indexed_at": "2026-01-01T00:00:00+00:00",
                            "phash": f"{hash_of_thumb(th):016x}",
                            "phash_thumb": encode_thumb(th.tobytes()),
                        }
                    },
                )
                for doc_id, vec, h, th in rows[start : start + 2000]
            ],
        )
    backend.refresh("media")
    backend.close()
    return {doc_id: truth[doc_id] for doc_id, _, _, _ in rows}


def _thumb(rng: np.random.Generator) -> np.ndarray:
    """A 32x32 picture with structure at several scales, like a photo's thumbnail."""
    from PIL import Image

    out = np.zeros((32, 32), dtype=np.float32)
    for side, weight in ((4, 60.0), (8, 30.0), (16, 15.0)):
        coarse = rng.normal(0, weight, (side, side)).astype(np.float32)
        out += np.asarray(Image.fromarray(coarse, mode="F").resize((32, 32), Image.BICUBIC))
    return np.clip(out + 128, 0, 255).astype(np.uint8)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=1280)
    parser.add_argument("--threshold", type=float, default=0.80)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--store", type=Path, default=Path("/tmp/dups-bench"))
    args = parser.parse_args()

    store = args.store / f"n{args.n}-d{args.dims}"
    truth_file = store / "truth.npy"
    t0 = time.perf_counter()
    if truth_file.exists():
        truth = dict(np.load(truth_file, allow_pickle=True).item())
        built = "reused"
    else:
        truth = build(store, args.n, args.dims)
        np.save(truth_file, np.array(truth, dtype=object), allow_pickle=True)
        built = f"built in {time.perf_counter() - t0:.0f}s"

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.duplicates import find_duplicates

    backend = EmbeddedBackend(store)
    t0 = time.perf_counter()
    backend.search  # noqa: B018
    from es_visual.query.search import Search

    # The first vector search loads (or builds) the ANN index: timed apart.
    Search("media").similar_to(vector=[1.0] * args.dims).limit(1).execute(backend)
    warm = time.perf_counter() - t0
    report = find_duplicates(backend, "media", threshold=args.threshold, k=args.k)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    planted: dict[int, set[str]] = {}
    for doc_id, gid in truth.items():
        if gid >= 0:
            planted.setdefault(gid, set()).add(doc_id)
    found = [frozenset(m.id for m in g.members) for g in report.groups]
    exact = sum(1 for g in found if g in {frozenset(p) for p in planted.values()})
    by_member = {m: i for i, g in enumerate(found) for m in g}
    split = sum(1 for p in planted.values() if len({by_member.get(m) for m in p}) > 1)
    impure = sum(1 for g in found if len({truth[m] for m in g}) > 1 or -1 in {truth[m] for m in g})

    knn = report.stages.get("knn", 0.0)
    print(
        f"{args.n} assets x {args.dims} dims (store {built}); {platform.machine()}, "
        f"Python {platform.python_version()}; ANN load/build {warm:.1f}s\n"
    )
    print(
        "| assets | dims | threshold | k | kNN queries | scan s | kNN s | queries/s | verify s "
        "| total s | peak RSS | planted groups | found whole | split | impure |"
    )
    print("|" + "---|" * 15)
    print(
        f"| {report.scanned} | {args.dims} | {args.threshold} | {args.k} | {report.queries} "
        f"| {report.stages['scan']:.1f} | {knn:.1f} | {report.queries / max(knn, 1e-9):.0f} "
        f"| {report.stages['verify']:.1f} | {report.seconds:.1f} | {rss:.0f} MB "
        f"| {len(planted)} | {exact} | {split} | {impure} |"
    )
    backend.close()


if __name__ == "__main__":
    main()
