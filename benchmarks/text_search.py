"""Search by text with the offline models: recall@3 of everyday phrasings, per signal and fused.

The collection is built from media that ship in packages: scikit-image's sample
pictures as the demo lays them out (with the demo manifest's own tags and
captions), plus six altered copies of the photos (cropped to 80%, mirrored,
JPEG quality 60, no user text at all) and two more videos made with PyAV from
the samples (no user text either), besides the demo's slideshow. Each query is
an everyday phrasing, never a class name, labelled with the content it asks
for; an asset is relevant when it shows that content (a video when one of its
shots does).

recall@3 = |relevant in the top 3| / min(3, |relevant|), averaged over queries.
Three ways to rank, all on the embedded store:

* concepts: the query matched to the scene model's labels (MiniLM), no user text;
* user text: BM25 over caption and tags alone;
* fused: both, by reciprocal rank (what ``Search.text`` does).

    python benchmarks/text_search.py [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

# content key -> the assets (by id) that show it; filled in by build()
QUERIES: list[tuple[str, str]] = [
    ("a cat", "cat"),
    ("kitty lying on the floor", "cat"),
    ("my pet kitten", "cat"),
    ("a cup of coffee", "coffee"),
    ("hot drink in a cup", "coffee"),
    ("espresso break", "coffee"),
    ("a motorbike", "motorcycle"),
    ("a parked scooter", "motorcycle"),
    ("two-wheeled vehicle", "motorcycle"),
    ("a photographer with a tripod", "camera"),
    ("man taking pictures", "camera"),
    ("a rocket on the launch pad", "rocket"),
    ("space launch", "rocket"),
    ("an astronaut", "astronaut"),
    ("a woman in a space suit", "astronaut"),
    ("the moon", "moon"),
    ("lunar craters", "moon"),
    ("galaxies in deep space", "hubble"),
    ("stars in the night sky", "hubble"),
    ("old coins", "coins"),
    ("money", "coins"),
    ("a clock", "clock"),
    ("a printed page of text", "text"),
    ("a brick wall", "brick"),
    ("a lawn of grass", "grass"),
    ("gravel stones", "gravel"),
    ("a horse", "horse"),
    ("a checkerboard pattern", "chessboard"),
    ("an eye scan", "retina"),
    ("cells under a microscope", "microscopy"),
]

# demo sample file -> content keys
CONTENT = {
    "astronaut.png": {"astronaut"},
    "camera.png": {"camera"},
    "chelsea.png": {"cat"},
    "horse.png": {"horse"},
    "coffee.png": {"coffee"},
    "rocket.jpg": {"rocket"},
    "moon.png": {"moon"},
    "hubble_deep_field.jpg": {"hubble"},
    "motorcycle_left.png": {"motorcycle"},
    "motorcycle_right.png": {"motorcycle"},
    "brick.png": {"brick"},
    "grass.png": {"grass"},
    "gravel.png": {"gravel"},
    "coins.png": {"coins"},
    "clock_motion.png": {"clock"},
    "page.png": {"text"},
    "text.png": {"text"},
    "chessboard_RGB.png": {"chessboard"},
    "ihc.png": {"microscopy"},
    "cell.png": {"microscopy"},
    "retina.jpg": {"retina"},
}
VARIANTS = ["chelsea.png", "coffee.png", "motorcycle_left.png", "camera.png", "rocket.jpg",
            "astronaut.png"]  # fmt: skip
VIDEOS = {
    "street.mp4": ["motorcycle_left.png", "chelsea.png", "camera.png"],
    "space.mp4": ["moon.png", "rocket.jpg", "hubble_deep_field.jpg"],
}


def build(root: Path) -> tuple[Path, dict[str, set[str]]]:
    """The media and a manifest under ``root``; returns (manifest, asset id -> content)."""
    from PIL import Image

    from es_visual.demo import (
        DEMO_VIDEO_SHOTS,
        prepare_demo_media,
        skimage_data_dir,
        write_slideshow,
    )

    demo = prepare_demo_media(root)
    data = skimage_data_dir()
    lines = demo.manifest.read_text(encoding="utf-8").splitlines()
    relevant: dict[str, set[str]] = {}
    for line in lines:
        doc = json.loads(line)
        name = Path(doc["path"]).name
        relevant[doc["id"]] = set(CONTENT.get(name, ()))
    slideshow = "video/slideshow.mp4"
    relevant[slideshow] = set()
    for name, _ in DEMO_VIDEO_SHOTS:
        relevant[slideshow] |= CONTENT.get(name, set())
    extra = root / "media" / "extra"
    extra.mkdir(exist_ok=True)
    for name in VARIANTS:
        out = extra / (Path(name).stem + "_copy.jpg")
        if not out.exists():
            with Image.open(data / name) as im:
                im = im.convert("RGB")
                w, h = im.size
                box = (w // 10, h // 10, w - w // 10, h - h // 10)
                im.crop(box).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, quality=60)
        asset = f"extra/{out.name}"
        lines.append(json.dumps({"id": asset, "path": f"media/extra/{out.name}"}))
        relevant[asset] = set(CONTENT[name])
    for video, names in VIDEOS.items():
        out = extra / video
        if not out.exists():
            write_slideshow(out, [data / n for n in names], secs=3.0)
        asset = f"extra/{video}"
        lines.append(json.dumps({"id": asset, "path": f"media/extra/{video}"}))
        relevant[asset] = set().union(*(CONTENT[n] for n in names))
    manifest = root / "bench.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, relevant


def recall_at(ranked: list[str], relevant: set[str], k: int = 3) -> float:
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="build (or reuse) the collection here")
    parser.add_argument("--json", action="store_true", help="print the per-query table as JSON")
    args = parser.parse_args()

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.ingest.pipeline import PipelineConfig
    from es_visual.ingest.sources import iter_manifest
    from es_visual.models.concepts import get_concept_matcher
    from es_visual.models.registry import get_embedder
    from es_visual.query.fieldmap import FieldMap
    from es_visual.query.ranking import RankRequest, TextRank, query_words, run_rank
    from es_visual.query.search import Search
    from es_visual.workflows import ingest

    root = args.keep or Path(tempfile.mkdtemp(prefix="es-visual-text-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        manifest, content = build(root)
        backend = EmbeddedBackend(root / "data")
        started = time.perf_counter()
        report = ingest(
            backend,
            "bench",
            iter_manifest(manifest),
            embedder=get_embedder("mobilenet-v2"),
            pipeline=PipelineConfig(),
        )
        ingest_s = time.perf_counter() - started
        if report.failures:
            print("ingest failures:", [f.reason for f in report.failures], file=sys.stderr)
        started = time.perf_counter()
        get_concept_matcher()  # the first use embeds the 1000 concepts (cached on disk)
        matcher_s = time.perf_counter() - started

        user_text = ("caption", "tags")
        concepts_only = Search("bench", field_map=FieldMap.default(text_fields=()))
        fused = Search("bench", field_map=FieldMap.default(text_fields=user_text))
        rows = []
        latencies = []
        for phrase, key in QUERIES:
            relevant = {a for a, keys in content.items() if key in keys}
            t0 = time.perf_counter()
            by_fused = [h.id for h in fused.text(phrase).limit(3).execute(backend).hits]
            latencies.append(time.perf_counter() - t0)
            try:
                by_concepts = [
                    h.id for h in concepts_only.text(phrase).limit(3).execute(backend).hits
                ]
            except Exception:  # no concept near the words: nothing ranks them
                by_concepts = []
            text_request = RankRequest("bench", TextRank(user_text, query_words(phrase)), size=3)
            by_text = [h.id for h in run_rank(backend, text_request).hits]
            rows.append(
                {
                    "query": phrase,
                    "relevant": len(relevant),
                    "concepts": recall_at(by_concepts, relevant),
                    "text": recall_at(by_text, relevant),
                    "fused": recall_at(by_fused, relevant),
                    "top3": by_fused,
                }
            )
        if args.json:
            print(json.dumps(rows, indent=1))
        n = len(rows)
        mean = {k: sum(r[k] for r in rows) / n for k in ("concepts", "text", "fused")}
        print(f"machine: {platform.machine()}, {platform.python_version()}, "
              f"{len(content)} assets ({sum(1 for a in content if a.endswith('.mp4'))} videos), "
              f"{n} queries")  # fmt: skip
        print(f"ingest {ingest_s:.1f} s; concept vectors {matcher_s:.1f} s (0 when cached)")
        print(f"{'query':34s} {'rel':>3s} {'concepts':>8s} {'text':>6s} {'fused':>6s}")
        for r in rows:
            print(f"{r['query']:34s} {r['relevant']:3d} {r['concepts']:8.2f} {r['text']:6.2f} "
                  f"{r['fused']:6.2f}")  # fmt: skip
        print(f"{'recall@3':34s} {'':3s} {mean['concepts']:8.3f} {mean['text']:6.3f} "
              f"{mean['fused']:6.3f}")  # fmt: skip
        latencies.sort()
        print(f"fused query latency: median {1000 * latencies[n // 2]:.0f} ms, "
              f"max {1000 * latencies[-1]:.0f} ms")  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
