"""Video ingest speed: decode+sample throughput per mode, frames embedded/s, peak memory.

Generates an H.264 720p video of MINUTES minutes from scikit-image's photos
(a slow pan inside each photo, a cut every 5 s, a keyframe every 2 s), then,
for each sampling mode, streams it through ``es_visual.media.video`` in a
fresh process and reports how many times faster than real time that ran and
the process's peak RSS (the same figure for a 1-minute video shows memory is
flat). Finally it embeds keyframes with MobileNetV2 and reports frames/s.

    python benchmarks/video.py [--minutes 10] [--height 720] [--fps 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ["keyframes", "fps=1", "scene"]


def generate(path: Path, minutes: float, height: int, fps: int) -> None:
    import av
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
    width = height * 16 // 9 // 2 * 2
    # Each photo enlarged to 120% of the frame so a crop can pan across it.
    big = [
        Image.open(data / n).convert("RGB").resize((int(width * 1.2), int(height * 1.2)))
        for n in names
    ]
    total = int(minutes * 60 * fps)
    shot = 5 * fps
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps
        stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for i in range(total):
            src = big[(i // shot) % len(big)]
            dx = int((i % shot) / shot * (src.width - width))
            frame = av.VideoFrame.from_image(src.crop((dx, 0, dx + width, height)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def worker(path: str, mode: str) -> None:
    """Child process: sample the whole video in one mode, print JSON on stdout."""
    from es_visual.media.video import Sampling, open_video

    start = time.perf_counter()
    # max_frames high enough that the cap does not cut the work short.
    with open_video(path, Sampling.parse(mode, max_frames=100_000, max_side=320)) as video:
        kept = sum(1 for _ in video.frames())
        decoded, duration = video.decoded, video.info.duration
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "kept": kept,
                "decoded": decoded,
                "duration": duration,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def run_mode(path: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(path), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def embed_rate(path: Path, frames: int = 256) -> float:
    from es_visual.media.video import Sampling, sample_video
    from es_visual.models.mobilenet import MobileNetV2Embedder

    model = MobileNetV2Embedder()
    sampling = Sampling.parse("fps=1", max_frames=frames, max_side=320)
    images = [f.image for f in sample_video(path, sampling)]
    model.embed_images(images[:8])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(images), 32):
        model.embed_images(images[i : i + 32])
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--worker", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        long, short = Path(tmp) / "long.mp4", Path(tmp) / "short.mp4"
        t0 = time.perf_counter()
        generate(long, args.minutes, args.height, args.fps)
        generate(short, 1.0, args.height, args.fps)
        print(
            f"generated {args.minutes:g} min {args.height}p@{args.fps} "
            f"({long.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s"
        )
        rows = []
        for mode in MODES:
            r = run_mode(long, mode)
            r1 = run_mode(short, mode)
            rows.append(
                (
                    mode,
                    r["duration"] / r["seconds"],
                    r["decoded"],
                    r["kept"],
                    r["peak_mb"],
                    r1["peak_mb"],
                )
            )
        fps = embed_rate(short)
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    head = (
        "mode",
        "x real time",
        "decoded",
        "kept",
        f"peak RSS {args.minutes:g} min",
        "peak RSS 1 min",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for mode, speed, decoded, kept, peak, peak1 in rows:
        print(f"| {mode} | {speed:.1f}x | {decoded} | {kept} | {peak:.0f} MB | {peak1:.0f} MB |")
    print(f"\nMobileNetV2 embedding of 320 px frames: {fps:.1f} frames/s (batches of 32)")


if __name__ == "__main__":
    main()
