"""Where assets come from: a folder, a list of files, a JSONL/CSV manifest, an index.

A source yields ``Asset`` items (or ``SourceError`` for a line it could not
read, so the runner reports it and goes on). The asset id is stable across runs:
the path relative to the ingested root, the manifest's ``id``, or the existing
document's id.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from es_visual.core.documents import is_utf8, value_at
from es_visual.core.slicing import Slice

# Extensions a folder walk ingests; content is still sniffed, the extension only keeps
# READMEs and sidecar files out of the error list (they are reported as ignored).
# Images: every format Pillow opens AND decodes here (``image_extensions()`` adds them
# all); these are the ones that must be there whatever Pillow's build.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp")
# Videos: containers PyAV (FFmpeg) demuxes, with the extensions they are usually saved as.
VIDEO_EXTENSIONS = (
    ".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".m2v", ".mpv",
    ".ts", ".m2ts", ".mts", ".3gp", ".3g2", ".flv", ".f4v", ".wmv", ".asf", ".ogv",
    ".vob", ".mxf", ".dv", ".mj2", ".y4m", ".nut", ".divx", ".qt",
)  # fmt: skip
# Formats Pillow recognises but cannot decode without something absent here: scientific
# stubs that need a handler plugged in, Windows metafiles, MPEG (identified, never
# decoded: PyAV reads it as a video), and PostScript without Ghostscript.
_PILLOW_STUBS = frozenset({"BUFR", "GRIB", "HDF5", "WMF", "MPEG"})
# Still pictures this installation cannot read, named in the ignored list.
_KNOWN_UNREADABLE = {
    ".heic": "HEIC", ".heif": "HEIF", ".jxl": "JPEG XL", ".svg": "SVG (a vector drawing)",
    ".cr2": "Canon RAW", ".cr3": "Canon RAW", ".nef": "Nikon RAW", ".arw": "Sony RAW",
    ".dng": "DNG RAW", ".raf": "Fujifilm RAW", ".orf": "Olympus RAW", ".rw2": "Panasonic RAW",
}  # fmt: skip


@functools.cache
def image_extensions() -> frozenset[str]:
    """Extensions of every image format the installed Pillow opens and decodes."""
    from PIL import Image

    Image.init()
    skip = set(_PILLOW_STUBS) | (set() if shutil.which("gs") else {"EPS"})
    found = {
        ext.lower()
        for ext, fmt in Image.registered_extensions().items()
        if fmt in Image.OPEN and fmt not in skip
    }
    return frozenset(found | set(IMAGE_EXTENSIONS))


def media_extensions() -> frozenset[str]:
    """What a folder walk ingests: every image extension Pillow reads, every video one."""
    return image_extensions() | frozenset(VIDEO_EXTENSIONS)


@dataclass(frozen=True)
class Asset:
    id: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "manifest.jsonl:12", for error messages
    # True when ``metadata`` is the asset's whole metadata (a manifest line): it is then
    # applied even to unchanged media, and fields an earlier line had are removed.
    # False (a folder walk, a UI job's readers): merged into the document with new media.
    owns_metadata: bool = False
    # True for a document read from the index itself (``ingest --from-index``): it is
    # updated, never created, so one deleted while ingest runs stays deleted.
    in_index: bool = False


@dataclass(frozen=True)
class SourceError:
    """An input record that could not become an asset (bad manifest line, missing path)."""

    id: str | None
    origin: str
    reason: str


@dataclass(frozen=True)
class Ignored:
    """A file (or folder) under an ingested folder that is not ingested, and why: every
    file a walk sees is an asset, a ``SourceError`` or one of these, never silently lost."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


OnIgnored = Callable[[Ignored], None]


class DocReader(Protocol):
    """The part of a backend an index source needs (ingest does not import backends)."""

    def iter_docs(
        self,
        index: str,
        *,
        fields: Sequence[str] | None = ...,
        batch_size: int = ...,
        slice: Slice | None = ...,
    ) -> Iterator[tuple[str, dict[str, Any]]]: ...


def iter_folder(
    root: Path, *, recursive: bool = True, on_ignored: OnIgnored | None = None
) -> Iterator[Asset | SourceError]:
    """Media files under ``root`` in a stable order; id = path relative to ``root``.

    A file whose name is not valid UTF-8 (it could be no document id) or that is a
    symlink loop is a SourceError: it costs that file, never the walk. Files that are
    not media, hidden files and folders, symlinked folders (not followed) and, without
    ``recursive``, sub-folders are passed to ``on_ignored``; a folder that cannot be
    listed is a SourceError."""
    root = Path(root)
    ignore = on_ignored or (lambda _item: None)
    if root.is_file():
        resolved = _resolved(root)
        if isinstance(resolved, str):
            yield SourceError(root.name, str(root), resolved)
        else:
            yield Asset(id=root.name, path=resolved, origin=str(root))
        return
    extensions = media_extensions()
    unlisted: list[OSError] = []
    if recursive:
        walker: Iterable[tuple[str, list[str], list[str]]] = os.walk(root, onerror=unlisted.append)
    else:
        walker = _one_level(root, unlisted)
    for dirpath, dirnames, filenames in walker:
        yield from _unlisted(unlisted)
        dirnames.sort()
        for name in list(dirnames):
            folder = Path(dirpath) / name
            if name.startswith("."):
                ignore(Ignored(_shown(folder), "a hidden folder (not walked)"))
            elif folder.is_symlink():
                ignore(Ignored(_shown(folder), "a symlink to a folder (not followed)"))
            elif not recursive:
                ignore(Ignored(_shown(folder), "a sub-folder (not walked: not recursive)"))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                ignore(Ignored(_shown(path), "a hidden file"))
                continue
            suffix = path.suffix.lower()
            if suffix not in extensions:
                ignore(Ignored(_shown(path), _not_media(suffix)))
                continue
            rel = path.relative_to(root).as_posix()
            if not is_utf8(rel):
                reason = "the file name is not valid UTF-8: rename it to index it"
                yield SourceError(None, _shown(path), reason)
                continue
            resolved = _resolved(path)
            if isinstance(resolved, str):
                yield SourceError(rel, str(path), resolved)
                continue
            yield Asset(id=rel, path=resolved, origin=str(path))
    yield from _unlisted(unlisted)


def _one_level(root: Path, unlisted: list[OSError]) -> Iterator[tuple[str, list[str], list[str]]]:
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        unlisted.append(exc)
        return
    dirs = [e.name for e in entries if _is_dir(e)]
    yield str(root), dirs, [e.name for e in entries if e.name not in dirs]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _unlisted(errors: list[OSError]) -> Iterator[SourceError]:
    """A folder the walk could not list: its files are unknown, so it is a failure."""
    while errors:
        exc = errors.pop(0)
        where = _shown(Path(exc.filename)) if exc.filename else "?"
        yield SourceError(None, where, f"cannot list this folder ({exc.strerror or exc})")


def _resolved(path: Path) -> Path | str:
    """``path`` with its symlinks followed, or why they cannot be (a loop: Python 3.11
    raises RuntimeError, later versions OSError ELOOP)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return "a symlink loop: its links lead back to themselves, so there is no file to read"


def _not_media(suffix: str) -> str:
    known = _KNOWN_UNREADABLE.get(suffix)
    if known:
        return f"{known}: this installation cannot read that format"
    if not suffix:
        return "no extension: not a recognised image or video file"
    return f"{suffix} is not an image or video format this installation reads"


def _shown(path: Path) -> str:
    """A path for a message, even when its name is not valid UTF-8."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def iter_paths(
    paths: Iterable[Path], *, recursive: bool = True, on_ignored: OnIgnored | None = None
) -> Iterator[Asset | SourceError]:
    """Folders are walked (ids relative to each folder); files keep their own name as id."""
    for path in paths:
        yield from iter_folder(Path(path), recursive=recursive, on_ignored=on_ignored)


def iter_manifest(
    manifest: Path,
    *,
    base_dir: Path | None = None,
    date_fields: Iterable[str] = (),
) -> Iterator[Asset | SourceError]:
    """JSONL (one object a line) or CSV (a header row); every field but ``path`` is the
    document's own metadata. Relative paths resolve against ``base_dir`` or the
    manifest's folder. A bad line becomes a SourceError naming its line number: bad
    JSON, no path, a duplicate id, a symlink loop, or a value of one of ``date_fields``
    (dotted index fields) that is not an ISO 8601 date."""
    manifest = Path(manifest)
    base = Path(base_dir) if base_dir else manifest.parent
    rows = _csv_rows(manifest) if manifest.suffix.lower() == ".csv" else _jsonl_rows(manifest)
    dates = tuple(dict.fromkeys(date_fields))
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
        bad_date = _bad_date(row, dates)
        if bad_date:
            yield SourceError(doc_id, origin, bad_date)
            continue
        resolved = _resolved(path)
        if isinstance(resolved, str):
            yield SourceError(doc_id, origin, f"{resolved}: {path}")
            continue
        yield Asset(id=doc_id, path=resolved, metadata=row, origin=origin, owns_metadata=True)


# The dates a manifest may hold: what the query language compares (ISO 8601, UTC unless
# an offset is given). "yesterday", "05/01/2024" or epoch numbers would be stored as they
# are and then never match a date filter.
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
)


def is_iso_date(value: Any) -> bool:
    """Whether ``value`` is a date string the query language can compare."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        return False
    try:
        datetime.fromisoformat(value.strip().replace(",", "."))
    except ValueError:
        return False
    return True


def _bad_date(row: dict[str, Any], fields: Sequence[str]) -> str | None:
    """Why a date field of ``row`` is not a date (None when they all are or are absent)."""
    for name in fields:
        for value in _values_at(row, name):
            values = value if isinstance(value, list) else [value]
            for one in values:
                if one is not None and not is_iso_date(one):
                    return (
                        f"{name!r} is a date field; {one!r} is not a date: write it in ISO "
                        "8601, e.g. 2024-05-01 or 2024-05-01T10:00:00Z"
                    )
    return None


def _values_at(row: dict[str, Any], dotted: str) -> list[Any]:
    """The value(s) ``dotted`` names in ``row``, nested (``{"a": {"b": ...}}``) or flat
    (``{"a.b": ...}``)."""
    found = []
    if dotted in row:
        found.append(row[dotted])
    head, dot, rest = dotted.partition(".")
    if dot and isinstance(row.get(head), dict):
        found.extend(_values_at(row[head], rest))
    return found


def iter_index(
    reader: DocReader,
    index: str,
    *,
    path_field: str,
    base_dir: Path | None = None,
    batch_size: int = 500,
    slice: Slice | None = None,
) -> Iterator[Asset | SourceError]:
    """Documents already in an index that point at their media through ``path_field``:
    the "extend an existing cluster" flow. Their metadata is not copied (it is
    already there); only ``visual`` gets written back. ``slice``: only that share of
    the index (``ingest --from-index --slice I/N``)."""
    docs = reader.iter_docs(index, fields=[path_field], batch_size=batch_size, slice=slice)
    for doc_id, source in docs:
        value = value_at(source, path_field)
        if not isinstance(value, str) or not value:
            yield SourceError(doc_id, f"{index}/{doc_id}", f"no {path_field!r} in document")
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        yield Asset(id=doc_id, path=path, origin=f"{index}/{doc_id}", in_index=True)


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


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
