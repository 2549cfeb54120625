"""Ingest throughput: the whole pipeline against the bare model forward pass, side by side.

Generates N JPEGs (random crops of scikit-image's photos, resized to 480-1024 px
on the long side, quality 85), then in one process:

1. bare forward: the same model, same batch size, on tensors already decoded,
   resized and normalized before the clock starts (the ceiling);
2. pipeline: ``workflows.ingest`` into one embedded store - hash, decode,
   shrink, preprocess, embed, bulk write - with the runner's thread pool.

The two alternate in ROUNDS rounds (bare on the same BARE images, then the
pipeline on the next N/ROUNDS files), so that both see the same load on shared
cores. Prints images/s of each and their ratio, the runner's per-stage times,
and the peak RSS sampled every 50 ms (psutil) over the whole run.

    python benchmarks/ingest.py [--n 2000] [--batch 16] [--bare 64] [--rounds 8] [--no-flip]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


class PeakRss:
    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            rss = self.proc.memory_info().rss
            self.samples.append(rss)
            self.peak = max(self.peak, rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def sample_photos() -> list[Any]:
    """scikit-image's sample photos of 256 px or more, as RGB pictures."""
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    photos = []
    for p in sorted(data.iterdir()):
        if p.suffix.lower() in (".png", ".jpg"):
            try:
                im = Image.open(p)
                if min(im.size) >= 256:
                    photos.append(im.convert("RGB"))
            except Exception:
                continue
    return photos


def generate(folder: Path, n: int, seed: int = 0) -> float:
    """N JPEGs made from skimage's sample photos; returns seconds spent."""
    from PIL import Image

    started = time.perf_counter()
    photos = sample_photos()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = photos[i % len(photos)]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        long_side = int(rng.integers(480, 1025))
        scale = long_side / max(cw, ch)
        img = src.crop((x, y, x + cw, y + ch)).resize(
            (max(1, int(cw * scale)), max(1, int(ch * scale))), Image.Resampling.BILINEAR
        )
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img.save(folder / f"img{i:06d}.jpg", quality=85)
    return time.perf_counter() - started


def bare_batches(embedder, files: list[Path], batch: int) -> list[np.ndarray]:
    """The bare pass's input: decoded, resized and normalized before any clock starts."""
    from PIL import Image

    from es_visual.models.mobilenet import preprocess

    out = []
    for s in range(0, len(files), batch):
        imgs = [Image.open(f).convert("RGB") for f in files[s : s + batch]]
        out.append(preprocess(imgs, size=embedder.image_size, mode=embedder.preprocess))
    return out


def bare_forward(embedder, tensors: list[np.ndarray]) -> tuple[int, float]:
    """(images, seconds) of the model alone on ready tensors."""
    started = time.perf_counter()
    for t in tensors:
        embedder._embed_batch(t)
    return sum(len(t) for t in tensors), time.perf_counter() - started


def pipeline(embedder, backend, files: list[Path], batch: int):  # type: ignore[no-untyped-def]
    """(images written, seconds, stage seconds) of ``workflows.ingest`` over ``files``."""
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_paths
    from es_visual.workflows import ingest

    started = time.perf_counter()
    report = ingest(
        backend,
        "bench",
        iter_paths(files),
        embedder=embedder,
        pipeline=PipelineConfig(name="bench"),
        batch_size=batch,
    )
    elapsed = time.perf_counter() - started
    assert not report.failures, report.failures[:3]
    return report.written, elapsed, dict(report.seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="images to ingest")
    ap.add_argument(
        "--batch", type=int,
        help="images per model call (default: the CLI's for the device: 16 on a CPU)",
    )  # fmt: skip
    ap.add_argument("--bare", type=int, default=64, help="images of the bare pass, each round")
    ap.add_argument("--rounds", type=int, default=8, help="bare/pipeline alternations")
    ap.add_argument("--no-flip", action="store_true", help="embed without the mirror pass")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (as the CLI's)")
    ap.add_argument(
        "--image-size", type=int, default=224,
        help="model input side; a small one (64) makes a long run cheap for the memory check",
    )  # fmt: skip
    ap.add_argument("--images", help="reuse (or create) the JPEGs in this folder")
    args = ap.parse_args()

    import torch

    from es_visual.models.mobilenet import MobileNetV2Embedder

    folder = Path(args.images) if args.images else Path(tempfile.mkdtemp(prefix="esv-ingest-"))
    files = sorted(folder.glob("*.jpg")) if folder.exists() else []
    gen_s = 0.0
    if len(files) < args.n:
        gen_s = generate(folder, args.n)
        files = sorted(folder.glob("*.jpg"))
    files = files[: args.n]
    mb = sum(f.stat().st_size for f in files) / 2**20

    from es_visual.models.runtime import batch_size_for, no_gpu_reason, pick_device

    device = pick_device(args.device)
    args.batch = args.batch or batch_size_for(device, 16)
    embedder = MobileNetV2Embedder(
        batch_size=args.batch, flip=not args.no_flip, device=args.device,
        image_size=args.image_size,
    )  # fmt: skip
    if device.type != "cuda":
        print(f"# no GPU used: {no_gpu_reason() if not torch.cuda.is_available() else 'cpu asked'}")
    print(
        f"# {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__} "
        f"({embedder.threads} threads, device {embedder.device}), Python "
        f"{platform.python_version()}; {len(files)} JPEGs ({mb:.0f} MB, made in {gen_s:.0f} s), "
        f"batch {args.batch}, flip {not args.no_flip}, input {args.image_size} px"
    )
    # Side by side: each round runs the bare pass on the same ready tensors, then the
    # pipeline on the next slice of files, so both see the same load on shared cores.
    from es_visual.backends.embedded import EmbeddedBackend

    tensors = bare_batches(embedder, files[: args.bare], args.batch)
    embedder._embed_batch(tensors[0])  # warm-up
    store = Path(tempfile.mkdtemp(prefix="esv-ingest-store-"))
    backend = EmbeddedBackend(store)
    rounds = max(1, args.rounds)
    per = -(-len(files) // rounds)
    bare_n = bare_s = pipe_n = pipe_s = 0.0
    stages: dict[str, float] = {}
    rss = PeakRss()
    after_round = []
    for r in range(rounds):
        n, sec = bare_forward(embedder, tensors)
        bare_n, bare_s = bare_n + n, bare_s + sec
        n, sec, st = pipeline(embedder, backend, files[r * per : (r + 1) * per], args.batch)
        pipe_n, pipe_s = pipe_n + n, pipe_s + sec
        for k, v in st.items():
            stages[k] = stages.get(k, 0.0) + v
        after_round.append(rss.proc.memory_info().rss / 2**20)
    peak = rss.stop()
    stored = backend.stats("bench").with_visual
    backend.close()
    shutil.rmtree(store, ignore_errors=True)
    bare, full = bare_n / bare_s, pipe_n / pipe_s
    print("| measure | images | seconds | images/s |")
    print("|---|---|---|---|")
    print(f"| bare forward (ready tensors) | {bare_n:.0f} | {bare_s:.1f} | {bare:.2f} |")
    print(f"| whole pipeline (decode..write) | {pipe_n:.0f} | {pipe_s:.1f} | {full:.2f} |")
    print(f"| ratio pipeline / bare | | | {full / bare:.2f}x |")
    print(f"peak RSS during the run: {peak / 2**20:.0f} MB; documents with a vector: {stored}")
    print("RSS after each round (MB):", [round(x) for x in after_round])
    print("pipeline stage seconds:", {k: round(v, 1) for k, v in stages.items()})
    if not args.images:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
