"""Writes es_visual/models/data/imagenet_hypernyms.tsv: each ImageNet-1k class's WordNet
ancestors (the kinds of thing it is), read from WordNet 3.0, ImageNet's version.

timm ships the names and definitions of every ImageNet-21k synset (internal nodes
such as "animal" or "beverage" among them) but not which is a kind of which; that
one relation comes from WordNet's own noun database, Debian's ``wordnet-base``
(``apt-get install wordnet-base``). Run once by a developer; the output is shipped.

    python scripts/imagenet_hypernyms.py [/usr/share/wordnet/data.noun]
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = (
    "# ImageNet-1k class -> its WordNet 3.0 hypernyms (all paths, nearest first), written by\n"
    "# scripts/imagenet_hypernyms.py from WordNet 3.0 (Princeton University, 'WordNet 3.0\n"
    "# Copyright 2006 by Princeton University. All rights reserved.', redistributed under\n"
    "# the WordNet license, which permits use, copying and distribution with this notice).\n"
    "# Lines: CLASS<tab>ANCESTORS, then NODE<tab>=LEMMAS<tab>DEFINITION for every ancestor.\n"
)


def parents(data_noun: Path) -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    """synset -> its hypernyms; synset -> (lemmas, gloss)."""
    out: dict[str, list[str]] = {}
    words: dict[str, tuple[str, str]] = {}
    for line in data_noun.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue  # the license header
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        offset, w_cnt = fields[0], int(fields[3], 16)
        lemmas = [fields[4 + 2 * k].replace("_", " ") for k in range(w_cnt)]
        definition = gloss.split(";")[0].strip()
        words["n" + offset] = (", ".join(dict.fromkeys(lemmas)), definition)
        i = 4 + 2 * w_cnt
        p_cnt = int(fields[i])
        ups = []
        for j in range(p_cnt):
            symbol, target, pos = fields[i + 1 + 4 * j : i + 4 + 4 * j]
            if symbol in ("@", "@i") and pos == "n":
                ups.append("n" + target)
        out["n" + offset] = ups
    return out, words


def ancestors(wnid: str, up: dict[str, list[str]]) -> list[str]:
    seen: list[str] = []
    frontier = list(up.get(wnid, []))
    while frontier:  # breadth first: nearest kinds first
        nxt = []
        for node in frontier:
            if node not in seen:
                seen.append(node)
                nxt.extend(up.get(node, []))
        frontier = nxt
    return seen


def main() -> int:
    data_noun = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet/data.noun")
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from es_visual.models.vocabulary import imagenet_1k

    up, words = parents(data_noun)
    lines = [f"{w}\t{' '.join(ancestors(w, up))}" for w in imagenet_1k().wnids]
    nodes = sorted({a for w in imagenet_1k().wnids for a in ancestors(w, up)})
    # the kinds' own words, for the few that timm's ImageNet-21k files do not name
    lines += [f"{n}\t={words[n][0]}\t{words[n][1]}" for n in nodes]
    out = root / "es_visual" / "models" / "data" / "imagenet_hypernyms.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{out}: {len(lines)} classes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
