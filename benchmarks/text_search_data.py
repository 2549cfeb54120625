"""The labelled text-to-image set of ``text_search.py``: two splits, tuning and held-out.

Every picture ships in a package (nothing is committed here; they are fetched once
into ``~/.cache/es-visual/benchmarks`` by the registries' own clients):

* scikit-image's samples (installed), as the demo lays them out, with the demo
  manifest's tags and captions, six altered copies and three PyAV slideshows: the
  tuning split's first part (the set the first version of text search was built on);
* OpenCV's ``samples/data`` from Debian's ``opencv`` source package (``apt-get
  source --download-only``, private sources list, as ``faces_data.py`` fetches dlib):
  photos of fruit, animals, buildings, streets, a car, a painting, a circuit board,
  toys, and ``vtest.avi`` (people walking through a hall);
* the face photos of ``faces_data.py`` (dlib's PASCAL VOC photos and ``dogs.jpg``,
  ``face_recognition``'s and ``insightface``'s samples): family dinners, friends at a
  bar, a card game, portraits, face masks.

The two splits share no picture and no phrasing: each is its own index, queried with
its own everyday phrasings (never a class name). Settings are chosen on ``TUNING``;
``HELD_OUT`` was written down (pictures, captions, queries, relevance) before any
setting was measured on it, and is only reported. A user caption is given to about
half of the new pictures, in the words people use for their own photos (a place, an
occasion, a name), not a description for the benchmark's sake; the rest have none.

An asset is relevant to a query when it shows the content the query asks for (a
video when one of its shots does); the content keys of each asset are written out
in full (a dog is also "animal", a car also "vehicle").
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

OPENCV_SOURCE = "opencv"  # Debian source package (bookworm: 4.6.0+dfsg-12)


@dataclass
class Split:
    name: str
    # asset id -> (where: "skimage:NAME" | "opencv:NAME" | "faces:REL/PATH", caption or None,
    #              content keys)
    assets: dict[str, tuple[str, str | None, set[str]]] = field(default_factory=dict)
    # asset id -> list of sources (shots, 3 s each), content is their union
    videos: dict[str, list[str]] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)


# --- tuning: what text search was first built on, plus new pictures --------------------------

TUNING_QUERIES: list[tuple[str, str]] = [
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
    # the new pictures
    ("an apple", "apple"),
    ("some fruit", "fruit"),
    ("a monkey", "monkey"),
    ("colourful butterfly on a leaf", "butterfly"),
    ("a puppy", "dog"),
    ("my dog", "dog"),
    ("an animal", "animal"),
    ("hotel building", "building"),
    ("city from above", "aerial"),
    ("soccer player kicking a ball", "football"),
    ("a car on the road", "car"),
    ("a vehicle", "vehicle"),
    ("sweets", "candy"),
    ("a famous painting", "painting"),
    ("computer chip board", "electronics"),
    ("family dinner", "dinner"),
    ("a man in a suit", "suit"),
    ("surgical face mask", "mask"),
]

# scikit-image sample -> content (the demo's pictures)
SKIMAGE_CONTENT: dict[str, set[str]] = {
    "astronaut.png": {"astronaut"},
    "camera.png": {"camera"},
    "chelsea.png": {"cat", "animal"},
    "horse.png": {"horse", "animal"},
    "coffee.png": {"coffee"},
    "rocket.jpg": {"rocket"},
    "moon.png": {"moon"},
    "hubble_deep_field.jpg": {"hubble"},
    "motorcycle_left.png": {"motorcycle", "vehicle"},
    "motorcycle_right.png": {"motorcycle", "vehicle"},
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
# altered copies of these (80% crop, mirrored, JPEG q60), no user text
SKIMAGE_VARIANTS = ["chelsea.png", "coffee.png", "motorcycle_left.png", "camera.png",
                    "rocket.jpg", "astronaut.png"]  # fmt: skip
SKIMAGE_VIDEOS = {
    "street.mp4": ["skimage:motorcycle_left.png", "skimage:chelsea.png", "skimage:camera.png"],
    "space.mp4": ["skimage:moon.png", "skimage:rocket.jpg", "skimage:hubble_deep_field.jpg"],
}

TUNING_NEW: dict[str, tuple[str, str | None, set[str]]] = {
    "t/apple.jpg": ("opencv:apple.jpg", None, {"apple", "fruit"}),
    "t/baboon.jpg": ("opencv:baboon.jpg", "Mandrill at the zoo", {"monkey", "animal"}),
    "t/butterfly.jpg": ("opencv:butterfly.jpg", None, {"butterfly", "animal"}),
    "t/chicky.png": ("opencv:chicky_512.png", "Chicky", {"dog", "animal"}),
    "t/building.jpg": ("opencv:building.jpg", "where we stayed", {"building"}),
    "t/aero1.jpg": ("opencv:aero1.jpg", None, {"aerial"}),
    "t/messi.jpg": ("opencv:messi5.jpg", "Messi free kick", {"football"}),
    "t/car.jpg": ("opencv:licenseplate_motion.jpg", None, {"car", "vehicle"}),
    "t/smarties.png": ("opencv:smarties.png", None, {"candy"}),
    "t/starry.jpg": ("opencv:starry_night.jpg", "Van Gogh", {"painting"}),
    "t/board.jpg": ("opencv:board.jpg", None, {"electronics"}),
    "t/dinner.jpg": ("faces:dlib/faces/2008_002079.jpg", "Christmas 2008", {"dinner"}),
    "t/obama.jpg": ("faces:face_recognition/obama.jpg", "official portrait", {"suit"}),
    "t/mask.jpg": ("faces:insightface/mask_blue.jpg", None, {"mask"}),
}
TUNING_NEW_VIDEOS = {
    "t/errands.mp4": [
        "opencv:apple.jpg",
        "opencv:chicky_512.png",
        "opencv:licenseplate_motion.jpg",
    ],
}

# --- held-out: other pictures, other phrasings; never used to choose a setting ---------------

HELD_OUT_ASSETS: dict[str, tuple[str, str | None, set[str]]] = {
    "h/orange.jpg": ("opencv:orange.jpg", None, {"orange", "citrus", "fruit"}),
    "h/fruits.jpg": ("opencv:fruits.jpg", "market haul", {"citrus", "fruit"}),
    "h/squirrel.jpg": ("opencv:squirrel_cls.jpg", None, {"squirrel", "animal"}),
    "h/home.jpg": ("opencv:home.jpg", "Mysore trip", {"palace", "building"}),
    "h/leuven.jpg": ("opencv:leuvenA.jpg", "Leuven, Groot Begijnhof", {"street", "building"}),
    "h/aero3.jpg": ("opencv:aero3.jpg", None, {"aerial"}),
    "h/aloe.jpg": ("opencv:aloeL.jpg", None, {"plant"}),
    "h/graffiti.png": ("opencv:graf1.png", None, {"graffiti"}),
    "h/box.png": ("opencv:box.png", "biscotti from Italy", {"cookies"}),
    "h/notebook.jpg": ("opencv:ela_original.jpg", None, {"notebook"}),
    "h/calibration.jpg": ("opencv:left01.jpg", "calibration shot", {"computer", "people"}),
    "h/toys.png": ("opencv:rubberwhale1.png", None, {"toys"}),
    "h/fish.jpg": ("opencv:HappyFish.jpg", None, {"fish", "animal"}),
    "h/desk.jpg": ("opencv:stuff.jpg", None, {"pen"}),
    "h/family.jpg": ("faces:dlib/faces/2007_007763.jpg", "Grandpa's 90th", {"family", "people"}),
    "h/girls.jpg": ("faces:dlib/faces/2008_007676.jpg", "girls night out", {"drinks", "people"}),
    "h/cards.jpg": ("faces:insightface/t1.jpg", None, {"poker", "people"}),
    "h/biden.jpg": ("faces:face_recognition/biden.jpg", None, {"suit", "people"}),
    "h/mask.jpg": ("faces:insightface/mask_white.jpg", None, {"mask"}),
    "h/dogs.jpg": ("faces:dlib/faces/dogs.jpg", "the boys", {"dog", "animal"}),
    "h/hall.avi": ("opencv:vtest.avi", None, {"pedestrians", "people"}),
}
HELD_OUT_VIDEOS = {
    "h/trip.mp4": ["opencv:squirrel_cls.jpg", "opencv:fruits.jpg", "opencv:home.jpg"],
}
HELD_OUT_QUERIES: list[tuple[str, str]] = [
    ("a squirrel eating a nut", "squirrel"),
    ("small furry animal in a tree", "squirrel"),
    ("oranges", "orange"),
    ("fresh citrus", "citrus"),
    ("healthy snacks like fruit", "fruit"),
    ("an old palace", "palace"),
    ("old town street in europe", "street"),
    ("a building", "building"),
    ("aerial view of a town", "aerial"),
    ("a houseplant in a pot", "plant"),
    ("street art on a wall", "graffiti"),
    ("a box of cookies", "cookies"),
    ("a notebook with an elastic band", "notebook"),
    ("someone at a computer", "computer"),
    ("kids toys", "toys"),
    ("a cartoon fish", "fish"),
    ("animals", "animal"),
    ("grandparents with the family", "family"),
    ("friends having drinks", "drinks"),
    ("people playing cards", "poker"),
    ("a group of people", "people"),
    ("politician in a suit and tie", "suit"),
    ("medical mask", "mask"),
    ("cute dogs", "dog"),
    ("a pet", "dog"),
    ("people walking through a hall", "pedestrians"),
    ("a pen and a lighter on a table", "pen"),
]


def default_cache() -> Path:
    from faces_data import default_cache as faces_cache

    return faces_cache().parent


def fetch_opencv(cache: Path) -> Path:
    """OpenCV's ``samples/data`` pictures and videos, from Debian's source package (once)."""
    out = cache / "opencv"
    if (out / "vtest.avi").is_file():
        return out
    from faces_data import debian_source

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        debian_source(OPENCV_SOURCE, t)
        [orig] = [p for p in t.glob("opencv_*.orig.tar.*") if "contrib" not in p.name]
        with tarfile.open(orig) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if len(parts) == 4 and parts[1:3] == ["samples", "data"] and member.isfile():
                    member.name = parts[3]
                    tar.extract(member, out, filter="data")
    return out


def splits() -> dict[str, Split]:
    tuning = Split("tuning", queries=list(TUNING_QUERIES))
    tuning.assets.update(TUNING_NEW)
    tuning.videos.update(TUNING_NEW_VIDEOS)
    held = Split("held-out", queries=list(HELD_OUT_QUERIES))
    held.assets.update(HELD_OUT_ASSETS)
    held.videos.update(HELD_OUT_VIDEOS)
    return {"tuning": tuning, "held-out": held}


def resolve(where: str, cache: Path) -> Path:
    from es_visual.demo import skimage_data_dir

    kind, _, name = where.partition(":")
    if kind == "skimage":
        return skimage_data_dir() / name
    if kind == "opencv":
        return cache / "opencv" / name
    if kind == "faces":
        return cache / "faces" / name
    raise ValueError(where)


def build_split(split: Split, root: Path, cache: Path) -> tuple[Path, dict[str, set[str]]]:
    """Media and manifest of one split under ``root``; returns (manifest, asset -> content).

    The tuning split starts from the demo's collection (scikit-image, the demo manifest's
    tags and captions, the altered copies and slideshows)."""
    from PIL import Image

    from es_visual.demo import DEMO_VIDEO_SHOTS, prepare_demo_media, write_slideshow

    root.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    content: dict[str, set[str]] = {}
    media = root / "media" / "extra"
    media.mkdir(parents=True, exist_ok=True)
    keys_of = {f"skimage:{n}": c for n, c in SKIMAGE_CONTENT.items()}
    for _, (where, _, keys) in {**TUNING_NEW, **HELD_OUT_ASSETS}.items():
        keys_of[where] = keys
    if split.name == "tuning":
        demo = prepare_demo_media(root)
        for line in demo.manifest.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            content[doc["id"]] = set(SKIMAGE_CONTENT.get(Path(doc["path"]).name, ()))
            lines.append(line)
        slideshow = "video/slideshow.mp4"
        content[slideshow] = set()
        for name, _ in DEMO_VIDEO_SHOTS:
            content[slideshow] |= SKIMAGE_CONTENT.get(name, set())
        for name in SKIMAGE_VARIANTS:
            out = media / (Path(name).stem + "_copy.jpg")
            if not out.exists():
                with Image.open(resolve(f"skimage:{name}", cache)) as im:
                    im = im.convert("RGB")
                    w, h = im.size
                    box = (w // 10, h // 10, w - w // 10, h - h // 10)
                    im.crop(box).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, quality=60)
            asset = f"extra/{out.name}"
            lines.append(json.dumps({"id": asset, "path": str(out)}))
            content[asset] = set(SKIMAGE_CONTENT[name])
        videos = {f"extra/{k}": v for k, v in SKIMAGE_VIDEOS.items()} | split.videos
    else:
        videos = dict(split.videos)
    for asset, (where, caption, keys) in split.assets.items():
        doc = {"id": asset, "path": str(resolve(where, cache))}
        if caption:
            doc["caption"] = caption
        lines.append(json.dumps(doc))
        content[asset] = set(keys)
    for asset, shots in videos.items():
        out = media / Path(asset).name
        if not out.exists():
            write_slideshow(out, [resolve(s, cache) for s in shots], secs=3.0)
        lines.append(json.dumps({"id": asset, "path": str(out)}))
        content[asset] = set().union(*(keys_of[s] for s in shots))
    manifest = root / "bench.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, content
