"""Pictures of extreme shapes: a 60,000,000 x 1 line, 1-pixel and 3-pixel strips.

Each still gets its scene vector; the face step, which cannot look at a picture under
20 pixels across, is skipped for that item with a note in the report (text and
``--json``) instead of failing the whole item. Pictures over the pixel limit, or that
Pillow itself refuses as decompression bombs, are one clear per-item error, never a
crash. The PNGs are written here chunk by chunk (zlib), so a 60-megapixel line costs
a few megabytes on disk and no 180 MB array in the test.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from click.testing import CliRunner

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.cli import cli


def grey_png(path: Path, width: int, height: int, *, rows: int | None = None) -> None:
    """A grey 8-bit PNG of ``width`` x ``height`` with a gradient, streamed through zlib.
    ``rows``: write only that many rows of data (a header that claims more: a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    z = zlib.compressobj(9)
    body = []
    line = bytes(i % 251 for i in range(min(width, 1 << 20)))
    for _ in range(height if rows is None else rows):
        body.append(z.compress(b"\x00"))  # filter: none
        left = width
        while left:
            part = line[: min(left, len(line))]
            body.append(z.compress(part))
            left -= len(part)
    body.append(z.flush())
    with path.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        fh.write(chunk(b"IDAT", b"".join(body)))
        fh.write(chunk(b"IEND", b""))


SHAPES = {  # id -> (width, height)
    "line-60000000x1.png": (60_000_000, 1),
    "strip-1x5000.png": (1, 5000),
    "strip-3x200000.png": (3, 200_000),
}
REFUSED = {  # id -> (width, height, rows written): one clear error each
    "over-limit-1x100000000.png": (1, 100_000_000, 1),
    "bomb-100000x100000.png": (100_000, 100_000, 1),
}


def test_extreme_shapes_keep_their_scene_vector_and_skip_faces(
    tmp_path: Path, good_folder: Path, mobilenet, tally
) -> None:
    for name, (width, height) in SHAPES.items():
        grey_png(good_folder / name, width, height)
    for name, (width, height, rows) in REFUSED.items():
        grey_png(good_folder / name, width, height, rows=rows)
    store = tmp_path / "store"
    # The offline preset: MobileNetV2 scene vectors and dlib faces.
    args = ["--data-dir", str(store), "ingest", str(good_folder), "--pipeline", "offline"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 3, result.output  # the two refused files
    report = json.loads(result.stdout)
    problems: list[str] = []
    notes = {n["id"]: n["note"] for n in report["notes"]}
    failures = {f["id"]: f["reason"] for f in report["failures"]}
    with EmbeddedBackend(store) as backend:
        for name, (width, height) in SHAPES.items():
            visual = (backend.get("media", name, with_vectors=True) or {}).get("visual") or {}
            if len(visual.get("scene") or []) != mobilenet.dims:
                problems.append(f"{name}: no scene vector ({failures.get(name) or visual})")
            if (visual.get("width"), visual.get("height")) != (width, height):
                problems.append(f"{name}: size {visual.get('width')}x{visual.get('height')}")
            if visual.get("faces"):
                problems.append(f"{name}: faces found in a line")
            if "faces not looked for" not in notes.get(name, ""):
                problems.append(f"{name}: no note that faces were skipped: {notes}")
        for name in REFUSED:
            reason = failures.get(name, "")
            if "too large" not in reason or "megapixels" not in reason:
                problems.append(f"{name}: expected a clear size error, got {reason!r}")
            visual = (backend.get("media", name) or {}).get("visual") or {}
            if not visual.get("error"):
                problems.append(f"{name}: the error is not on its document")
        good = [n for n in report["failures"] if n["id"] not in REFUSED]
        if good:
            problems.append(f"other files failed: {good}")
        if set(notes) - set(SHAPES):
            problems.append(f"notes on ordinary pictures: {sorted(set(notes) - set(SHAPES))}")
    tally.record("extreme shapes and bombs", tried=len(SHAPES) + len(REFUSED), failed=len(problems))
    assert not problems, "\n".join(problems)
