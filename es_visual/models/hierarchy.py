"""The kinds of thing each ImageNet-1k class is: "tabby" is a cat, a feline, a mammal, an animal.

ImageNet's classes are leaves of WordNet; a query names a kind more often than a
breed ("a dog", "an animal", "a drink", "a vehicle"). The kinds come from
``models/data/imagenet_hypernyms.tsv``, written once from WordNet 3.0 (ImageNet's
version) by ``scripts/imagenet_hypernyms.py``: each class's hypernyms on every path
to the root, and each kind's lemmas and definition (WordNet's own words, so the
file needs nothing else). Kinds too general to mean anything to a user ("entity",
"whole", "artifact") are left out: more than ``MAX_SHARE`` of all classes under them.

A kind over one class only is not a kind but the class's everyday name: ImageNet
calls its classes "black swan", "king penguin", "ox", "airliner", "sorrel", WordNet's
nodes just above them are "swan", "penguin", "cattle, cows", "airplane", "horse". The
nearest ``BROADER_DEPTH`` such nodes above each class are kept apart (``broader``), to
be matched as other names of the class (``models.concepts``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from es_visual.core.errors import ModelUnavailableError
from es_visual.models.vocabulary import Vocabulary

DATA = Path(__file__).parent / "data" / "imagenet_hypernyms.tsv"
# A kind over more than this share of the classes says nothing ("object", "whole");
# "animal" (398 of 1000) stays.
MAX_SHARE = 0.45
# How many one-class nodes above a class are its broader names: the nearest two ("Granny
# Smith" <- "eating apple" <- "apple"); further up they drift from what the picture shows
# ("bubble" <- "globule" <- "ball" <- "sphere" <- "shape").
BROADER_DEPTH = 2


@dataclass(frozen=True)
class Hierarchy:
    """Kinds (inner WordNet nodes) and the vocabulary classes under each."""

    wnids: tuple[str, ...]
    lemmas: tuple[str, ...]  # comma-separated, as the vocabulary's
    definitions: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]  # class indexes (vocabulary order) under each kind
    # (class index, lemmas, definition) of the one-class nodes just above a class
    broader: tuple[tuple[int, str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.wnids)

    def with_members(self, extra: dict[str, list[int]]) -> Hierarchy:
        """The same kinds, ``extra``'s class indexes added under the kinds it names by
        WordNet id (concepts of another model, placed under WordNet's kinds)."""
        members = tuple(
            tuple(sorted({*m, *extra.get(wnid, ())}))
            for wnid, m in zip(self.wnids, self.members, strict=True)
        )
        return Hierarchy(self.wnids, self.lemmas, self.definitions, members, self.broader)


def load_hierarchy(vocabulary: Vocabulary, path: Path = DATA) -> Hierarchy:
    """The kinds above ``vocabulary``'s classes (its classes must be WordNet synsets)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read the ImageNet hierarchy {path}: {exc}") from exc
    position = {w: i for i, w in enumerate(vocabulary.wnids)}
    under: dict[str, list[int]] = {}
    above: dict[int, list[str]] = {}  # class -> its ancestors, nearest first
    words: dict[str, tuple[str, str]] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition("\t")
        if rest.startswith("="):
            lemmas, _, definition = rest[1:].partition("\t")
            words[key] = (lemmas, definition)
        elif key in position:
            above[position[key]] = rest.split()
            for kind in rest.split():
                under.setdefault(kind, []).append(position[key])
    limit = MAX_SHARE * len(vocabulary)
    # A kind over one class says what the class's own words say: only kinds of two or more.
    kinds = sorted(k for k, m in under.items() if k in words and 2 <= len(set(m)) <= limit)
    broader: list[tuple[int, str, str]] = []
    for cls, ancestors in sorted(above.items()):
        # the run of one-class nodes straight above the class: the first kind of two or
        # more classes ends it
        for node in ancestors[:BROADER_DEPTH]:
            if len(set(under[node])) != 1:
                break
            if node in words:
                broader.append((cls, *words[node]))
    return Hierarchy(
        wnids=tuple(kinds),
        lemmas=tuple(words[k][0] for k in kinds),
        definitions=tuple(words[k][1] for k in kinds),
        members=tuple(tuple(sorted(set(under[k]))) for k in kinds),
        broader=tuple(broader),
    )


@functools.cache
def imagenet_hierarchy() -> Hierarchy:
    from es_visual.models.vocabulary import imagenet_1k

    return load_hierarchy(imagenet_1k())
