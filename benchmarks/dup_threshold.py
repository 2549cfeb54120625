"""Calibrate "near duplicate" on labelled pairs: precision and recall of the three checks.

A pair is called a near duplicate when all three agree (es_visual.duplicates.NearRule):
the scene embeddings' cosine >= ``cosine``, the 64-bit perceptual hashes differ in
<= ``hamming`` bits, and the two 32x32 thumbs line up as one picture with a score
>= ``picture`` (es_visual.media.phash.same_picture_score). This script builds a
labelled set from pictures nobody here made, measures the three numbers for every
pair, and prints precision / recall over a grid of the three thresholds, then the
row of the shipped default.

Same picture (should be found), for each scikit-image photo >= 128 px:
  resized to 50% and 25%, JPEG quality 50 and 20, centre crops to 95/90/85% of each
  side, a 90% crop at a corner, brightness +15%, contrast +20%, saturation +30%,
  grayscale, a white caption box (a light edit), and 50% + 92% crop + quality 50
  at once. Mirrored copies are a separate row: found only when the user asks.
Different pictures (must never be called duplicates):
  * every pair of different photos, and every copy above against every other photo;
  * crops of different parts of one photo (left 70% vs right 70%: 57% overlap;
    top-left 60% vs bottom-right 60%), chessboards left out (their halves are the
    same pixels);
  * different photos of one scene: the motorcycle stereo pair (two cameras a few
    cm apart, the same instant) and every copy of one against the other;
  * different people in similar poses: the 100 faces of ``skimage.data.lfw_subset``
    (Labeled Faces in the Wild, aligned, 25x25 upscaled to 100x100), all 4950 pairs;
  * similar products: the 24 ancient coins of ``coins.png``, each cut out, all pairs.

Not in the set: real burst shots (no burst sequence ships in any package here; the
stereo pair is the nearest: one scene, two viewpoints) and CLIP (no weights can be
downloaded here; run ``--model clip:<checkpoint>`` where they can).

    python benchmarks/dup_threshold.py [--model mobilenet-v2 | clip:<checkpoint>]
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MIN_SIDE = 128  # smaller samples are icons, not photos
# The loosest gates of the grid: pairs outside them are rejected everywhere, so their
# (slower) picture score is not computed.
LOOSEST_COSINE = 0.60
LOOSEST_HAMMING = 32


@dataclass
class Item:
    name: str
    image: Any  # PIL image
    vector: np.ndarray | None = None
    thumb: np.ndarray | None = None
    phash: int = 0


@dataclass
class Pair:
    label: str  # the row it is counted in
    duplicate: bool
    a: Item
    b: Item
    mirror: bool = False  # a mirrored copy: compared with the mirror check on
    cosine: float = 0.0
    hamming: int = 64
    picture: float = -1.0


def samples() -> dict[str, Any]:
    import skimage
    from PIL import Image

    from es_visual.media.image import to_rgb

    data = Path(skimage.__file__).parent / "data"
    out = {}
    for path in sorted(data.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg"):
            continue
        with Image.open(path) as im:
            im.load()
            rgb = to_rgb(im).copy()
        if min(rgb.size) >= MIN_SIDE:
            out[path.name] = rgb
    return out


def jpeg(im: Any, quality: int) -> Any:
    from PIL import Image

    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def crop(im: Any, keep: float, cx: float = 0.5, cy: float = 0.5) -> Any:
    """A window of ``keep`` of each side; (cx, cy) place it (0 = left/top, 1 = right/bottom)."""
    w, h = im.size
    cw, ch = round(w * keep), round(h * keep)
    x0, y0 = round((w - cw) * cx), round((h - ch) * cy)
    return im.crop((x0, y0, x0 + cw, y0 + ch))


def copies(im: Any) -> dict[str, Any]:
    from PIL import Image, ImageDraw, ImageEnhance, ImageOps

    w, h = im.size
    half = im.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)
    boxed = im.copy()
    ImageDraw.Draw(boxed).rectangle((w * 0.70, h * 0.88, w * 0.98, h * 0.97), fill="white")
    return {
        "resize 50%": half,
        "resize 25%": im.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.LANCZOS),
        "jpeg q=50": jpeg(im, 50),
        "jpeg q=20": jpeg(im, 20),
        "crop 95%": crop(im, 0.95),
        "crop 90%": crop(im, 0.90),
        "crop 90% at a corner": crop(im, 0.90, 0.0, 0.0),
        "crop 85%": crop(im, 0.85),
        "brightness +15%": ImageEnhance.Brightness(im).enhance(1.15),
        "contrast +20%": ImageEnhance.Contrast(im).enhance(1.2),
        "saturation +30%": ImageEnhance.Color(im).enhance(1.3),
        "grayscale": ImageOps.grayscale(im).convert("RGB"),
        "caption box": boxed,
        "all: 50%, crop 92%, q=50": jpeg(crop(half, 0.92), 50),
    }


def lfw_faces() -> list[Any]:
    import skimage
    from PIL import Image

    faces = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")[:100]
    return [
        Image.fromarray((f * 255).round().astype(np.uint8))
        .convert("RGB")
        .resize((100, 100), Image.Resampling.BICUBIC)
        for f in faces
    ]


def coins(im: Any) -> list[Any]:
    """The 24 coins of coins.png (6 columns x 4 rows), each in its own picture."""
    from PIL import Image

    w, h = im.size
    out = []
    for r, c in itertools.product(range(4), range(6)):
        box = (round(c * w / 6), round(r * h / 4), round((c + 1) * w / 6), round((r + 1) * h / 4))
        cell = im.crop(box)
        out.append(cell.resize((cell.width * 3, cell.height * 3), Image.Resampling.BICUBIC))
    return out


def build() -> tuple[list[Item], list[Pair]]:
    from PIL import Image

    photos = samples()
    items: list[Item] = []
    pairs: list[Pair] = []

    def item(name: str, image: Any) -> Item:
        items.append(Item(name, image))
        return items[-1]

    originals = {n: item(n, im) for n, im in photos.items()}
    variants: dict[str, list[tuple[str, Item]]] = {}
    for n, im in photos.items():
        variants[n] = [(k, item(f"{n} {k}", v)) for k, v in copies(im).items()]
        for kind, v in variants[n]:
            pairs.append(Pair(f"same: {kind}", True, originals[n], v))
        mirrored = item(f"{n} mirror", im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        pairs.append(Pair("same: mirrored (mirror check on)", True, originals[n], mirrored, True))
        pairs.append(Pair("different: mirrored, mirror check off", False, originals[n], mirrored))
    stereo = {"motorcycle_left.png", "motorcycle_right.png"}
    chess = {"chessboard_GRAY.png", "chessboard_RGB.png"}
    names = list(photos)
    for a, b in itertools.combinations(names, 2):
        if {a, b} == chess:
            continue  # the same board in two colour modes
        if {a, b} == stereo:
            label = "different: stereo pair (one scene, two cameras)"
        else:
            label = "different: two photos"
        pairs.append(Pair(label, False, originals[a], originals[b]))
    for a, b in itertools.permutations(names, 2):
        if {a, b} == chess:
            continue
        label = (
            "different: a copy of one stereo photo vs the other"
            if {a, b} == stereo
            else "different: a copy vs another photo"
        )
        for _kind, v in variants[a]:
            pairs.append(Pair(label, False, v, originals[b]))
    for n, im in photos.items():
        if n in chess:
            continue
        for (ka, a), (kb, b) in (
            (("left 70%", crop(im, 0.7, 0.0)), ("right 70%", crop(im, 0.7, 1.0))),
            (("top-left 60%", crop(im, 0.6, 0.0, 0.0)), ("bottom-right 60%", crop(im, 0.6, 1, 1))),
        ):
            pairs.append(
                Pair(
                    "different: crops of two parts of one photo",
                    False,
                    item(f"{n} {ka}", a),
                    item(f"{n} {kb}", b),
                )
            )
    faces = [item(f"lfw face {i}", f) for i, f in enumerate(lfw_faces())]
    for a, b in itertools.combinations(faces, 2):
        pairs.append(Pair("different: two people, same pose (LFW)", False, a, b))
    coin_items = [item(f"coin {i}", c) for i, c in enumerate(coins(photos["coins.png"]))]
    for a, b in itertools.combinations(coin_items, 2):
        pairs.append(Pair("different: similar products (coins)", False, a, b))
    return items, pairs


def measure(items: list[Item], pairs: list[Pair], embed: Callable[[list[Any]], Any]) -> float:
    from es_visual.media.phash import hamming, hash_of_thumb, picture_print, same_picture_score

    started = time.perf_counter()
    for start in range(0, len(items), 32):
        chunk = items[start : start + 32]
        for it, vec in zip(chunk, embed([i.image for i in chunk]), strict=True):
            it.vector = np.asarray(vec, dtype=np.float32)
    for it in items:
        printed = picture_print(it.image)
        it.phash = int(printed.phash, 16)
        it.thumb = np.frombuffer(printed.thumb, dtype=np.uint8).reshape(32, 32)
    for p in pairs:
        assert p.a.vector is not None and p.b.vector is not None
        assert p.a.thumb is not None and p.b.thumb is not None
        p.cosine = float(p.a.vector @ p.b.vector)
        bits = p.b.phash if not p.mirror else hash_of_thumb(p.b.thumb, mirror=True)
        p.hamming = hamming(p.a.phash, bits)
        if p.cosine >= LOOSEST_COSINE and p.hamming <= LOOSEST_HAMMING:
            p.picture = same_picture_score(
                p.a.thumb, p.a.image.size, p.b.thumb, p.b.image.size, mirror=p.mirror
            )
    return time.perf_counter() - started


def called(p: Pair, cosine: float, hamming: int, picture: float) -> bool:
    return p.cosine >= cosine and p.hamming <= hamming and p.picture >= picture


def score(pairs: list[Pair], rule: tuple[float, int, float]) -> tuple[int, int, int, int]:
    """(true positives, duplicates, false positives, distinct pairs); mirror rows excluded
    unless they are the mirror-check row."""
    tp = dups = fp = distinct = 0
    for p in pairs:
        hit = called(p, *rule)
        if p.duplicate:
            dups += 1
            tp += hit
        else:
            distinct += 1
            fp += hit
    return tp, dups, fp, distinct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mobilenet-v2", help="scene embedder name")
    parser.add_argument("--save", help="also write every pair's numbers to this JSON file")
    parser.add_argument(
        "--load",
        help="tabulate the numbers a --save run wrote (no embedding), e.g. at new defaults",
    )
    args = parser.parse_args()

    import json

    from es_visual.duplicates import near_rule

    if args.load:
        saved = json.loads(Path(args.load).read_text(encoding="utf-8"))
        tag, head = saved["model"], saved["head"]
        named: dict[str, Item] = {}
        pairs = [
            Pair(
                r["label"],
                r["duplicate"],
                named.setdefault(r["a"], Item(r["a"], None)),
                named.setdefault(r["b"], Item(r["b"], None)),
                cosine=r["cosine"],
                hamming=r["hamming"],
                picture=r["picture"],
            )
            for r in saved["pairs"]
        ]
    else:
        from es_visual.models.registry import get_embedder

        embedder = get_embedder(args.model)
        items, pairs = build()
        seconds = measure(items, pairs, embedder.embed_images)
        tag = embedder.tag
        head = (
            f"model {tag} ({embedder.dims} dims); {len(items)} pictures, {len(pairs)} "
            f"labelled pairs, measured in {seconds:.0f}s on {platform.machine()} / Python "
            f"{platform.python_version()}"
        )
    if args.save:
        rows_out = [
            {
                "label": p.label,
                "duplicate": p.duplicate,
                "a": p.a.name,
                "b": p.b.name,
                "cosine": p.cosine,
                "hamming": p.hamming,
                "picture": p.picture,
            }
            for p in pairs
        ]
        Path(args.save).write_text(
            json.dumps({"model": tag, "head": head, "pairs": rows_out}), encoding="utf-8"
        )
    default = near_rule(tag)
    rule = (default.cosine, default.hamming, default.picture)
    print(head + "\n")
    print(
        f"Default for this model: cosine >= {rule[0]:.2f}, phash distance <= {rule[1]} bits, "
        f"picture score >= {rule[2]:.2f}\n"
    )
    print(
        "| pairs | n | cosine min / median / max | phash bits min / median / max "
        "| picture score min / median / max | called duplicate at the default |"
    )
    print("|---|---|---|---|---|---|")
    rows: dict[str, list[Pair]] = {}
    for p in pairs:
        rows.setdefault(p.label, []).append(p)
    for label, group in rows.items():
        cos = np.array([p.cosine for p in group])
        ham = np.array([p.hamming for p in group])
        pic = np.array([p.picture for p in group])
        hits = sum(called(p, *rule) for p in group)
        print(
            f"| {label} | {len(group)} | {cos.min():.3f} / {np.median(cos):.3f} / "
            f"{cos.max():.3f} | {ham.min()} / {np.median(ham):.0f} / {ham.max()} | "
            f"{_fmt(pic.min())} / {_fmt(np.median(pic))} / {_fmt(pic.max())} | "
            f"{hits} of {len(group)} ({hits / len(group):.0%}) |"
        )

    tp, dups, fp, distinct = score(pairs, rule)
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(
        f"\nAt the default: precision {precision:.3f} ({fp} of {distinct} different pairs "
        f"called duplicates), recall {tp / dups:.3f} ({tp} of {dups} copies found)\n"
    )
    print("| cosine >= | phash bits <= | picture >= | precision | recall | false pairs |")
    print("|---|---|---|---|---|---|")
    for c, h, s in itertools.product((0.75, 0.85), (24, 28, 32), (0.80, 0.83, 0.86, 0.90)):
        tp, dups, fp, _ = score(pairs, (c, h, s))
        mark = " (default)" if (c, h, s) == rule else ""
        print(
            f"| {c:.2f}{mark} | {h} | {s:.2f} | {tp / max(tp + fp, 1):.3f} "
            f"| {tp / dups:.3f} | {fp} |"
        )
    cos = np.array([p.cosine for p in pairs])
    bits = np.array([p.hamming for p in pairs])
    pic = np.array([p.picture for p in pairs])
    dup = np.array([p.duplicate for p in pairs])
    safest = []
    for c, h, t in itertools.product(
        np.arange(0.60, 0.96, 0.05), range(8, 33, 2), np.arange(0.50, 0.96, 0.01)
    ):
        hit = (cos >= c) & (bits <= h) & (pic >= t)
        if not (hit & ~dup).any():
            safest.append(((hit & dup).sum() / dup.sum(), -t, (c, h, t)))
    if safest:
        best = max(safest)
        print(
            f"\nhighest recall with no false pair on this set: {best[0]:.3f} at cosine >= "
            f"{best[2][0]:.2f}, bits <= {best[2][1]}, picture >= {best[2][2]:.2f}"
        )
    distinct_top = max(
        (
            p.picture
            for p in pairs
            if not p.duplicate
            and called(p, 0, 64, -2)
            and p.cosine >= rule[0]
            and p.hamming <= rule[1]
        ),
        default=-1.0,
    )
    print(
        f"highest picture score of a different pair within the default's other two checks: "
        f"{distinct_top:.3f} (the default asks >= {rule[2]:.2f})"
    )
    false = [p for p in pairs if not p.duplicate and called(p, *rule)]
    for p in false[:10]:
        print(
            f"  false at the default: {p.a.name} ~ {p.b.name} ({p.cosine:.3f}, "
            f"{p.hamming} bits, {p.picture:.3f})"
        )
    closest = sorted((p for p in pairs if not p.duplicate), key=lambda p: -p.picture)[:8]
    print("\nthe different pairs with the highest picture score:")
    for p in closest:
        print(
            f"  {p.label}: {p.a.name} ~ {p.b.name}: cosine {p.cosine:.3f}, {p.hamming} bits, "
            f"picture {p.picture:.3f}"
        )
    missed = [p for p in pairs if p.duplicate and not called(p, *rule)]
    print(f"\ncopies missed at the default: {len(missed)}")
    for p in missed[:40]:
        print(
            f"  {p.label}: {p.b.name}: cosine {p.cosine:.3f}, {p.hamming} bits, "
            f"picture {p.picture:.3f}"
        )


def _fmt(x: float) -> str:
    return "n/a" if x < -0.999 else f"{x:.2f}"


if __name__ == "__main__":
    main()
