"""A corpus of bad and awkward inputs, generated here, ingested in ONE batch with good files.

Each kind either indexes correctly (a scene vector of the model's dims, its
size recorded) or gets a clear per-item error naming the file; the good files
of the same batch are written whatever their neighbours do, and the report's
error list names every failure, nothing more.

Unreadable files: ``chmod 000`` does not stop root, and these tests often run as
root. Where it does not bite, a FIFO named ``.jpg`` stands in (opening one for
reading blocks forever if nothing writes to it, which a folder walk must survive).
"""

from __future__ import annotations

import io
import os
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from es_visual.backends.embedded import EmbeddedBackend
from es_visual.ingest.pipeline import PipelineConfig
from es_visual.ingest.sources import iter_folder
from es_visual.workflows import ingest

OK, ERROR = "indexes", "error"


def _png_bytes(im: Image.Image, **kw) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _photo(skimage_dir: Path, name: str = "chelsea.png") -> Image.Image:
    return Image.open(skimage_dir / name).convert("RGB")


def _audio_only_mp4(path: Path) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 8) * 0.3).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _huge_exif_jpeg(im: Image.Image) -> bytes:
    # An APP1 segment is at most 65533 bytes of payload: fill it with one UserComment.
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"x" * 64_000
    return _jpeg_bytes(im, exif=exif.tobytes())


def _permissions_bite(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.write_bytes(b"x")
    probe.chmod(0)
    try:
        probe.read_bytes()
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o644)
        probe.unlink()


def build_corpus(root: Path, skimage_dir: Path) -> tuple[dict[str, str], list[str]]:
    """Write the corpus under ``root``; returns (file id -> expected outcome, notes)."""
    photo = _photo(skimage_dir)
    jpeg = _jpeg_bytes(photo, quality=90)
    png = _png_bytes(photo)
    expected: dict[str, str] = {}
    notes: list[str] = []

    def put(name: str, outcome: str, data: bytes | Callable[[Path], None]) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(data):
            data(path)
        else:
            path.write_bytes(data)
        expected[name] = outcome

    put("zero-byte.jpg", ERROR, b"")
    put("truncated.jpg", ERROR, jpeg[: len(jpeg) // 2])
    put("truncated.png", ERROR, png[: len(png) // 2])
    put("jpeg-named.png", OK, jpeg)  # wrong extension, real picture: indexes
    put("text-named.jpg", ERROR, b"these are meeting notes, not a picture\n" * 20)
    # 30000 x 30000 bilevel: a few kilobytes on disk, 900 megapixels once decoded.
    put("bomb.png", ERROR, _png_bytes(Image.new("1", (30_000, 30_000))))
    put("cmyk.jpg", OK, _jpeg_bytes(photo.convert("CMYK")))
    gray16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype("<u2")
    put("gray16.png", OK, _png_bytes(Image.fromarray(gray16)))
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    put("palette-transparent.png", OK, _png_bytes(palette, transparency=0))
    put("animated.gif", OK, (skimage_dir / "no_time_for_that_tiny.gif").read_bytes())
    put("multipage.tif", OK, (skimage_dir / "multipage.tif").read_bytes())
    put(
        "corrupt.mp4", ERROR, b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(4096)
    )
    put("audio-only.mp4", ERROR, _audio_only_mp4)
    put("huge-exif.jpg", OK, _huge_exif_jpeg(photo))
    # Odd unicode: emoji, a decomposed accent (NFD), a right-to-left override, CJK.
    odd = unicodedata.normalize("NFD", "dossier é/чай 🐈 \u202egpj.txt\u202c 写真.png")
    put(odd, OK, png)

    def fifo(path: Path) -> None:
        os.mkfifo(path)

    put("fifo-unreadable.jpg", ERROR, fifo)
    if _permissions_bite(root):
        put("chmod-000.jpg", ERROR, lambda p: (p.write_bytes(jpeg), p.chmod(0)))
    else:
        notes.append(
            "running as root: chmod 000 does not stop root reading, so the unreadable case "
            "is a FIFO named .jpg (a read would block forever)"
        )
    return expected, notes


def test_bad_inputs_get_clear_errors_and_the_rest_is_written(
    tmp_path: Path, skimage_dir: Path, good_folder: Path, mobilenet, tally
) -> None:
    root = good_folder
    expected, notes = build_corpus(root, skimage_dir)
    for name in os.listdir(root):
        if name.endswith((".png", ".jpg")) and name not in expected and (root / name).is_file():
            expected[name] = OK  # the good samples
    backend = EmbeddedBackend(tmp_path / "store")
    config = PipelineConfig(name="test", model="mobilenet-v2")
    try:
        report = ingest(
            backend, "media", iter_folder(root), embedder=mobilenet, pipeline=config, batch_size=64
        )
        failures = {f.id: f for f in report.failures}
        problems: list[str] = []
        for doc_id, outcome in sorted(expected.items()):
            doc = backend.get("media", doc_id, with_vectors=True)
            visual = (doc or {}).get("visual") or {}
            if outcome == OK:
                if doc_id in failures:
                    problems.append(f"{doc_id}: expected to index, failed: {failures[doc_id]}")
                elif len(visual.get("scene") or []) != mobilenet.dims or not visual.get("width"):
                    problems.append(f"{doc_id}: no scene vector or size: {visual}")
                continue
            failure = failures.get(doc_id)
            if failure is None:
                problems.append(f"{doc_id}: expected a per-item error, got none (doc: {visual})")
                continue
            if not failure.reason or len(failure.reason) < 10 or doc_id not in failure.origin:
                problems.append(f"{doc_id}: unclear error {failure}")
            if failure.stage != "source" and not visual.get("error"):
                problems.append(f"{doc_id}: the failure is not recorded on its document")
            if visual.get("scene"):
                problems.append(f"{doc_id}: a failed file got a vector")
        unexpected = set(failures) - {i for i, o in expected.items() if o == ERROR}
        if unexpected:
            problems.append(f"failures for files that should index: {sorted(unexpected)}")
        n_ok = sum(o == OK for o in expected.values())
        if report.written != n_ok:
            problems.append(f"written {report.written}, expected {n_ok}")
        tally.record("bad inputs (kinds x outcome)", tried=len(expected), failed=len(problems))
        for note in notes:
            tally.record("bad inputs (kinds x outcome)", tried=0, note=note)
        reasons = "\n".join(f"  {f.id}: [{f.stage}] {f.reason}" for f in report.failures)
        assert not problems, "\n".join(problems) + "\nreported:\n" + reasons
    finally:
        backend.close()
        shutil.rmtree(root, ignore_errors=True)


def test_a_file_name_that_is_not_utf8_costs_only_itself(
    tmp_path: Path, good_folder: Path, mobilenet, tally
) -> None:
    """Linux file names are bytes; one that is not UTF-8 cannot be a JSON id."""
    raw = os.fsencode(good_folder) + b"/bad-\xff\xfe-name.png"
    shutil.copyfile(good_folder / "coffee.png", raw.decode(errors="surrogateescape"))
    backend = EmbeddedBackend(tmp_path / "store")
    try:
        config = PipelineConfig(name="test", model="mobilenet-v2")
        report = ingest(
            backend, "media", iter_folder(good_folder), embedder=mobilenet, pipeline=config
        )
        named = [f for f in report.failures if "bad-" in f.origin]
        ok = report.written == 5 and len(named) == 1 and "UTF-8" in named[0].reason
        tally.record("bad inputs (kinds x outcome)", tried=1, failed=0 if ok else 1)
        assert report.written == 5, report.failures
        assert len(named) == 1 and "UTF-8" in named[0].reason, report.failures
    finally:
        backend.close()
