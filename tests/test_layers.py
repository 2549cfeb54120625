"""Imports point down only: read from the source with ``ast``, every module's layer checked.

Layers, bottom to top (docs/architecture.md)::

    core -> (config, private) -> (media, models) -> backends -> query
         -> (ingest, people, duplicates) -> workflows -> (reindex, watch, dup_actions, demo)
         -> flask_ui -> cli

A module may import its own package (siblings import each other) and any package of a
lower layer; an import of a higher layer (up) or of another package of the same layer
(sideways) is a violation. Every import counts: at module level, inside functions (the
lazy imports that keep the CLI fast still couple), and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("es_visual", "flask_ui")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("config", "private"),
    ("media", "models"),
    ("backends",),
    ("query",),
    ("ingest", "people", "duplicates"),
    # The use cases: ingesting a source, which reindexing and watching a folder build on.
    ("workflows",),
    ("reindex", "watch", "dup_actions", "demo"),
    # The web UI is one of the things the command line runs (`es-visual serve`), and its
    # user store is managed from the command line (`es-visual users`): the CLI is on top.
    ("flask_ui",),
    ("cli",),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}

# The package root: `es_visual/__init__.py` holds only the version (importable from any
# layer); `__main__.py` is `python -m es_visual`, the CLI's entry point.
ROOT_UNITS = {"es_visual": "core", "es_visual.__main__": "cli"}

# (importing file, imported unit) -> why it is still allowed. The goal is an empty dict:
# each entry names the move that would remove it.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Violation:
    where: str  # file:line
    source: str  # the importing module's unit
    target: str  # the imported module's unit
    module: str

    def __str__(self) -> str:
        src, dst = RANK[self.source], RANK[self.target]
        way = "up" if dst > src else "sideways"
        return (
            f"{self.where}: {self.source} (layer {src}) imports {self.module} "
            f"({self.target}, layer {dst}): {way}"
        )


def unit_of(module: str) -> str | None:
    """The layer unit of a dotted module name of ours (None: not ours)."""
    parts = module.split(".")
    if parts[0] == "flask_ui":
        return "flask_ui"
    if parts[0] != "es_visual":
        return None
    if module in ROOT_UNITS:
        return ROOT_UNITS[module]
    unit = parts[1]
    if unit not in RANK:
        raise AssertionError(f"{module}: es_visual/{unit} has no layer; add it to LAYERS")
    return unit


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, this: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the file, wherever it stands;
    ``this``: the file's module name (default: from its path in the repository)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = this or module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from es_visual import cli` imports the module es_visual.cli
            found += [(node.lineno, f"{prefix}.{alias.name}") for alias in node.names]
    return sorted(found)


def _target_unit(name: str) -> str | None:
    # `from es_visual import __version__` names an attribute of the root package
    return "core" if name == "es_visual.__version__" else unit_of(name)


def file_violations(path: Path, rel: str, module: str) -> list[Violation]:
    """One per importing line and imported unit."""
    source = unit_of(module)
    assert source is not None, module
    out: dict[tuple[str, str], Violation] = {}
    for line, name in imported_modules(path, module):
        target = _target_unit(name)
        if target is None or target == source:
            continue
        if RANK[target] < RANK[source] or (rel, target) in ALLOWED:
            continue
        v = Violation(f"{rel}:{line}", source, target, name.rpartition(".")[0])
        out.setdefault((v.where, target), v)
    return list(out.values())


def violations() -> list[Violation]:
    return [
        v
        for root in ROOTS
        for path in sorted((REPO / root).rglob("*.py"))
        for v in file_violations(path, path.relative_to(REPO).as_posix(), module_name(path))
    ]


def test_every_import_points_down() -> None:
    found = violations()
    assert not found, "imports that point up or sideways:\n" + "\n".join(map(str, found))


def test_every_package_has_a_layer() -> None:
    units = {
        p.stem if p.is_file() else p.name
        for p in (REPO / "es_visual").iterdir()
        if (p.suffix == ".py" or (p.is_dir() and any(p.glob("*.py"))))
        and p.name not in ("__init__.py", "__main__.py")
    }
    assert units <= set(RANK), f"no layer for {sorted(units - set(RANK))}"


def test_allow_list_entries_are_still_needed() -> None:
    """An allowed import that is gone must leave the list, which is meant to shrink."""
    seen = set()
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            seen |= {(rel, _target_unit(n)) for _, n in imported_modules(path)}
    assert not set(ALLOWED) - seen, f"stale allow-list entries: {sorted(set(ALLOWED) - seen)}"


def test_the_checker_catches_up_sideways_and_type_checking_imports(tmp_path: Path) -> None:
    """The checker itself: each way of importing is seen (an honest test that can fail)."""
    text = (
        "from typing import TYPE_CHECKING\n"
        "import es_visual.query.search\n"
        "from ..models import registry\n"
        "from . import image\n"
        "if TYPE_CHECKING:\n"
        "    from es_visual.backends.base import Backend\n"
        "def f():\n"
        "    from es_visual import cli\n"
    )
    fake = tmp_path / "probe.py"
    fake.write_text(text)
    got = imported_modules(fake, "es_visual.media.probe")
    assert got == [
        (1, "typing.TYPE_CHECKING"),
        (2, "es_visual.query.search"),
        (3, "es_visual.models.registry"),
        (4, "es_visual.media.image"),
        (6, "es_visual.backends.base.Backend"),
        (8, "es_visual.cli"),
    ]
    assert [unit_of(n) for _, n in got] == [None, "query", "models", "media", "backends", "cli"]
    found = file_violations(fake, "es_visual/media/probe.py", "es_visual.media.probe")
    assert [(v.where, v.target) for v in found] == [
        ("es_visual/media/probe.py:2", "query"),  # up
        ("es_visual/media/probe.py:3", "models"),  # sideways
        ("es_visual/media/probe.py:6", "backends"),  # up, under TYPE_CHECKING
        ("es_visual/media/probe.py:8", "cli"),  # up, inside a function
    ]
