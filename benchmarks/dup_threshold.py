"""Where to put the near-duplicate threshold: similarity of true duplicates vs distinct images.

Takes scikit-image's sample photos, makes near-duplicate variants of each
(resized, JPEG re-encoded, slightly cropped, mirrored, and all at once), embeds
everything with the chosen scene model and prints, as tables:

* true duplicates: cosine(original, its variant), per kind of variant;
* distinct images: cosine between different originals, and between a variant
  and every other original (the pairs a duplicate search could confuse);
* the gap between them and the threshold in its middle.

Pairs of samples that ARE the same picture (chessboard_GRAY/RGB, the
motorcycle stereo pair, the two multipage TIFFs) are left out of "distinct".

    python benchmarks/dup_threshold.py [--model mobilenet-v2 | clip:<checkpoint>]
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import time
from pathlib import Path

import numpy as np

# Same picture under two names in skimage/data: never "distinct".
RELATED = [
    {"chessboard_GRAY.png", "chessboard_RGB.png"},
    {"motorcycle_left.png", "motorcycle_right.png"},
]
MIN_SIDE = 128  # smaller samples are icons, not photos


def samples() -> dict[str, object]:
    import skimage
    from PIL import Image

    data = Path(skimage.__file__).parent / "data"
    out = {}
    for path in sorted(data.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg"):
            continue
        im = Image.open(path).convert("RGB")
        if min(im.size) >= MIN_SIDE:
            out[path.name] = im
    return out


def jpeg(im, quality: int):  # type: ignore[no-untyped-def]
    from PIL import Image

    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def crop(im, keep: float):  # type: ignore[no-untyped-def]
    w, h = im.size
    dx, dy = int(w * (1 - keep) / 2), int(h * (1 - keep) / 2)
    return im.crop((dx, dy, w - dx, h - dy))


def variants(im) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from PIL import Image

    w, h = im.size
    small = im.resize((max(1, w // 2), max(1, h // 2)), Image.LANCZOS)
    return {
        "resize 50%": small,
        "resize 25%": im.resize((max(1, w // 4), max(1, h // 4)), Image.LANCZOS),
        "jpeg q=50": jpeg(im, 50),
        "jpeg q=20": jpeg(im, 20),
        "crop 90%": crop(im, 0.90),
        "crop 80%": crop(im, 0.80),
        "mirror": im.transpose(Image.FLIP_LEFT_RIGHT),
        "all (50%, q=50, crop 90%, mirror)": jpeg(
            crop(small, 0.90).transpose(Image.FLIP_LEFT_RIGHT), 50
        ),
    }


def related(a: str, b: str) -> bool:
    return any({a, b} <= pair for pair in RELATED)


def stats(values: list[float]) -> tuple[float, float, float, float, float]:
    v = np.asarray(values)
    return (
        float(v.min()),
        float(np.percentile(v, 5)),
        float(np.median(v)),
        float(np.percentile(v, 95)),
        float(v.max()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet-v2", help="scene embedder name")
    args = parser.parse_args()

    from es_visual.models.registry import get_embedder

    embedder = get_embedder(args.model)
    originals = samples()
    names = list(originals)
    kinds = list(variants(next(iter(originals.values()))))
    started = time.perf_counter()
    base = embedder.embed_images([originals[n] for n in names])
    var = {
        n: dict(
            zip(kinds, embedder.embed_images(list(variants(originals[n]).values())), strict=True)
        )
        for n in names
    }
    seconds = time.perf_counter() - started

    dup: dict[str, list[float]] = {k: [] for k in kinds}
    for i, n in enumerate(names):
        for k in kinds:
            dup[k].append(float(base[i] @ var[n][k]))
    distinct_orig = [
        float(base[i] @ base[j])
        for i, j in itertools.combinations(range(len(names)), 2)
        if not related(names[i], names[j])
    ]
    distinct_var = [
        float(base[j] @ var[names[i]][k])
        for i, j in itertools.permutations(range(len(names)), 2)
        if not related(names[i], names[j])
        for k in kinds
    ]
    all_dup = [x for xs in dup.values() for x in xs]
    distinct = distinct_orig + distinct_var

    print(
        f"model {embedder.tag} ({embedder.dims} dims); {len(names)} skimage samples, "
        f"{len(names) * len(kinds)} variants embedded in {seconds:.1f}s on "
        f"{platform.machine()} / Python {platform.python_version()}\n"
    )
    print("| pairs | n | min | p5 | median | p95 | max |")
    print("|---|---|---|---|---|---|---|")
    for label, values in [
        *((f"duplicate: {k}", v) for k, v in dup.items()),
        ("duplicate: every kind", all_dup),
        ("distinct: original vs original", distinct_orig),
        ("distinct: variant vs other original", distinct_var),
    ]:
        row = " | ".join(f"{x:.3f}" for x in stats(values))
        print(f"| {label} | {len(values)} | {row} |")
    worst_dup = min(all_dup)
    worst_distinct = max(distinct)
    print(f"\nlowest duplicate {worst_dup:.3f}, highest distinct {worst_distinct:.3f}")
    for k, v in dup.items():
        low = names[int(np.argmin(v))]
        print(f"  lowest '{k}': {low} {min(v):.3f}")
    if worst_dup > worst_distinct:
        print(
            f"separable: any threshold in ({worst_distinct:.3f}, {worst_dup:.3f}); "
            f"middle {(worst_dup + worst_distinct) / 2:.3f}"
        )
    else:
        print("NOT separable at every variant strength: see the per-kind rows")
    for t in (0.80, 0.85, 0.88, 0.90, 0.92, 0.95):
        recall = sum(x >= t for x in all_dup) / len(all_dup)
        false = sum(x >= t for x in distinct)
        print(
            f"  threshold {t:.2f}: duplicates found {recall:6.1%}, distinct pairs above "
            f"{false} of {len(distinct)}"
        )


if __name__ == "__main__":
    main()
