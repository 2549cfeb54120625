"""Where assets come from: a folder, a list of files, a JSONL/CSV manifest, an index.

A source yields ``Asset`` items (or ``SourceError`` for a line it could not
read, so the runner reports it and goes on). The asset id is stable across runs:
the path relative to the ingested root, the manifest's ``id``, or the existing
document's id.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from es_visual.documents import is_utf8

# Extensions we look at in a folder walk; content is still sniffed, the extension
# only keeps READMEs and sidecar files out of the error list.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
MEDIA_EXTENSIONS = frozenset(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)


@dataclass(frozen=True)
class Asset:
    id: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "manifest.jsonl:12", for error messages


@dataclass(frozen=True)
class SourceError:
    """An input record that could not become an asset (bad manifest line, missing path)."""

    id: str | None
    origin: str
    reason: str


class DocReader(Protocol):
    """The part of a backend an index source needs (ingest does not import backends)."""

    def iter_docs(self, index: str, **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]: ...


def iter_folder(root: Path, *, recursive: bool = True) -> Iterator[Asset | SourceError]:
    """Media files under ``root`` in a stable order; id = path relative to ``root``.
    A file whose name is not valid UTF-8 (it could be no document id) is a SourceError."""
    root = Path(root)
    if root.is_file():
        yield Asset(id=root.name, path=root.resolve(), origin=str(root))
        return
    walker = os.walk(root) if recursive else [(str(root), [], os.listdir(root))]
    for dirpath, dirnames, filenames in walker:
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            rel = path.relative_to(root).as_posix()
            if not is_utf8(rel):
                shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                reason = "the file name is not valid UTF-8: rename it to index it"
                yield SourceError(None, shown, reason)
                continue
            yield Asset(id=rel, path=path.resolve(), origin=str(path))


def iter_paths(paths: Iterable[Path], *, recursive: bool = True) -> Iterator[Asset | SourceError]:
    """Folders are walked (ids relative to each folder); files keep their own name as id."""
    for path in paths:
        yield from iter_folder(Path(path), recursive=recursive)


def iter_manifest(manifest: Path, *, base_dir: Path | None = None) -> Iterator[Asset | SourceError]:
    """JSONL (one object a line) or CSV (a header row); every field but ``path`` is the
    document's own metadata. Relative paths resolve against ``base_dir`` or the
    manifest's folder. A bad line becomes a SourceError naming its line number."""
    manifest = Path(manifest)
    base = Path(base_dir) if base_dir else manifest.parent
    rows = _csv_rows(manifest) if manifest.suffix.lower() == ".csv" else _jsonl_rows(manifest)
    seen: set[str] = set()
    for lineno, row in rows:
        origin = f"{manifest.name}:{lineno}"
        if isinstance(row, str):
            yield SourceError(None, origin, row)
            continue
        path_value = row.pop("path", None)
        if not path_value or not isinstance(path_value, str):
            yield SourceError(_str_or_none(row.get("id")), origin, 'missing "path"')
            continue
        path = Path(path_value).expanduser()
        if not path.is_absolute():
            path = base / path
        doc_id = row.pop("id", None)
        doc_id = str(doc_id) if doc_id not in (None, "") else Path(path_value).as_posix()
        if doc_id in seen:
            yield SourceError(doc_id, origin, f"duplicate id {doc_id!r}")
            continue
        seen.add(doc_id)
        yield Asset(id=doc_id, path=path.resolve(), metadata=row, origin=origin)


def iter_index(
    reader: DocReader,
    index: str,
    *,
    path_field: str,
    base_dir: Path | None = None,
    batch_size: int = 500,
) -> Iterator[Asset | SourceError]:
    """Documents already in an index that point at their media through ``path_field``:
    the "extend an existing cluster" flow. Their metadata is not copied (it is
    already there); only ``visual`` gets written back."""
    for doc_id, source in reader.iter_docs(index, fields=[path_field], batch_size=batch_size):
        value = _dotted(source, path_field)
        if not isinstance(value, str) or not value:
            yield SourceError(doc_id, f"{index}/{doc_id}", f"no {path_field!r} in document")
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        yield Asset(id=doc_id, path=path, origin=f"{index}/{doc_id}")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, f"not valid JSON: {exc.msg} at column {exc.colno}"
                continue
            yield lineno, row if isinstance(row, dict) else "expected a JSON object"


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """CSV cells are strings; a cell holding ``a|b`` in a column named ``tags`` stays a
    string: use JSONL for lists and nested ACLs."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            lineno = reader.line_num
            if None in row:
                yield lineno, f"more cells than the header's {len(reader.fieldnames or [])}"
                continue
            yield lineno, {k: v for k, v in row.items() if v not in (None, "")}


def _dotted(source: dict[str, Any], dotted: str) -> Any:
    value: Any = source
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
