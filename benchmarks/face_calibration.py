"""Calibrate "same person" for the face model on a labelled set of real photos.

Every face of ``faces_data.pictures()`` is found by the face model (the default
preset's detector unless ``--detector`` says otherwise), matched to its label, and
embedded; then every pair of faces is scored by cosine similarity. The table gives,
for each threshold:

* TMR (true match rate): the share of same-person pairs at or above it;
* FMR (false match rate): the share of different-person pairs at or above it;
* search precision / recall: each face, used as a query, "returns" every other face
  at or above the threshold: precision is the share of returned faces that are the
  query's person, recall the share of that person's other faces returned
  (averaged over queries whose person has another face in the set).

dlib's own rule for its 128-d descriptors is a Euclidean distance below 0.6 between
raw descriptors. Their norms are not 1 (measured here, printed below), so on the
unit vectors es-visual stores the rule is a cosine threshold of
``1 - 0.6**2 / (2 * n**2)`` for a typical norm ``n``; the script prints that too,
and the rule's own TMR/FMR computed on the raw descriptors.

    python benchmarks/face_calibration.py [--detector yunet|hybrid|hog|cnn] [--cache DIR]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faces_data import Picture, Truth, pictures

THRESHOLDS = [round(0.80 + 0.01 * i, 2) for i in range(17)]  # 0.80 .. 0.96


@dataclass
class Sample:
    identity: str
    picture: str
    vector: np.ndarray  # unit length, as stored
    raw_norm: float  # the descriptor's norm before es-visual scaled it
    side: float  # the face box's longer side, in pixels of the original picture
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    size: tuple[int, int] = (0, 0)  # the picture's width and height


def match(picture: Picture, boxes: list[tuple[float, float, float, float]]) -> list[int | None]:
    """For each truth of ``picture``, the index of the detection that is that face."""
    taken: set[int] = set()
    out: list[int | None] = []
    for truth in picture.faces:
        best, best_d = None, float("inf")
        for i, box in enumerate(boxes):
            if i in taken or not _same_face(truth, box, len(boxes)):
                continue
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            tx, ty = _centre(truth)
            d = (cx - tx) ** 2 + (cy - ty) ** 2
            if d < best_d:
                best, best_d = i, d
        if best is not None:
            taken.add(best)
        out.append(best)
    return out


def _centre(truth: Truth) -> tuple[float, float]:
    if truth.box is not None:
        return (truth.box[0] + truth.box[2]) / 2, (truth.box[1] + truth.box[3]) / 2
    return truth.centre or (0.5, 0.5)


def _same_face(truth: Truth, box: tuple[float, float, float, float], n: int) -> bool:
    """A detection is the face when each box holds the other's centre (box sizes differ
    between detectors); a picture's only face is any detection near its centre."""
    x0, y0, x1, y1 = box
    tx, ty = _centre(truth)
    if not (x0 <= tx <= x1 and y0 <= ty <= y1):
        return truth.centre is None and truth.box is None and n == 1
    if truth.box is None:
        return True
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx0, by0, bx1, by1 = truth.box
    return bx0 <= cx <= bx1 and by0 <= cy <= by1


def collect(detector: str, cache: Path | None) -> tuple[list[Sample], int, int]:
    from es_visual.models.faces import FaceModel

    model = FaceModel(detector=detector)  # type: ignore[arg-type]
    samples: list[Sample] = []
    labelled = missed = 0
    for picture in pictures(cache):
        if not picture.faces:
            continue
        image = Image.open(picture.path).convert("RGB")
        found = model.detect(image)
        for truth, i in zip(picture.faces, match(picture, [f.bbox for f in found]), strict=True):
            labelled += 1
            if i is None:
                missed += 1
                continue
            x0, y0, x1, y1 = found[i].bbox
            side = max((x1 - x0) * image.width, (y1 - y0) * image.height)
            face = found[i]
            samples.append(
                Sample(
                    truth.identity,
                    str(picture.path),
                    face.vector,
                    face.norm,
                    side,
                    face.bbox,
                    image.size,
                )
            )
    return samples, labelled, missed


def table(samples: list[Sample]) -> None:
    vectors = np.stack([s.vector for s in samples])
    ids = np.array([s.identity for s in samples])
    sims = vectors @ vectors.T
    same = ids[:, None] == ids[None, :]
    upper = np.triu(np.ones_like(same, dtype=bool), k=1)
    pos, neg = sims[same & upper], sims[~same & upper]
    norms = np.array([s.raw_norm for s in samples])
    n = float(np.median(norms))
    dlib_cos = 1 - 0.6**2 / (2 * n**2)
    print(
        f"{len(samples)} faces of {len(set(ids))} people; {len(pos)} same-person pairs, "
        f"{len(neg)} different-person pairs"
    )
    print(f"raw descriptor norms: median {n:.3f} (min {norms.min():.3f}, max {norms.max():.3f})")
    print(f"dlib's rule (Euclidean < 0.6 on raw descriptors) ~ cosine >= {dlib_cos:.3f}")
    raw = vectors * norms[:, None]
    dist = np.linalg.norm(raw[:, None, :] - raw[None, :, :], axis=2)
    print(
        f"  applied to the raw descriptors: TMR {np.mean(dist[same & upper] < 0.6):.3f}, "
        f"FMR {np.mean(dist[~same & upper] < 0.6):.4f}"
    )
    p5, p99, p999 = np.percentile(pos, 5), np.percentile(neg, 99), np.percentile(neg, 99.9)
    print(f"same-person cosine: min {pos.min():.3f}, 5th pct {p5:.3f}, median {np.median(pos):.3f}")
    print(
        f"different-person cosine: median {np.median(neg):.3f}, 99th pct {p99:.3f}, "
        f"99.9th {p999:.3f}, max {neg.max():.3f}"
    )
    print()
    print("| cosine >= | TMR | FMR | false pairs | search precision | search recall |")
    print("|---|---|---|---|---|---|")
    eye = np.eye(len(samples), dtype=bool)
    has_mate = (same & ~eye).any(axis=1)
    for t in THRESHOLDS:
        hit = (sims >= t) & ~eye
        returned = hit.sum(axis=1)
        right = (hit & same).sum(axis=1)
        mates = (same & ~eye).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(returned > 0, right / returned, np.nan)
        p = float(np.nanmean(precision)) if np.any(returned > 0) else float("nan")
        r = float(np.mean(right[has_mate] / mates[has_mate]))
        print(
            f"| {t:.2f} | {np.mean(pos >= t):.3f} | {np.mean(neg >= t):.4f} | "
            f"{int(np.sum(neg >= t))} | {p:.3f} | {r:.3f} |"
        )


def clusters(samples: list[Sample], threshold: float) -> None:
    """Persons as ingest forms them: the pictures written in order, batch by batch, through
    the real clustering (es_visual.people.assign) and the embedded store."""
    import tempfile

    from es_visual.backends.embedded import EmbeddedBackend
    from es_visual.core.documents import DocUpdate, VisualSpec
    from es_visual.people.assign import PersonAssigner

    by_picture: dict[str, list[Sample]] = {}
    for s in samples:
        by_picture.setdefault(s.picture, []).append(s)
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedBackend(tmp)
        store.ensure_index("faces", VisualSpec("none@0", 1, "dlib-resnet@v1", 128))
        assign = PersonAssigner(store, "faces", face_model="dlib-resnet@v1", threshold=threshold)
        updates = []
        for i, faces in enumerate(by_picture.values()):
            visual = {
                "scene": [1.0],
                "width": faces[0].size[0],
                "height": faces[0].size[1],
                "faces": [
                    {"bbox": list(f.bbox), "score": 1.0, "vector": f.vector.tolist()} for f in faces
                ],
            }
            updates.append(DocUpdate(f"p{i}", {"visual": visual}))
            if len(updates) == 16:  # ingest's batch size
                store.bulk_update("faces", assign(updates))
                updates = []
        if updates:
            store.bulk_update("faces", assign(updates))
        got: list[str | None] = []
        truth: list[str] = []
        for i, faces in enumerate(by_picture.values()):
            stored = store.get("faces", f"p{i}")["visual"]["faces"]
            for f, s in zip(stored, faces, strict=True):
                got.append(f.get("person"))
                truth.append(s.identity)
        store.close()
    placed = [(g, t) for g, t in zip(got, truth, strict=True) if g is not None]
    pairs_same_person = pairs_same_identity = both = 0
    for (g1, t1), (g2, t2) in itertools.combinations(placed, 2):
        pairs_same_person += g1 == g2
        pairs_same_identity += t1 == t2
        both += g1 == g2 and t1 == t2
    persons = {g for g, _ in placed}
    multi = {t for t in truth if truth.count(t) > 1}
    print()
    print("## persons formed at ingest (es_visual.people.assign, faces in file order)")
    print(
        f"faces placed in a person: {len(placed)}/{len(got)} "
        f"(the rest are under {assign.min_side} px: too small to tell who it is)"
    )
    print(f"persons formed: {len(persons)} (people among the placed faces: "
          f"{len({t for _, t in placed})}, of whom {len(multi)} with several photos)")  # fmt: skip
    print(
        f"pairs put in one person that are one person (precision): {both}/{pairs_same_person}"
        f" = {both / max(pairs_same_person, 1):.3f}"
    )
    print(
        f"pairs of one person put in one person (recall): {both}/{pairs_same_identity}"
        f" = {both / max(pairs_same_identity, 1):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detector", default=None, help="face detector (default: the preset's)")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    from es_visual.models.faces import DEFAULT_DETECTOR, same_person_threshold

    detector = args.detector or DEFAULT_DETECTOR
    print(f"# face calibration: detector {detector}, {platform.python_version()}")
    samples, labelled, missed = collect(detector, args.cache)
    print(f"labelled faces {labelled}, found and matched {labelled - missed}, missed {missed}")
    table(samples)
    clusters(samples, same_person_threshold("dlib-resnet@v1") or 0.92)
    print(f"\nshipped default: cosine >= {same_person_threshold('dlib-resnet@v1')}")


if __name__ == "__main__":
    main()
