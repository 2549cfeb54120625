"""The ImageNet-1k classes as words: the scene model's output order and WordNet's names.

Nothing is copied into es-visual: the class order (``imagenet_synsets.txt``, one
WordNet id per line, in the order of every torchvision ImageNet head), the
lemmas and the definitions are the data files that ship in ``timm``'s wheel under
``timm/data/_info/``. They are read by path, without importing ``timm`` (its
import wants torchvision, whose registry wheel does not import here).

A class's label is its first lemma ("tabby" for "tabby, tabby cat"), the word a
filter ``labels:tabby`` uses. Two first lemmas are shared by two classes each; the
later class takes its next lemma ("maillot, tank suit" becomes "tank suit"), and
the lifting crane, which has none, is "crane (lifting)" beside the bird.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import util
from pathlib import Path

from es_visual.core.errors import ModelUnavailableError

INSTALL_HINT = "pip install --no-deps timm"
INFO_DIR = ("data", "_info")
# The one class whose name clashes and that has no second lemma: the lifting machine.
_QUALIFIERS = {"n03126707": "crane (lifting)"}


@dataclass(frozen=True)
class Vocabulary:
    """The classes in the model's output order."""

    wnids: tuple[str, ...]
    names: tuple[str, ...]  # unique; what ``visual.labels`` holds
    lemmas: tuple[str, ...]  # every WordNet lemma, comma-separated
    definitions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self._positions()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._positions()

    def _positions(self) -> dict[str, int]:
        return _positions(self.names)

    @classmethod
    def of(cls, prefix: str, rows: Sequence[tuple[str, str, str]]) -> Vocabulary:
        """Concepts of es-visual's own, from ``(name, lemmas, definition)`` rows; their ids
        are ``<prefix>:<name>`` (not WordNet's)."""
        return cls(
            wnids=tuple(f"{prefix}:{name}" for name, _, _ in rows),
            names=tuple(name for name, _, _ in rows),
            lemmas=tuple(lemmas for _, lemmas, _ in rows),
            definitions=tuple(definition for _, _, definition in rows),
        )

    def plus(self, other: Vocabulary) -> Vocabulary:
        """This vocabulary's classes, then ``other``'s (their names must not clash)."""
        if clash := set(self.names) & set(other.names):
            raise ValueError(f"concepts named twice: {sorted(clash)}")
        return Vocabulary(
            self.wnids + other.wnids,
            self.names + other.names,
            self.lemmas + other.lemmas,
            self.definitions + other.definitions,
        )


@functools.cache
def _positions(names: tuple[str, ...]) -> dict[str, int]:
    return {n: i for i, n in enumerate(names)}


def info_dir() -> Path:
    """``timm/data/_info`` of the installed timm, found without importing timm."""
    spec = util.find_spec("timm")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location).joinpath(*INFO_DIR)
        if (path / "imagenet_synsets.txt").is_file():
            return path
    raise ModelUnavailableError(
        "the ImageNet class names come from timm's data files, and timm is not installed: "
        f"run `{INSTALL_HINT}` (--no-deps: only its data files are read)"
    )


@functools.cache
def imagenet_1k() -> Vocabulary:
    """The 1000 ImageNet-1k classes (read once per process)."""
    base = info_dir()
    try:
        wnids = (base / "imagenet_synsets.txt").read_text(encoding="utf-8").split()
        lemmas = _tsv(base / "imagenet_synset_to_lemma.txt")
        definitions = _tsv(base / "imagenet_synset_to_definition.txt")
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read timm's ImageNet data in {base}: {exc}") from exc
    if len(wnids) != 1000 or any(w not in lemmas for w in wnids):
        raise ModelUnavailableError(f"{base} does not hold the 1000 ImageNet-1k classes")
    names: list[str] = []
    taken: set[str] = set()
    for wnid in wnids:
        choices = [s.strip() for s in lemmas[wnid].split(",") if s.strip()]
        name = next((c for c in choices if c not in taken), None)
        name = _QUALIFIERS.get(wnid) if name is None else name
        if name is None or name in taken:
            name = f"{choices[0]} ({wnid})"
        names.append(name)
        taken.add(name)
    return Vocabulary(
        wnids=tuple(wnids),
        names=tuple(names),
        lemmas=tuple(lemmas[w] for w in wnids),
        definitions=tuple(definitions.get(w, "") for w in wnids),
    )


def _tsv(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            out[key] = value.strip()
    return out
