"""Video ingest at scale: each sampling mode's speed and frames kept, and a 2-hour 1080p
video ingested end to end with its memory and time budget.

The input is made here with PyAV. A one-minute clip is *encoded* from scikit-image's
photos (shots of 3-9 s, a slow pan inside each, x264 "veryfast" with its usual key
frames at cuts and B-frames, as real encodes have); longer videos are that clip's
packets *remuxed* end to end (stream copy, shifted timestamps), which takes seconds,
so a 2-hour 1080p H.264 file exists for the run without encoding 180,000 frames.
Every file lives in a temporary folder that is removed at the end.

Each measurement runs in a fresh process (peak RSS is that process's own):

1. sampling: every mode (``auto`` is the default) at the default per-video budget
   (``max_frames`` 600) on the MINUTES-minute video: x real time, frames decoded,
   frames kept per minute; ``auto`` also on 1 minute and LONG minutes, to show memory
   stays flat and how the budget thins a long video;
2. ingest: the ``offline`` preset (MobileNetV2 scene vectors, dlib faces on every kept
   frame) into an embedded store, for MINUTES and LONG minutes: wall time, the model's
   share, frames, faces and peak RSS; printed as the time budget of a 2-hour video.

    python benchmarks/video.py [--minutes 10] [--long 120] [--height 1080] [--fps 25]
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

MODES = ["auto", "keyframes", "fps=1", "scene"]
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
SHOT_SECONDS = [5, 3, 8, 4, 9, 6, 3, 7, 5, 4, 6]  # sums to 60: one minute of shots


def encode_clip(path: Path, height: int, fps: int) -> None:
    """One minute of 1080p (or ``height``) H.264: a slow pan inside each photo per shot."""
    import av
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    width = height * 16 // 9 // 2 * 2
    big = [
        Image.open(data / n).convert("RGB").resize((int(width * 1.2), int(height * 1.2)))
        for n in PHOTOS
    ]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # x264's defaults otherwise: a key frame at least every 250 frames and at cuts.
        stream.codec_context.options = {"preset": "veryfast", "crf": "23"}
        for shot, seconds in enumerate(SHOT_SECONDS):
            src = big[shot % len(big)]
            n = seconds * fps
            for i in range(n):
                dx = int(i / n * (src.width - width))
                dy = int(i / n * (src.height - height) / 2)
                frame = av.VideoFrame.from_image(src.crop((dx, dy, dx + width, dy + height)))
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def remux(clip: Path, path: Path, minutes: float) -> None:
    """``clip`` repeated to ``minutes`` by stream copy: no decoding, no encoding."""
    import av

    with av.open(str(clip)) as src:
        stream = src.streams.video[0]
        packets = [
            (bytes(p), p.pts, p.dts, p.is_keyframe, p.duration) for p in src.demux(stream) if p.size
        ]
        first = min(p[1] for p in packets)
        span = max(p[1] + (p[4] or 0) for p in packets) - first
        reps = max(1, round(minutes * 60 / float(span * stream.time_base)))
        with av.open(str(path), "w") as out:
            copy = out.add_stream_from_template(stream)
            for rep in range(reps):
                for data, pts, dts, key, duration in packets:
                    packet = av.Packet(data)
                    packet.pts, packet.dts = pts + rep * span, dts + rep * span
                    packet.time_base, packet.stream, packet.is_keyframe = (
                        stream.time_base,
                        copy,
                        key,
                    )
                    if duration:
                        packet.duration = duration
                    out.mux(packet)


# --- the measurements, each in its own process ---------------------------------------------


def sample_worker(path: str, mode: str) -> dict:
    from collections import Counter

    from es_visual.media.video import Sampling, open_video

    start = time.perf_counter()
    reasons: Counter[str] = Counter()
    with open_video(path, Sampling.parse(mode, max_side=320)) as video:
        for frame in video.frames():
            reasons[frame.reason] += 1
        decoded, duration = video.decoded, video.info.duration
    return {
        "seconds": time.perf_counter() - start,
        "kept": sum(reasons.values()),
        "reasons": dict(reasons),
        "decoded": decoded,
        "duration": duration,
        "cpu_s": cpu_seconds(),
        "peak_mb": peak_mb(),
    }


def ingest_worker(path: str, mode: str) -> dict:
    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.config import Settings
    from es_visual.ingest.sources import iter_folder
    from es_visual.models.mobilenet import MobileNetV2Embedder
    from es_visual.workflows import ingest, load_pipeline

    with tempfile.TemporaryDirectory() as store:
        settings = Settings(data_dir=Path(store), index="media", pipeline="offline")
        pipeline = load_pipeline(settings)
        embedder = MobileNetV2Embedder()
        backend = EmbeddedBackend(Path(store))
        start = time.perf_counter()
        report = ingest(
            backend, "media", iter_folder(Path(path)), embedder=embedder, pipeline=pipeline
        )
        seconds = time.perf_counter() - start
        [(_, doc)] = list(backend.iter_docs("media"))
        backend.close()
    visual = doc["visual"]
    assert report.failed == 0, report.failures
    return {
        "seconds": seconds,
        "timings": dict(report.seconds),
        "frames": len(visual.get("frames") or []),
        "faces": len(visual.get("faces") or []),
        "duration": visual["duration"],
        "cpu_s": cpu_seconds(),
        "peak_mb": peak_mb(),
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system time of this process and its threads: what the work costs whatever
    else the machine is doing (wall time on a shared machine is not)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(kind: str, path: Path, mode: str = "auto") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def hms(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="every mode on this length")
    parser.add_argument("--long", type=float, default=120.0, help="the long video, minutes")
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path, mode = args.worker
        worker = sample_worker if kind == "sample" else ingest_worker
        print(json.dumps(worker(path, mode)))
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"(this process may use {len(os.sched_getaffinity(0))}), Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = root / "clip.mp4"
        t0 = time.perf_counter()
        encode_clip(clip, args.height, args.fps)
        print(f"encoded 1 min {args.height}p@{args.fps} in {time.perf_counter() - t0:.0f} s")
        videos = {1.0: clip}
        for minutes in (args.minutes, args.long):
            folder = root / f"{minutes:g}min"
            folder.mkdir()
            videos[minutes] = folder / "video.mp4"
            t0 = time.perf_counter()
            remux(clip, videos[minutes], minutes)
            size = videos[minutes].stat().st_size / 1e6
            print(f"remuxed {minutes:g} min ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s")

        print("\nSampling, frames scaled to 320 px, default budget (max_frames 600)")
        print(
            "| mode | video | x real time | CPU s per video min | frames decoded | frames kept "
            "| kept per minute | peak RSS |"
        )
        print("|---|---|---|---|---|---|---|---|")
        runs = [(mode, args.minutes) for mode in MODES]
        runs += [("auto", 1.0), ("auto", args.long)]
        samples = {}
        for mode, minutes in runs:
            r = run("sample", videos[minutes], mode)
            samples[(mode, minutes)] = r
            print(
                f"| {mode} | {minutes:g} min | {r['duration'] / r['seconds']:.1f}x "
                f"| {60 * r['cpu_s'] / r['duration']:.2f} "
                f"| {r['decoded']} | {r['kept']} | {60 * r['kept'] / r['duration']:.1f} "
                f"| {r['peak_mb']:.0f} MB |",
                flush=True,
            )
        print("\nauto, why frames were kept:")
        for (mode, minutes), r in samples.items():
            if mode == "auto":
                print(f"  {minutes:g} min: {r['reasons']}")

        print(
            "\nIngest, offline preset (MobileNetV2 + dlib faces on every kept frame), "
            "embedded store"
        )
        print(
            "| video | wall | x real time | CPU time | of which embedding | frames | faces "
            "| peak RSS |"
        )
        print("|---|---|---|---|---|---|---|---|")
        ingests = {}
        for minutes in (args.minutes, args.long):
            r = run("ingest", videos[minutes].parent)
            ingests[minutes] = r
            print(
                f"| {minutes:g} min | {hms(r['seconds'])} | {r['duration'] / r['seconds']:.1f}x "
                f"| {hms(r['cpu_s'])} | {r['timings'].get('embed', 0):.0f} s "
                f"| {r['frames']} | {r['faces']} "
                f"| {r['peak_mb']:.0f} MB |",
                flush=True,
            )
    long, decode = ingests[args.long], samples[("auto", args.long)]
    cores = len(os.sched_getaffinity(0))
    embed = long["timings"].get("embed", 0.0)
    # One asset: analysis (decode, sampling, faces) runs first, then the other stages.
    analysis = long["seconds"] - sum(long["timings"].values())
    decode_cpu = decode["cpu_s"] * args.long * 60 / decode["duration"]
    print(
        f"\nTime budget of a {args.long:g}-minute {args.height}p video on this machine: "
        f"{hms(long['seconds'])} wall = analysis (decode, sampling, faces on each kept "
        f"frame) {hms(analysis)} + embedding {long['frames']} frames {hms(embed)} + the rest "
        f"{hms(long['seconds'] - analysis - embed)}. CPU time {hms(long['cpu_s'])}, of which "
        f"decoding and sampling {hms(decode_cpu)} (the sampling run above); on {cores} idle "
        f"cores at best {hms(long['cpu_s'] / cores)} wall. Peak RSS {long['peak_mb']:.0f} MB "
        f"({ingests[args.minutes]['peak_mb']:.0f} MB for {args.minutes:g} min)."
    )
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
