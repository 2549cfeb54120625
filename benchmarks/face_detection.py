"""Face detection + description side by side: speed per picture, recall, false faces.

Each face pipeline (detector + descriptor network) runs over the same pictures, in
turns, one picture at a time on one thread (as each ingest reader thread does), so
that all of them see the same load on a shared machine. Reported per pipeline:

* CPU ms per picture (``time.process_time``: robust to other work on the cores) and
  wall ms per picture, on two sets:
  - the labelled photos of ``faces_data.py`` (81 pictures, 136 faces, most of them
    with faces: group photos, portraits, 150 px chips);
  - 30 JPEGs of the ingest benchmark (random crops of scikit-image photos, 480-1024 px,
    ``benchmarks/ingest.py``'s generator), the set the earlier 239 ms was measured on;
* recall: labelled faces found (a detection and the label each hold the other's
  centre, as in face_calibration.py);
* false faces: detections on the 7 pictures with no human face (a cat, dogs, a
  rocket...), and detections in labelled pictures that match no label (in the PASCAL
  photos some are real faces dlib's annotators skipped: counted, not judged);
* same person at the shipped threshold: TMR and FMR of all pairs of found faces.

Pipelines: ``hybrid+dlib`` (the default before: HOG with upsampling, dlib's CNN on
doubtful proposals, dlib's descriptor), ``yunet+torch`` (the default now), and the
two halves of the change apart.

    python benchmarks/face_detection.py [--rounds 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from face_calibration import match
from faces_data import pictures

PIPELINES = {
    "hybrid+dlib (before)": {"detector": "hybrid", "encoder": "dlib"},
    "hybrid+torch": {"detector": "hybrid", "encoder": "torch"},
    "yunet+dlib": {"detector": "yunet", "encoder": "dlib"},
    "yunet+torch (now)": {"detector": "yunet", "encoder": "torch"},
}


@dataclass
class Tally:
    cpu: dict[str, list[float]] = field(default_factory=dict)
    wall: dict[str, list[float]] = field(default_factory=dict)
    found: int = 0
    labelled: int = 0
    false_on_empty: int = 0
    unmatched: int = 0
    vectors: list[np.ndarray] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def timed(model, image: Image.Image) -> tuple[list, float, float]:  # type: ignore[no-untyped-def]
    cpu, wall = time.process_time(), time.perf_counter()
    found = model.detect(image)
    return found, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over each set")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--crops", type=int, default=30, help="ingest-benchmark JPEGs")
    args = parser.parse_args()

    import torch

    from benchmarks.ingest import generate
    from es_visual.models.faces import SAME_PERSON, FaceModel

    torch.set_num_threads(1)  # one picture per thread, as ingest's readers run them
    threshold = SAME_PERSON["dlib-resnet@v1"]
    labelled = [(p, Image.open(p.path).convert("RGB")) for p in pictures(args.cache)]
    crops_dir = Path(tempfile.mkdtemp(prefix="face-bench-"))
    generate(crops_dir, args.crops)
    crops = [Image.open(f).convert("RGB") for f in sorted(crops_dir.glob("*.jpg"))]
    # max_faces lifted from the presets' 20: the collage has 24 faces, and recall here is
    # the detector's, not the cap's.
    models = {name: FaceModel(**opts, max_faces=100) for name, opts in PIPELINES.items()}  # type: ignore[arg-type]
    for model in models.values():  # warm up: first calls allocate
        model.detect(labelled[0][1])
    tallies = {name: Tally() for name in models}

    for rnd in range(args.rounds):
        for picture, image in labelled:
            for name, model in models.items():
                found, cpu, wall = timed(model, image)
                t = tallies[name]
                t.cpu.setdefault("labelled", []).append(cpu)
                t.wall.setdefault("labelled", []).append(wall)
                if rnd:
                    continue
                if not picture.faces:
                    t.false_on_empty += len(found)
                    continue
                hits = match(picture, [f.bbox for f in found])
                t.labelled += len(picture.faces)
                t.found += sum(1 for i in hits if i is not None)
                t.unmatched += len(found) - sum(1 for i in hits if i is not None)
                for truth, i in zip(picture.faces, hits, strict=True):
                    if i is not None:
                        t.vectors.append(found[i].vector)
                        t.ids.append(truth.identity)
        for image in crops:
            for name, model in models.items():
                _, cpu, wall = timed(model, image)
                tallies[name].cpu.setdefault("crops", []).append(cpu)
                tallies[name].wall.setdefault("crops", []).append(wall)

    print(f"# face pipelines, {platform.python_version()}, torch threads 1, {args.rounds} rounds")
    print()
    print(
        "| pipeline | CPU ms / labelled photo | wall ms | CPU ms / ingest JPEG | wall ms | "
        "recall | false faces (no-face photos) | unlabelled detections | "
        f"TMR @ {threshold} | FMR @ {threshold} |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for name, t in tallies.items():
        cpu_l = 1000 * float(np.mean(t.cpu["labelled"]))
        cpu_c = 1000 * float(np.mean(t.cpu["crops"]))
        base = base or (cpu_l, cpu_c)
        v = np.stack(t.vectors)
        ids = np.array(t.ids)
        sims = v @ v.T
        same = ids[:, None] == ids[None, :]
        upper = np.triu(np.ones_like(same, dtype=bool), k=1)
        tmr = float(np.mean(sims[same & upper] >= threshold))
        fmr = float(np.mean(sims[~same & upper] >= threshold))
        print(
            f"| {name} | {cpu_l:.0f} ({base[0] / cpu_l:.1f}x) | "
            f"{1000 * np.mean(t.wall['labelled']):.0f} | {cpu_c:.0f} ({base[1] / cpu_c:.1f}x) | "
            f"{1000 * np.mean(t.wall['crops']):.0f} | {t.found}/{t.labelled} "
            f"({t.found / t.labelled:.3f}) | {t.false_on_empty} | {t.unmatched} | "
            f"{tmr:.3f} | {fmr:.4f} |"
        )


if __name__ == "__main__":
    main()
