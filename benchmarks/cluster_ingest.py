"""Many workers over one index on a live cluster: per-worker and total throughput, balance.

For each worker count W: a fresh index (``--shards`` shards, 1 replica) holding N documents
that name their pictures in ``file`` (JPEGs cut from scikit-image's photos, 320-640 px on
the long side), then ``es-visual ingest --from-index --workers W`` as a user runs it (W
processes, slice i/W each, torch threads shared out), scene-only pipeline (MobileNetV2).
Prints each worker's documents, seconds and documents/s, the run's total, the balance
(fewest / most documents in a slice) and whether each document was written exactly once
(the engine's own counts: primaries' index operations during the run == N, no no-op
updates).

    scripts/engine.sh start opensearch --port 9450      # or any cluster
    python benchmarks/cluster_ingest.py --backend opensearch --url http://127.0.0.1:9450 \\
        --docs 3000 --workers 1,2,4

It says which device embedded, and that no GPU was used when there was none.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np


def pictures(folder: Path, n: int, seed: int = 19) -> list[Path]:
    """N JPEGs: random crops of scikit-image's photos, 320-640 px, quality 85."""
    from ingest import sample_photos  # benchmarks/ingest.py, beside this script

    photos = sample_photos()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        out.append(path)
        if path.exists():
            continue
        src = photos[i % len(photos)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        scale = int(rng.integers(320, 641)) / max(cw, ch)
        img = src.crop((x, y, x + cw, y + ch)).resize((int(cw * scale), int(ch * scale)))
        img.save(path, quality=85)
    return out


def open_backend(kind: str, url: str):  # type: ignore[no-untyped-def]
    if kind == "opensearch":
        from es_visual.backends.cluster.opensearch import OpenSearchBackend

        return OpenSearchBackend(url, timeout=120)
    from es_visual.backends.cluster.elasticsearch import ElasticsearchBackend

    return ElasticsearchBackend(url, timeout=120)


def seed(backend, kind: str, index: str, files: list[Path], shards: int) -> None:  # type: ignore[no-untyped-def]
    from es_visual.core.documents import VisualSpec

    settings: dict[str, object] = {"number_of_shards": shards, "number_of_replicas": 1}
    if kind == "opensearch":
        settings["index.knn"] = True
        from opensearchpy.helpers import bulk
    else:
        from elasticsearch.helpers import bulk
    backend.client.indices.create(index=index, body={"settings": settings})
    backend.ensure_index(index, VisualSpec(model="mobilenet-v2@imagenet1k-v1", dims=1280))
    actions = (
        {"_op_type": "create", "_index": index, "_id": f"a{i:06d}", "_source": {"file": str(p)}}
        for i, p in enumerate(files)
    )
    bulk(backend.client, actions, refresh=True, chunk_size=1000)


def indexing(backend, index: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    stats = backend.client.indices.stats(index=index, metric="indexing")
    return stats["indices"][index]["primaries"]["indexing"]


def run(kind: str, url: str, index: str, workers: int, pipeline: Path, data_dir: Path) -> dict:
    cmd = [
        sys.executable, "-m", "es_visual", "--backend", kind, "--url", url, "--index", index,
        "--data-dir", str(data_dir), "ingest", "--from-index", "--path-field", "file",
        "--pipeline", str(pipeline), "--workers", str(workers), "--json",
    ]  # fmt: skip
    if workers == 1:  # one process, no split: the baseline
        cmd[cmd.index("--workers") : cmd.index("--workers") + 2] = []
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"ingest exited {done.returncode}: {done.stderr[-3000:]}")
    out = json.loads(done.stdout)
    if workers == 1:
        seconds = round(wall, 3)
        row = {"slice": "-", "seen": out["seen"], "written": out["written"],
               "seconds": seconds, "docs_per_s": round(out["seen"] / wall, 2)}  # fmt: skip
        return {"workers": [row], "total": dict(row), "balance": 1.0, "wall": wall}
    out["wall"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["opensearch", "elasticsearch"], required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--workers", default="1,2,4", help="worker counts to run, e.g. 1,2,4")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--images", help="reuse (or create) the JPEGs in this folder")
    args = ap.parse_args()

    import torch

    from es_visual.models.runtime import available_cpus, no_gpu_reason, pick_device

    device = pick_device("auto")
    backend = open_backend(args.backend, args.url)
    server = backend.server
    folder = Path(args.images or tempfile.mkdtemp(prefix="esv-cluster-ingest-"))
    made = time.monotonic()
    files = pictures(folder, args.docs)
    print(
        f"# {platform.machine()}, {available_cpus()} cpus (load {os.getloadavg()[0]:.1f}), "
        f"torch {torch.__version__}, device {device}; {server.label} at {args.url}; "
        f"{len(files)} JPEGs (made in {time.monotonic() - made:.0f} s); {args.shards} shards, "
        "1 replica; scene-only MobileNetV2"
    )
    if device.type != "cuda":
        print(f"# no GPU used: {no_gpu_reason()}")
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Path(tmp) / "scene.yaml"
        pipeline.write_text("model: mobilenet-v2\nfaces: {enabled: false}\n")
        for count in [int(w) for w in args.workers.split(",")]:
            index = f"bench-workers-{uuid.uuid4().hex[:6]}"
            seed(backend, args.backend, index, files, args.shards)
            before = indexing(backend, index)
            out = run(args.backend, args.url, index, count, pipeline, Path(tmp) / "data")
            after = indexing(backend, index)
            once = (
                after["index_total"] - before["index_total"] == len(files)
                and after["noop_update_total"] == before["noop_update_total"]
            )
            print(f"\n## {count} worker(s): load {os.getloadavg()[0]:.1f} after the run")
            print("| worker | slice | documents | seconds | documents/s |")
            print("|---|---|---|---|---|")
            for i, w in enumerate(out["workers"]):
                print(f"| {i} | {w['slice']} | {w['seen']} | {w['seconds']:.1f} | "
                      f"{w['docs_per_s']:.2f} |")  # fmt: skip
            total = out["total"]
            print(f"| total | | {total['seen']} | {out['wall']:.1f} (wall, with start-up) | "
                  f"{total['seen'] / out['wall']:.2f} |")  # fmt: skip
            print(f"balance (fewest / most documents in a slice): {out['balance']:.2f}; "
                  f"each document written exactly once (engine's counts): {once}")  # fmt: skip
            backend.client.indices.delete(index=index)
    backend.close()


if __name__ == "__main__":
    main()
