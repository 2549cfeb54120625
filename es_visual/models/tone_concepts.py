"""Concepts the pixels give: dark, black and white, and the main colours.

The scene model names things, not how a picture looks: a night sky, a black and white
photo, a red car are what people type, and MobileNetV2's ImageNet classes have no word
for them (its features are trained to ignore colour and light). They are plain
statistics of the picture the scene model is given (224 x 224), computed at ingest for a
picture and for each video frame and written as labels beside the scene model's:

* ``dark``: the mean brightness (HSV value) from ``DARK_AT`` down to ``DARK_FULL``;
* ``black and white``: the mean saturation from ``GRAY_AT`` down to ``GRAY_FULL``;
* a colour (``red``, ``orange (colour)``, ``yellow``, ``green``, ``blue``, ``purple``,
  ``pink``): the share of the picture's pixels of that hue (saturated and not dark),
  from ``COLOUR_MIN`` up, full at ``COLOUR_FULL`` ("orange" alone is ImageNet's fruit).

Unlike the scene labels they cannot be read off a stored vector: a backfill keeps the
ones a document has. A query meets them by their words (``ALIASES``: "night", "at
night", "monochrome"), and they count ``WEIGHT`` of a scene label unless the query is
mostly about them ("a red car" ranks by the car, red ones first; "something red" by red).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from es_visual.models.vocabulary import Vocabulary

DARK, GRAY = "dark", "black and white"
# (name, lemmas, definition), WordNet's words where it has them.
_CONCEPTS: tuple[tuple[str, str, str], ...] = (
    (DARK, "dark, darkness, night", "absence of light or illumination; the time after sunset"),
    (GRAY, "black and white, monochrome, grayscale", "a picture in shades of gray, no color"),
    ("red", "red, redness", "red color or pigment; the chromatic color resembling blood"),
    ("orange (colour)", "orange, orangeness", "orange color or pigment; the color of an orange"),
    ("yellow", "yellow, yellowness", "yellow color or pigment; the color of sunflowers"),
    ("green", "green, greenness", "green color or pigment; the color of growing grass"),
    ("blue", "blue, blueness", "blue color or pigment; the color of the clear sky"),
    ("purple", "purple, violet", "a purple color or pigment"),
    ("pink", "pink, magenta", "a light shade of red; pink color"),
)
ALIASES: dict[str, tuple[str, ...]] = {
    DARK: ("at night", "nighttime", "in the dark"),
    GRAY: ("black and white photo", "monochrome photo", "grayscale picture"),
}
# A tone concept counts only where the query says one of these words: meaning alone
# pairs "sunset" with dark and "sky" with night; people name a colour or the dark.
WORDS: dict[str, tuple[str, ...]] = {
    DARK: ("dark", "darkness", "night", "nighttime", "nights"),
    GRAY: ("black and white", "monochrome", "grayscale", "greyscale", "b&w"),
    "red": ("red",),
    "orange (colour)": ("orange",),
    "yellow": ("yellow",),
    "green": ("green",),
    "blue": ("blue",),
    "purple": ("purple", "violet"),
    "pink": ("pink", "magenta"),
}
# Hue ranges in degrees (red wraps around 0).
_HUES: tuple[tuple[str, float, float], ...] = (
    ("red", 345.0, 15.0),
    ("orange (colour)", 15.0, 45.0),
    ("yellow", 45.0, 70.0),
    ("green", 70.0, 165.0),
    ("blue", 165.0, 260.0),
    ("purple", 260.0, 290.0),
    ("pink", 290.0, 345.0),
)
DARK_AT, DARK_FULL = 0.4, 0.2  # mean brightness, 0..1 (a lit city at night: 0.26-0.30)
GRAY_AT, GRAY_FULL = 0.1, 0.03  # mean saturation, 0..1
COLOUR_MIN, COLOUR_FULL = 0.15, 0.5  # share of the pixels
# A pixel has a colour when this saturated and this bright.
SATURATED, LIT = 0.3, 0.25
# What a tone concept the query names counts for, against a scene label's 1, unless the
# query is mostly about it (as the face concepts: models.concepts.ConceptMatcher.scale).
WEIGHT = 0.1
SIDE = 64  # the statistics need no more pixels than this a side


def tone_vocabulary() -> Vocabulary:
    """The tone concepts as a vocabulary."""
    return Vocabulary.of("tone", _CONCEPTS)


NAMES = frozenset(name for name, _, _ in _CONCEPTS)


def tone_labels(image: Image.Image) -> list[tuple[str, float]]:
    """The tone concepts of one picture, best first, scores rounded to three decimals."""
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32).reshape(-1, 3) / 255.0
    value = rgb.max(axis=1)
    chroma = value - rgb.min(axis=1)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-6), 0.0)
    pairs: dict[str, float] = {}
    pairs[DARK] = _ramp(float(value.mean()), DARK_AT, DARK_FULL)
    pairs[GRAY] = _ramp(float(saturation.mean()), GRAY_AT, GRAY_FULL)
    coloured = (saturation >= SATURATED) & (value >= LIT)
    hue = _hue(rgb, value, chroma)
    for name, start, end in _HUES:
        inside = (hue >= start) | (hue < end) if start > end else (hue >= start) & (hue < end)
        share = float(np.mean(coloured & inside))
        if share >= COLOUR_MIN:
            pairs[name] = min(1.0, share / COLOUR_FULL)
    out = [(n, round(s, 3)) for n, s in pairs.items() if round(s, 3) > 0]
    return sorted(out, key=lambda p: (-p[1], p[0]))


def _ramp(x: float, at: float, full: float) -> float:
    """0 at ``at``, 1 at ``full`` (``full`` below ``at``), linear between."""
    return max(0.0, min(1.0, (at - x) / (at - full)))


def _hue(rgb: np.ndarray, value: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """HSV hue in degrees, 0..360 (0 where there is no chroma)."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    c = np.maximum(chroma, 1e-6)
    h = np.where(
        value == r, ((g - b) / c) % 6.0, np.where(value == g, (b - r) / c + 2.0, (r - g) / c + 4.0)
    )
    return np.where(chroma > 0, h * 60.0, 0.0)
